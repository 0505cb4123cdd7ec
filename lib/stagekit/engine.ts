/**
 * Starts the tensor engine for a stage from its `backend` param and turns what is in use into
 * metrics (backend, threads, versions, the GPU adapter), so every stage records where its numbers
 * came from.
 *
 * @module
 */
import { adapterMetrics, backendNames, type EngineInfo, initEngine } from "../engine/mod.ts";
import type { MetricValue } from "../run/types.ts";
import type { Params } from "./params.ts";

/**
 * What is in use as flat metrics: backend, threads, `version.*`, `adapter` and, on webgpu,
 * `adapter.vendor`, `adapter.fallback`… The engine's warning (a software GPU adapter, an
 * installed GPU left unused) becomes `engineWarning` and a line to `log`.
 */
export function engineMetrics(
  engine: EngineInfo,
  log: (line: string) => void,
): Record<string, MetricValue> {
  const metrics: Record<string, MetricValue> = {
    backend: engine.backend,
    threads: engine.threads,
  };
  for (const [name, version] of Object.entries(engine.versions)) {
    metrics[`version.${name}`] = version;
  }
  if (engine.adapter) metrics.adapter = engine.adapter;
  if (engine.gpu) Object.assign(metrics, adapterMetrics(engine.gpu));
  if (engine.warning) {
    metrics.engineWarning = engine.warning;
    log(`warning: ${engine.warning}`);
  }
  return metrics;
}

/**
 * Starts the engine named by `params.backend` (default auto) and returns it with its
 * {@link engineMetrics}; the warning goes to `log` (default: stderr, which the local executor
 * appends to the stage's log). Throws the engine's `BackendError` when the backend cannot start.
 */
export async function startEngine(
  params: Params,
  log: (line: string) => void = console.error,
): Promise<{ engine: EngineInfo; metrics: Record<string, MetricValue> }> {
  const backend = params.choice("backend", backendNames, "auto");
  const engine = await initEngine({ backend });
  return { engine, metrics: engineMetrics(engine, log) };
}
