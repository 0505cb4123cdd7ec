/**
 * Entry point of a sandboxed stage process: `deno run <sandbox flags> stage_worker.ts job.json`.
 * Imports the stage module, calls its `run(ctx)`, writes `metrics.json` (`{ "metrics": {…} }`,
 * unless the stage wrote its own) into the output folder and reports progress, log lines, the result or the error as event lines on stdout.
 *
 * @module
 */
import { ConfigError, isUserError, type SourceLocation } from "../config/errors.ts";
import { expandHome } from "../config/paths.ts";
import { isHubRef } from "../hub/ref.ts";
import { encodeEvent, type WorkerEvent } from "./protocol.ts";
import type { MetricValue, StageContext, StageResult } from "./types.ts";

/** What the engine writes to `job.json` for the worker. */
export interface WorkerJob {
  stage: string;
  /** Absolute path of the stage module. */
  module: string;
  params: Record<string, unknown>;
  inputs: Record<string, string>;
  /** Upstream output folders by role (see `StageContext.needs`). */
  needs?: Record<string, Record<string, string>>;
  outDir: string;
  /** Folder for resumable checkpoints (kept across killed attempts of the same stage key). */
  checkpointDir?: string;
  /** Dotted key of the stage in the pipeline file (`stages.train-lora`). */
  stageKey?: string;
  /** Where the stage's keys were written (`StageSpec.keys`), to place its ConfigErrors. */
  keys?: Record<string, SourceLocation>;
  /** The home folder `~/…` paths expand to (the stage itself may not read the environment). */
  home?: string;
  /** Hub models the stage declared: `hf:org/name[@revision]` → snapshot folder of its commit. */
  hubPaths?: Record<string, string>;
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

/** `ctx.path`: `~/…` expanded, a declared Hub model as its snapshot folder, else as written. */
function stagePath(written: string, job: WorkerJob): string {
  if (!isHubRef(written)) return expandHome(written, job.home);
  const snapshot = job.hubPaths?.[written];
  if (snapshot === undefined) {
    throw new ConfigError("deps", `${written}: a Hub model a stage reads must be in its deps`);
  }
  return snapshot;
}

/**
 * A stage's ConfigError names a stage-relative key (`params.training.lr`, `needs`): report it
 * under the real key and where it was written (the nearest located ancestor key).
 */
export function placeConfigError(error: ConfigError, job: WorkerJob): ConfigError {
  const keys = job.keys ?? {};
  for (let key = error.key; key !== ""; key = parentKey(key)) {
    const found = keys[key];
    if (found) {
      const { key: written, ...location } = found;
      return error.relocated(written + error.key.slice(key.length), location);
    }
  }
  return error.relocated(job.stageKey ? `${job.stageKey}.${error.key}` : error.key);
}

/** `params.a.b` → `params.a`, `params.s[0]` → `params.s`, `needs` → "". */
function parentKey(key: string): string {
  const cut = Math.max(key.lastIndexOf("."), key.lastIndexOf("["));
  return cut > 0 ? key.slice(0, cut) : "";
}

/**
 * Turn an error into the event the engine shows: a denied access names its path; a user's
 * mistake is its one-line message (its stack goes to the log, on stderr); a bug keeps its stack.
 */
function describeError(error: unknown, job: WorkerJob): WorkerEvent {
  const message = error instanceof Error ? error.message : String(error);
  const denied = (error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied) && PERMISSION_MESSAGE.exec(message);
  if (denied) {
    const [, kind, path] = denied;
    const detail = kind === "write"
      ? `undeclared write to ${path} (a stage may only write inside its output folder ${job.outDir})`
      : kind === "read"
      ? `undeclared read of ${path} (declare it in deps or needs)`
      : `${kind} access to ${path} is not allowed in a stage`;
    return { type: "error", message: detail, path, user: true };
  }
  if (isUserError(error)) {
    const placed = error instanceof ConfigError ? placeConfigError(error, job) : error;
    console.error(placed.stack ?? placed.message);
    return { type: "error", message: placed.message, user: true };
  }
  return { type: "error", message: error instanceof Error ? error.stack ?? message : message };
}

async function main(jobFile: string): Promise<number> {
  const job = JSON.parse(await Deno.readTextFile(jobFile)) as WorkerJob;
  let lastProgress = -Infinity;
  const ctx: StageContext = {
    stage: job.stage,
    params: job.params,
    inputs: job.inputs,
    needs: job.needs ?? {},
    outDir: job.outDir,
    checkpointDir: job.checkpointDir,
    path: (written) => stagePath(written, job),
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
    emit(describeError(error, job));
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
