import { join, resolve } from "node:path";
import {
  canonicalJson,
  commitOutput,
  type LockEntry,
  type LockFile,
  outputPath,
  readLock,
  sha256Hex,
  StatCache,
  writeLock,
} from "../cache/mod.ts";
import { withUpstream } from "../dag/graph.ts";
import { UsageError } from "../config/errors.ts";
import { homeFolder } from "../config/paths.ts";
import type { Pipeline, StageSpec } from "../dag/types.ts";
import type { Executor, QueuedStageHandle, StageHandle, StageJob } from "./executor.ts";
import type { Reporter } from "./progress.ts";
import { sandboxCommand, sandboxEnv } from "./sandbox.ts";
import {
  missingDependencyMessage,
  Planner,
  RESTORABLE_REASON,
  type StageState,
  type StageStatus,
} from "./staleness.ts";
import type { WorkerJob } from "./stage_worker.ts";
import { RunBook, type RunSummary } from "./run_book.ts";
import { hubReference, hubSnapshot } from "./hub_deps.ts";
import type { WorkerEvent } from "./protocol.ts";
import type { MetricValue } from "./types.ts";

export type { RunSummary };

/** Lines of a failed stage's log shown with its failure. */
export const FAILURE_TAIL_LINES = 20;

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
  /** Show a failed stage's log tail even when its error is a user's mistake (one line). */
  verbose?: boolean;
  /**
   * After a failure, go on with every stage that does not depend on it (make's `-k`); stages
   * below the failure are reported as not run. Without it no new stage starts after a failure.
   */
  keepGoing?: boolean;
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
 * the lock file after each success. After a failure no new stages start (unless `keepGoing`:
 * then only the failure's dependents are skipped); running ones finish.
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
    notRun: [],
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
  const book = new RunBook(summary, options.reporter, pipeline.cacheDir, saveLock);
  planner.startOutputChecks(selected);

  if (options.executor.submit) {
    try {
      await runQueued({
        pipeline,
        options,
        planner,
        lock,
        selected,
        forced,
        summary,
        handles,
        book,
      });
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      await writing;
      await saveQuietly(stats);
    }
    return summary;
  }

  const finished = (name: string, output: string) => {
    outputs.set(name, output);
    done.add(name);
  };
  const runOne = async (spec: StageSpec) => {
    const upstream: Record<string, string> = {};
    for (const need of spec.needs) upstream[need] = outputs.get(need)!;
    const decision = await planner.decide(spec, upstream, forced.has(spec.name));
    if (decision.action === "fail") return book.failed(spec.name, decision.error);
    if (decision.action === "fresh") {
      finished(spec.name, decision.entry.output);
      return book.fresh(spec.name);
    }
    if (decision.action === "restore") {
      finished(spec.name, decision.entry.output);
      return await book.restored(spec.name, decision.entry, decision.reason);
    }
    let result: StageOutcome;
    try {
      result = await executeStage(
        pipeline,
        spec,
        decision.state,
        outputs,
        options,
        handles,
        decision.reasons,
        planner.stats,
      );
    } catch (error) {
      // It could not be started (e.g. its Hub model cannot be downloaded).
      return book.failed(spec.name, (error as Error).message);
    }
    if (result.ok) {
      finished(spec.name, result.entry.output);
      await book.ran(spec.name, result.entry);
    } else if (!summary.cancelled) book.failed(spec.name);
  };

  const stopped = () => summary.cancelled || (!options.keepGoing && summary.failed.length > 0);
  try {
    while (true) {
      while (!stopped() && running.size < jobs) {
        if (options.keepGoing) {
          // Stages below a failure will never run: report them now (pending is upstream first).
          for (const name of [...pending]) {
            const reason = book.blockedReason(pipeline.stages.get(name)!);
            if (reason === undefined) continue;
            pending.splice(pending.indexOf(name), 1);
            book.notRun(name, reason);
          }
        }
        const index = pending.findIndex((name) =>
          pipeline.stages.get(name)!.needs.every((need) => done.has(need))
        );
        if (index < 0) break;
        const [name] = pending.splice(index, 1);
        const task = runOne(pipeline.stages.get(name)!).finally(() => running.delete(name));
        running.set(name, task);
      }
      if (running.size === 0) break;
      await Promise.race(running.values());
    }
    if (!summary.cancelled && summary.failed.length > 0) {
      for (const name of pending) {
        book.notRun(
          name,
          book.blockedReason(pipeline.stages.get(name)!, done) ?? "stopped after a failure",
        );
      }
    }
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await writing;
    await saveQuietly(stats);
  }
  return summary;
}

/** What {@linkcode runQueued} shares with {@linkcode runPipeline}. */
interface QueuedRun {
  pipeline: Pipeline;
  options: RunOptions;
  planner: Planner;
  lock: LockFile;
  selected: string[];
  forced: Set<string>;
  summary: RunSummary;
  handles: Map<string, StageHandle>;
  book: RunBook;
}

/** How a stage of a queued run ends: its output hash, or undefined when it did not succeed. */
type QueuedResult = Promise<string | undefined>;

/**
 * The run for an executor that can queue stages ahead ({@linkcode Executor.submit}, SLURM): one
 * pass over the stages in order hands every stale one to the executor at once, a stage with an
 * upstream still to run queued after that upstream (SLURM: `afterok`), reading its input from
 * the upstream's shared `finishedDir`. Such a stage's key is computed, and the stage recorded in
 * the lock, when its job has finished and its upstream outputs are stored. The executor caps the
 * stages in flight. A stage whose upstream fails ends without running and is reported as not run;
 * independent stages already queued go on.
 *
 * The executor identifies work by a key (`StageJob.key`) over the cache folder and the stage's key
 * with upstream stages named by their own such key instead of their output hash, so a rerun after
 * a killed coordinator recognises the jobs it queued, whether their upstream has finished or not.
 */
async function runQueued(run: QueuedRun): Promise<void> {
  const { pipeline, options, planner, lock, forced, summary, handles, book } = run;
  const executor = options.executor;
  const submit = executor.submit!.bind(executor);
  /** Each stage's stable work key: its key with upstream stages named by their work keys. */
  const recipes = new Map<string, string>();
  const queued = new Map<string, QueuedStageHandle>();
  const results = new Map<string, QueuedResult>();
  const settling: Promise<void>[] = [];

  for (const name of run.selected) {
    if (summary.cancelled) break;
    const spec = pipeline.stages.get(name)!;
    const blocked = book.blockedReason(spec);
    if (blocked !== undefined) {
      book.notRun(name, blocked);
      continue;
    }
    let recipeState: StageState;
    try {
      const recipeUpstream: Record<string, string> = {};
      for (const need of spec.needs) recipeUpstream[need] = `recipe:${recipes.get(need)}`;
      recipeState = await planner.state(spec, recipeUpstream);
    } catch (error) {
      book.failed(name, (error as Error).message);
      continue;
    }
    recipes.set(name, recipeState.key);
    if (recipeState.missingDeps.length > 0) {
      book.failed(name, missingDependencyMessage(spec, recipeState.missingDeps));
      continue;
    }

    const waitingOn = spec.needs.filter((need) => queued.has(need));
    const upstreamInputs: Record<string, string> = {};
    const upstreamHashes: Record<string, string> = {};
    let reasons: string[];
    let keyState: () => Promise<StageState>;
    if (waitingOn.length === 0) {
      // Every upstream is stored already: decide as a local run does.
      for (const need of spec.needs) {
        upstreamHashes[need] = lock.stages[need].output;
        upstreamInputs[need] = outputPath(pipeline.cacheDir, upstreamHashes[need]);
      }
      const decision = await planner.decide(spec, upstreamHashes, forced.has(name));
      if (decision.action === "fail") book.failed(name, decision.error);
      else if (decision.action === "fresh") book.fresh(name);
      else if (decision.action === "restore") {
        await book.restored(name, decision.entry, decision.reason);
      }
      if (decision.action !== "run") continue;
      reasons = decision.reasons;
      keyState = () => Promise.resolve(decision.state);
    } else {
      for (const need of spec.needs) {
        upstreamInputs[need] = queued.has(need)
          ? await queued.get(need)!.finishedDir
          : outputPath(pipeline.cacheDir, lock.stages[need].output);
      }
      reasons = [
        ...(forced.has(name) ? ["forced"] : []),
        `upstream ${waitingOn.join(", ")} rerunning: queued after ${
          waitingOn.length > 1 ? "them" : "it"
        }`,
      ];
      keyState = async () => {
        const upstream: Record<string, string> = {};
        for (const need of spec.needs) {
          upstream[need] = (await results.get(need)) ?? lock.stages[need].output;
        }
        const state = await planner.state(spec, upstream);
        // The job read the files as they were when it was queued; they must not have changed.
        if (
          state.code.hash !== recipeState.code.hash ||
          canonicalJson(state.deps) !== canonicalJson(recipeState.deps)
        ) {
          throw new Error("its code or input files changed while it was queued; run again");
        }
        return state;
      };
    }

    let prepared: PreparedStage;
    try {
      prepared = await prepareStage(
        pipeline,
        spec,
        recipeState,
        upstreamInputs,
        recipeState.key,
        // The same work in another cache (repro's temporary one) is not the same job.
        sha256Hex(canonicalJson({ work: recipeState.key, cache: pipeline.cacheDir })),
      );
    } catch (error) {
      book.failed(name, (error as Error).message);
      continue;
    }
    options.reporter.event({ event: "start", stage: name, reason: reasons.join("; ") });
    const events = new StageEvents(name, options.reporter);
    const after = waitingOn.map((need) => queued.get(need)!);
    const handle = submit(prepared.job, events.onEvent, { after });
    queued.set(name, handle);
    handles.set(name, handle);
    if (summary.cancelled) handle.cancel().catch(() => {}); // Ctrl-C while it was being prepared
    // Its duration counts from when its upstream stages ended, not from when it was queued.
    const started = Promise.all(after.map((upstream) => upstream.finished))
      .then(() => performance.now());
    const upstreamResults = spec.needs.flatMap((need) =>
      results.has(need) ? [results.get(need)!] : []
    );
    let settled!: (output: string | undefined) => void;
    results.set(name, new Promise((resolve) => settled = resolve));
    settling.push((async () => {
      let output: string | undefined;
      try {
        const exit = await handle.finished;
        const upstreamOutputs = await Promise.all(upstreamResults);
        if (upstreamOutputs.some((output) => output === undefined) && !summary.cancelled) {
          // Its upstream failed (SLURM cancelled the job) or was not stored: nothing to keep.
          book.notRun(name, book.blockedReason(spec) ?? "upstream not run");
          return;
        }
        const outcome = await settleStage(
          pipeline,
          spec,
          prepared,
          exit,
          events,
          await started,
          options,
          keyState,
          planner.stats,
        );
        if (outcome.ok) {
          output = outcome.entry.output;
          await book.ran(name, outcome.entry);
        } else if (!summary.cancelled) {
          book.failed(name);
          if (exit.code === 0) {
            // The job succeeded on the cluster but its output is unusable (declared outs
            // missing): its queued dependents must not run on it. (A failed job's dependents
            // are cancelled by the executor, on SLURM by --kill-on-invalid-dep.)
            const downstream = dependentsOf(pipeline, name);
            for (const [other, dependent] of queued) {
              if (downstream.has(other)) dependent.cancel().catch(() => {});
            }
          }
        }
      } catch (error) {
        if (!summary.failed.includes(name)) book.failed(name, (error as Error).message);
      } finally {
        settled(output);
        handles.delete(name);
        await Deno.remove(prepared.workDir, { recursive: true }).catch(() => {});
      }
    })());
  }
  await Promise.all(settling);
  await executor.close?.();
}

/** Every stage downstream of `name`. */
function dependentsOf(pipeline: Pipeline, name: string): Set<string> {
  const found = new Set<string>();
  const visit = (stage: string) => {
    for (const next of pipeline.graph.outNeighbors(stage)) {
      if (!found.has(next)) {
        found.add(next);
        visit(next);
      }
    }
  };
  visit(name);
  return found;
}

type StageOutcome = { ok: true; entry: LockEntry } | { ok: false };

/** A stage's attempt folder, job file and log, ready to hand to an executor. */
interface PreparedStage {
  job: StageJob;
  workDir: string;
  checkpointDir: string;
  logPath: string;
}

/**
 * Write the attempt folder of `spec`: job.json with `inputs` (upstream name → output folder, plus
 * its file deps), an empty output folder, the checkpoint folder kept under `checkpointKey` and a
 * truncated log; returns the sandboxed job.
 */
async function prepareStage(
  pipeline: Pipeline,
  spec: StageSpec,
  state: StageState,
  upstreamInputs: Record<string, string>,
  checkpointKey: string,
  jobKey?: string,
): Promise<PreparedStage> {
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
    join(cacheDir, "checkpoints", `${safeName}-${checkpointKey.slice(0, 16)}`),
  );
  const inputs: Record<string, string> = { ...upstreamInputs, ...state.depInputs };
  const hubPaths: Record<string, string> = {};
  const hubReads: string[] = [];
  for (const [reference, commit] of Object.entries(state.hubDeps)) {
    const snapshot = await hubSnapshot(reference, commit);
    hubPaths[reference] = snapshot.dir;
    hubReads.push(snapshot.repoCacheDir);
    for (const dep of spec.deps) if (hubReference(dep) === reference) inputs[dep] = snapshot.dir;
  }
  const worker: WorkerJob = {
    stage: spec.name,
    module: resolve(root, spec.uses),
    params: spec.params,
    inputs,
    outDir,
    checkpointDir,
    needs: Object.fromEntries(
      Object.entries(spec.roles).map((
        [role, cells],
      ) => [role, Object.fromEntries(cells.map((cell) => [cell, upstreamInputs[cell]]))]),
    ),
    stageKey: `stages.${spec.base}`,
    keys: spec.keys,
    hubPaths,
  };
  const home = homeFolder();
  if (home) worker.home = home;
  const jobFile = join(workDir, "job.json");
  await Deno.writeTextFile(jobFile, JSON.stringify(worker));
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
      ...hubReads,
    ],
  });
  const job: StageJob = {
    stage: spec.name,
    command,
    cwd: root,
    env: sandboxEnv(),
    workDir,
    outDir,
    logPath,
    resources: spec.resources,
  };
  if (jobKey !== undefined) job.key = jobKey;
  return { job, workDir, checkpointDir, logPath };
}

/** Collects what a running stage reports and forwards its progress to the reporter. */
class StageEvents {
  /** The stage's error event, all lines. */
  error?: string;
  /** The error is a user's mistake: its one line says everything (the stack is in the log). */
  userError = false;
  metrics?: Record<string, MetricValue>;

  constructor(readonly stage: string, readonly reporter: RunOptions["reporter"]) {}

  readonly onEvent = (event: WorkerEvent): void => {
    if (event.type === "progress") {
      this.reporter.event({
        event: "progress",
        stage: this.stage,
        done: event.done,
        total: event.total,
        message: event.message,
      });
    } else if (event.type === "error" && this.error === undefined) {
      this.error = event.message;
      this.userError = event.user === true;
    } else if (event.type === "result") this.metrics = event.metrics;
  };
}

/**
 * A stage's process has ended: on success check its output (metrics, declared outs), store it
 * content-addressed and return its lock entry (`keyState` gives the key, computed only now for a
 * stage queued before its upstream finished); otherwise report the failure with its log tail.
 */
async function settleStage(
  pipeline: Pipeline,
  spec: StageSpec,
  prepared: PreparedStage,
  exit: { code: number; signal?: string },
  events: StageEvents,
  started: number,
  options: RunOptions,
  keyState: () => Promise<StageState>,
  stats: StatCache,
): Promise<StageOutcome> {
  const { cacheDir } = pipeline;
  const { job, checkpointDir, logPath } = prepared;
  const duration = (performance.now() - started) / 1000;
  if (options.signal?.aborted) {
    options.reporter.event({ event: "cancel", stage: spec.name, duration_s: duration });
    return { ok: false };
  }
  let error = events.error;
  if (exit.code === 0 && !error) {
    try {
      const metrics = events.metrics ??
        JSON.parse(await Deno.readTextFile(join(job.outDir, "metrics.json"))).metrics;
      if (!metrics) throw new Error("the stage reported no metrics");
      const missing = [];
      for (const out of spec.outs) {
        try {
          await Deno.stat(join(job.outDir, out));
        } catch {
          missing.push(out);
        }
      }
      if (missing.length > 0) throw new Error(`declared outs not written: ${missing.join(", ")}`);
      const state = await keyState();
      // Remembered in the stat cache, so the next status check rereads none of these files.
      const { hash: output, files: outputFiles } = await commitOutput(cacheDir, job.outDir, stats);
      await Deno.remove(checkpointDir, { recursive: true }).catch(() => {});
      const entry: LockEntry = {
        key: state.key,
        uses: spec.uses,
        code: { files: state.code.files, packages: state.code.packages },
        params: spec.params,
        deps: state.deps,
        upstream: state.upstream,
        output,
        output_files: outputFiles,
        duration_s: Number(duration.toFixed(3)),
        metrics,
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
  const [headline, ...rest] = error.split("\n");
  const oneLine = events.userError && events.error === error && !options.verbose;
  options.reporter.event({
    event: "fail",
    stage: spec.name,
    error: headline,
    duration_s: Number(duration.toFixed(3)),
    log: logPath,
    ...(oneLine
      ? {}
      : { tail: rest.length > 0 ? rest.slice(-FAILURE_TAIL_LINES) : await logTail(logPath) }),
  });
  return { ok: false };
}

/** The last {@linkcode FAILURE_TAIL_LINES} non-empty lines of a log (none when unreadable). */
async function logTail(logPath: string): Promise<string[]> {
  try {
    const lines = (await Deno.readTextFile(logPath)).split("\n");
    while (lines.length > 0 && lines.at(-1)!.trim() === "") lines.pop();
    return lines.slice(-FAILURE_TAIL_LINES);
  } catch {
    return [];
  }
}

async function executeStage(
  pipeline: Pipeline,
  spec: StageSpec,
  state: StageState,
  outputs: Map<string, string>,
  options: RunOptions,
  handles: Map<string, StageHandle>,
  reasons: string[],
  stats: StatCache,
): Promise<StageOutcome> {
  const upstreamInputs: Record<string, string> = {};
  for (const need of spec.needs) {
    upstreamInputs[need] = outputPath(pipeline.cacheDir, outputs.get(need)!);
  }
  const prepared = await prepareStage(pipeline, spec, state, upstreamInputs, state.key);
  const started = performance.now();
  options.reporter.event({ event: "start", stage: spec.name, reason: reasons.join("; ") });
  const events = new StageEvents(spec.name, options.reporter);
  const handle = options.executor.start(prepared.job, events.onEvent);
  handles.set(spec.name, handle);
  try {
    const exit = await handle.finished;
    return await settleStage(
      pipeline,
      spec,
      prepared,
      exit,
      events,
      started,
      options,
      () => Promise.resolve(state),
      stats,
    );
  } finally {
    handles.delete(spec.name);
    await Deno.remove(prepared.workDir, { recursive: true }).catch(() => {});
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

async function saveQuietly(stats: StatCache): Promise<void> {
  try {
    await stats.save();
  } catch { /* a read-only cache still works, just slower next time */ }
}
