import { dirname, join, resolve } from "node:path";
import {
  commitOutput,
  type LockEntry,
  type LockFile,
  outputPath,
  readLock,
  StatCache,
  writeLock,
} from "../cache/mod.ts";
import { withUpstream } from "../dag/graph.ts";
import { UsageError } from "../dag/errors.ts";
import type { Pipeline, StageSpec } from "../dag/types.ts";
import type { Executor, StageHandle } from "./executor.ts";
import type { Reporter } from "./progress.ts";
import { sandboxCommand, sandboxEnv } from "./sandbox.ts";
import {
  Planner,
  RESTORABLE_REASON,
  runCachePath,
  type StageState,
  type StageStatus,
} from "./staleness.ts";
import type { WorkerJob } from "./stage_worker.ts";
import type { MetricValue } from "./types.ts";

/** Options of {@linkcode runPipeline}. */
export interface RunOptions {
  executor: Executor;
  reporter: Reporter;
  /** Stage or matrix-stage names to bring up to date (with their upstream); default every stage. */
  targets?: string[];
  /** Rerun the targets even when fresh (upstream stages still skip when fresh). */
  force?: boolean;
  /** Stages running at once (default: the executor's default). */
  jobs?: number;
  /** Only report what would run and why. */
  dryRun?: boolean;
  /** Abort to cancel running stages (Ctrl-C). */
  signal?: AbortSignal;
  /** Lock file to read and update (default: the pipeline's). */
  lockPath?: string;
}

/** What a run did. */
export interface RunSummary {
  ran: string[];
  skipped: string[];
  /** Stale stages whose earlier result for the same inputs came back from the run cache. */
  restored: string[];
  failed: string[];
  /** Stages that would run (dry run only). */
  wouldRun: string[];
  /** The run was cancelled by the signal. */
  cancelled: boolean;
  /** The lock file contents after the run. */
  lock: LockFile;
}

/** Resolve user-given stage names (a matrix stage name means all its cells). Throws UsageError. */
export function resolveTargets(pipeline: Pipeline, names: string[]): string[] {
  const targets: string[] = [];
  for (const name of names) {
    if (pipeline.stages.has(name)) targets.push(name);
    else if (pipeline.groups.has(name)) targets.push(...pipeline.groups.get(name)!);
    else {
      throw new UsageError(
        `unknown stage "${name}" (stages: ${[...pipeline.groups.keys()].join(", ")})`,
      );
    }
  }
  return targets;
}

/** Open the stat cache of a pipeline's cache folder. */
export function openStatCache(cacheDir: string): Promise<StatCache> {
  return StatCache.load(join(cacheDir, ".statcache.json"));
}

/**
 * Status of every stage (fresh or stale, with reasons) against the pipeline's lock file; reads
 * only what changed since the last run (stat cache). Never runs anything.
 */
export async function pipelineStatus(
  pipeline: Pipeline,
  targets?: string[],
): Promise<StageStatus[]> {
  const lock = await readLock(pipeline.lockPath);
  const stats = await openStatCache(pipeline.cacheDir);
  const planner = new Planner(pipeline, lock, stats);
  const names = targets
    ? withUpstream(pipeline.stages, pipeline.order, resolveTargets(pipeline, targets))
    : pipeline.order;
  const status = await planner.status(names);
  await saveQuietly(stats);
  return status;
}

/**
 * Bring stages up to date: skip fresh ones, run stale ones (upstream first, up to `jobs` at a
 * time) through the executor in their sandbox, store outputs content-addressed and record them in
 * the lock file after each success. After a failure no new stages start; running ones finish.
 * The caller holds the run lock.
 */
export async function runPipeline(pipeline: Pipeline, options: RunOptions): Promise<RunSummary> {
  const lockPath = options.lockPath ?? pipeline.lockPath;
  const lock = await readLock(lockPath);
  const stats = await openStatCache(pipeline.cacheDir);
  const planner = new Planner(pipeline, lock, stats);
  const targets = options.targets ? resolveTargets(pipeline, options.targets) : pipeline.order;
  const selected = withUpstream(pipeline.stages, pipeline.order, targets);
  const forced = new Set(options.force ? targets : []);
  const summary: RunSummary = {
    ran: [],
    skipped: [],
    restored: [],
    failed: [],
    wouldRun: [],
    cancelled: false,
    lock,
  };

  if (options.dryRun) {
    for (const status of await planner.status(selected)) {
      const forcedFresh = forced.has(status.stage) && (status.fresh || restorable(status));
      const reasons = forcedFresh ? ["forced"] : status.reasons;
      if (!forcedFresh && restorable(status)) {
        summary.restored.push(status.stage);
        options.reporter.event({
          event: "skip",
          stage: status.stage,
          reason: `would restore from the run cache (${
            reasons.filter((r) => r !== RESTORABLE_REASON).join("; ")
          })`,
        });
      } else if (reasons.length === 0) {
        summary.skipped.push(status.stage);
        options.reporter.event({ event: "skip", stage: status.stage, reason: "fresh" });
      } else {
        summary.wouldRun.push(status.stage);
        options.reporter.event({
          event: "would-run",
          stage: status.stage,
          reason: reasons.join("; "),
        });
      }
    }
    await saveQuietly(stats);
    return summary;
  }

  await cleanTemporary(pipeline.cacheDir);
  await Deno.mkdir(join(pipeline.cacheDir, "logs"), { recursive: true });
  const jobs = Math.max(1, options.jobs ?? options.executor.defaultParallelism);
  const outputs = new Map<string, string>();
  const done = new Set<string>();
  const pending = [...selected];
  const running = new Map<string, Promise<void>>();
  const handles = new Map<string, StageHandle>();
  let writing = Promise.resolve();
  const saveLock = () => {
    writing = writing.then(() => writeLock(lockPath, lock, pipeline.order));
    return writing;
  };
  const onAbort = () => {
    summary.cancelled = true;
    for (const handle of handles.values()) handle.cancel();
  };
  options.signal?.addEventListener("abort", onAbort);

  const process = async (spec: StageSpec) => {
    const upstream: Record<string, string> = {};
    for (const need of spec.needs) upstream[need] = outputs.get(need)!;
    let state: StageState;
    try {
      state = await planner.state(spec, upstream);
    } catch (error) {
      summary.failed.push(spec.name);
      options.reporter.event({ event: "fail", stage: spec.name, error: (error as Error).message });
      return;
    }
    if (state.missingDeps.length > 0) {
      const where = spec.depsWhere[0];
      summary.failed.push(spec.name);
      options.reporter.event({
        event: "fail",
        stage: spec.name,
        error: `missing dependency ${
          state.missingDeps.join(", ")
        } (declared at ${where.file}:${where.line}:${where.column})`,
      });
      return;
    }
    if (!forced.has(spec.name) && planner.isFresh(spec, state)) {
      outputs.set(spec.name, lock.stages[spec.name].output);
      done.add(spec.name);
      summary.skipped.push(spec.name);
      options.reporter.event({ event: "skip", stage: spec.name, reason: "fresh" });
      return;
    }
    if (!forced.has(spec.name)) {
      const cached = planner.cachedRun(state);
      if (cached) {
        outputs.set(spec.name, cached.output);
        lock.stages[spec.name] = cached;
        await saveLock();
        done.add(spec.name);
        summary.restored.push(spec.name);
        options.reporter.event({
          event: "skip",
          stage: spec.name,
          reason: `restored from the run cache (${planner.reasons(spec, state).join("; ")})`,
        });
        return;
      }
    }
    const reasons = forced.has(spec.name) ? ["forced"] : planner.reasons(spec, state);
    const result = await executeStage(pipeline, spec, state, outputs, options, handles, reasons);
    if (result.ok) {
      outputs.set(spec.name, result.entry.output);
      lock.stages[spec.name] = result.entry;
      await saveLock();
      await saveRunCache(pipeline.cacheDir, result.entry);
      done.add(spec.name);
      summary.ran.push(spec.name);
    } else if (!summary.cancelled) {
      summary.failed.push(spec.name);
    }
  };

  try {
    while (true) {
      const stopping = summary.failed.length > 0 || summary.cancelled;
      while (!stopping && running.size < jobs) {
        const index = pending.findIndex((name) =>
          pipeline.stages.get(name)!.needs.every((need) => done.has(need))
        );
        if (index < 0) break;
        const [name] = pending.splice(index, 1);
        const task = process(pipeline.stages.get(name)!).finally(() => running.delete(name));
        running.set(name, task);
        if (summary.failed.length > 0 || summary.cancelled) break;
      }
      if (running.size === 0) break;
      await Promise.race(running.values());
    }
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await writing;
    await saveQuietly(stats);
  }
  return summary;
}

type StageOutcome = { ok: true; entry: LockEntry } | { ok: false };

async function executeStage(
  pipeline: Pipeline,
  spec: StageSpec,
  state: StageState,
  outputs: Map<string, string>,
  options: RunOptions,
  handles: Map<string, StageHandle>,
  reasons: string[],
): Promise<StageOutcome> {
  const { cacheDir, root } = pipeline;
  // No commas: sandbox permission flags are comma-separated lists of paths.
  const safeName = spec.name.replace(/[^A-Za-z0-9_.=-]/g, "_");
  const workDir = await Deno.makeTempDir({
    dir: await ensureDir(join(cacheDir, "tmp")),
    prefix: `${safeName}-`,
  });
  const outDir = join(workDir, "out");
  await Deno.mkdir(outDir);
  // Keyed by the stage key: a killed attempt's checkpoints serve only a rerun of the same work.
  const checkpointDir = await ensureDir(
    join(cacheDir, "checkpoints", `${safeName}-${state.key.slice(0, 16)}`),
  );
  const inputs: Record<string, string> = {};
  for (const need of spec.needs) inputs[need] = outputPath(cacheDir, outputs.get(need)!);
  Object.assign(inputs, state.depInputs);
  const job: WorkerJob = {
    stage: spec.name,
    module: resolve(root, spec.uses),
    params: spec.params,
    inputs,
    outDir,
    checkpointDir,
  };
  const jobFile = join(workDir, "job.json");
  await Deno.writeTextFile(jobFile, JSON.stringify(job));
  const logPath = join(cacheDir, "logs", `${safeName}.log`);
  await Deno.writeTextFile(logPath, "");
  const command = sandboxCommand({
    root,
    jobFile,
    outDir,
    checkpointDir,
    readPaths: [
      ...Object.keys(state.code.files).map((file) => resolve(root, file)),
      ...Object.values(inputs),
      ...state.globBases,
    ],
  });
  const started = performance.now();
  options.reporter.event({ event: "start", stage: spec.name, reason: reasons.join("; ") });
  let error: string | undefined;
  let metrics: Record<string, MetricValue> | undefined;
  const handle = options.executor.start(
    {
      stage: spec.name,
      command,
      cwd: root,
      env: sandboxEnv(),
      workDir,
      outDir,
      logPath,
      resources: spec.resources,
    },
    (event) => {
      if (event.type === "progress") {
        options.reporter.event({
          event: "progress",
          stage: spec.name,
          done: event.done,
          total: event.total,
          message: event.message,
        });
      } else if (event.type === "error") error = event.message.split("\n")[0];
      else if (event.type === "result") metrics = event.metrics;
    },
  );
  handles.set(spec.name, handle);
  try {
    const exit = await handle.finished;
    const duration = (performance.now() - started) / 1000;
    if (options.signal?.aborted) {
      options.reporter.event({ event: "cancel", stage: spec.name, duration_s: duration });
      return { ok: false };
    }
    if (exit.code === 0 && !error) {
      try {
        metrics ??= JSON.parse(await Deno.readTextFile(join(outDir, "metrics.json"))).metrics;
        if (!metrics) throw new Error("the stage reported no metrics");
        const missing = [];
        for (const out of spec.outs) {
          try {
            await Deno.stat(join(outDir, out));
          } catch {
            missing.push(out);
          }
        }
        if (missing.length > 0) throw new Error(`declared outs not written: ${missing.join(", ")}`);
        const output = await commitOutput(cacheDir, outDir);
        await Deno.remove(checkpointDir, { recursive: true }).catch(() => {});
        const entry: LockEntry = {
          key: state.key,
          uses: spec.uses,
          code: { files: state.code.files, packages: state.code.packages },
          params: spec.params,
          deps: state.deps,
          upstream: state.upstream,
          output,
          duration_s: Number(duration.toFixed(3)),
          metrics: metrics!,
          finished_at: new Date().toISOString(),
        };
        options.reporter.event({
          event: "finish",
          stage: spec.name,
          duration_s: entry.duration_s,
          metrics,
        });
        return { ok: true, entry };
      } catch (caught) {
        error = (caught as Error).message;
      }
    }
    error ??= exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
    options.reporter.event({
      event: "fail",
      stage: spec.name,
      error,
      duration_s: Number(duration.toFixed(3)),
      log: logPath,
    });
    return { ok: false };
  } finally {
    handles.delete(spec.name);
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
}

async function ensureDir(path: string): Promise<string> {
  await Deno.mkdir(path, { recursive: true });
  return path;
}

/** Remove attempt folders left by killed runs (the caller holds the run lock). */
async function cleanTemporary(cacheDir: string): Promise<void> {
  await Deno.remove(join(cacheDir, "tmp"), { recursive: true }).catch(() => {});
}

function restorable(status: StageStatus): boolean {
  return status.reasons.includes(RESTORABLE_REASON);
}

/** Remember a finished run by its key so the same inputs never need computing again. */
async function saveRunCache(cacheDir: string, entry: LockEntry): Promise<void> {
  const path = runCachePath(cacheDir, entry.key);
  await Deno.mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(temp, JSON.stringify(entry));
  await Deno.rename(temp, path);
}

async function saveQuietly(stats: StatCache): Promise<void> {
  try {
    await stats.save();
  } catch { /* a read-only cache still works, just slower next time */ }
}
