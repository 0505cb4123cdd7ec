/**
 * Starts the tensor engine for a stage from its `backend` param and turns what is in use into
 * metrics (backend, threads, versions), so every stage records where its numbers came from.
 *
 * @module
 */
import { backendNames, type EngineInfo, initEngine } from "../engine/mod.ts";
import type { MetricValue } from "../run/types.ts";
import type { Params } from "./params.ts";

/** Starts the engine named by `params.backend` (default auto) and returns it with its metrics. */
export async function startEngine(
  params: Params,
): Promise<{ engine: EngineInfo; metrics: Record<string, MetricValue> }> {
  const backend = params.choice("backend", backendNames, "auto");
  const engine = await initEngine({ backend });
  const metrics: Record<string, MetricValue> = {
    backend: engine.backend,
    threads: engine.threads,
  };
  for (const [name, version] of Object.entries(engine.versions)) {
    metrics[`version.${name}`] = version;
  }
  if (engine.adapter) metrics.adapter = engine.adapter;
  return { engine, metrics };
}
