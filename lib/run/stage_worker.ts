/**
 * Entry point of a sandboxed stage process: `deno run <sandbox flags> stage_worker.ts job.json`.
 * Imports the stage module, calls its `run(ctx)`, writes `metrics.json` (`{ "metrics": {…} }`,
 * unless the stage wrote its own) into the output folder and reports progress, log lines, the result or the error as event lines on stdout.
 *
 * @module
 */
import { encodeEvent, type WorkerEvent } from "./protocol.ts";
import type { MetricValue, StageContext, StageResult } from "./types.ts";

/** What the engine writes to `job.json` for the worker. */
export interface WorkerJob {
  stage: string;
  /** Absolute path of the stage module. */
  module: string;
  params: Record<string, unknown>;
  inputs: Record<string, string>;
  outDir: string;
  /** Folder for resumable checkpoints (kept across killed attempts of the same stage key). */
  checkpointDir?: string;
}

const PROGRESS_INTERVAL_MS = 100;
const PERMISSION_MESSAGE = /Requires (\w+) access to "?([^",]+)"?/;

function emit(event: WorkerEvent): void {
  console.log(encodeEvent(event));
}

function checkMetrics(result: unknown): Record<string, MetricValue> {
  const metrics = (result as StageResult | undefined)?.metrics;
  if (metrics === null || typeof metrics !== "object" || Array.isArray(metrics)) {
    throw new TypeError("run() must return { metrics: { name: value, … } }");
  }
  for (const [name, value] of Object.entries(metrics)) {
    const ok = typeof value === "number" || typeof value === "string" ||
      typeof value === "boolean" ||
      (Array.isArray(value) && value.every((item) => typeof item === "number"));
    if (!ok) throw new TypeError(`metric "${name}" must be a number, string, boolean or number[]`);
  }
  return metrics;
}

/** Turn an error into the message the engine shows, naming the path of a denied access. */
function describeError(error: unknown, outDir: string): WorkerEvent {
  const message = error instanceof Error ? error.message : String(error);
  const denied = (error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied) && PERMISSION_MESSAGE.exec(message);
  if (denied) {
    const [, kind, path] = denied;
    const detail = kind === "write"
      ? `undeclared write to ${path} (a stage may only write inside its output folder ${outDir})`
      : kind === "read"
      ? `undeclared read of ${path} (declare it in deps or needs)`
      : `${kind} access to ${path} is not allowed in a stage`;
    return { type: "error", message: detail, path };
  }
  const stack = error instanceof Error && !(error instanceof Deno.errors.NotFound)
    ? error.stack ?? message
    : message;
  return { type: "error", message: stack };
}

async function main(jobFile: string): Promise<number> {
  const job = JSON.parse(await Deno.readTextFile(jobFile)) as WorkerJob;
  let lastProgress = -Infinity;
  const ctx: StageContext = {
    stage: job.stage,
    params: job.params,
    inputs: job.inputs,
    outDir: job.outDir,
    checkpointDir: job.checkpointDir,
    progress(done, total, message) {
      const now = performance.now();
      if (done < total && now - lastProgress < PROGRESS_INTERVAL_MS) return;
      lastProgress = now;
      emit({ type: "progress", done, total, message });
    },
    log(message) {
      emit({ type: "log", message });
    },
  };
  try {
    const module = await import(new URL(`file://${job.module}`).href);
    if (typeof module.run !== "function") {
      throw new TypeError(`${job.module} does not export a run(ctx) function`);
    }
    const metrics = checkMetrics(await module.run(ctx));
    // metrics.json holds the StageResult ({ "metrics": {…} }) unless the stage wrote its own.
    const metricsPath = `${job.outDir}/metrics.json`;
    try {
      await Deno.writeTextFile(metricsPath, JSON.stringify({ metrics }, null, 2) + "\n", {
        createNew: true,
      });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    emit({ type: "result", metrics });
    return 0;
  } catch (error) {
    emit(describeError(error, job.outDir));
    return 1;
  }
}

/** How often the worker checks that the engine that started it is still alive. */
const PARENT_CHECK_MS = 500;

if (import.meta.main) {
  // When the engine dies (kill -9), nothing will collect this stage's output: stop too.
  const parent = Deno.ppid;
  const watchdog = setInterval(() => {
    if (Deno.ppid !== parent) Deno.exit(137);
  }, PARENT_CHECK_MS);
  Deno.unrefTimer(watchdog);
  Deno.exit(await main(Deno.args[0]));
}
