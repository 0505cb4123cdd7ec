/**
 * Runs stages as SLURM batch jobs. The scheduler, cache, lock and sandboxed stage command are the
 * same as for local execution; this executor only submits the command with `sbatch`, follows the
 * job with `squeue` / `scontrol` (never `sacct`), streams its output into the stage log and hands
 * the finished output back in the stage's output folder.
 *
 * @module
 */
import { join } from "node:path";
import type { Executor, StageExit, StageHandle, StageJob } from "../executor.ts";
import { parseWorkerLine, type WorkerEvent } from "../protocol.ts";
import { isTerminalState, SlurmClient, type SlurmJobInfo } from "./slurm_commands.ts";
import { jobIdentity, type JobRecord, linkTree, SlurmState } from "./slurm_records.ts";
import { batchScript, sbatchOptions, shellQuote } from "./slurm_script.ts";
import { concatBytes } from "../../util/bytes.ts";

/** Default pause between two looks at the queue. */
export const DEFAULT_POLL_INTERVAL_MS = 1000;
/** Default cap on jobs submitted and not yet finished. */
export const DEFAULT_JOBS_IN_FLIGHT = 64;
/** Lines of a failed job's log shown in its error. */
export const LOG_TAIL_LINES = 20;
/** Looks at the queue a submitted job may be missing from before it counts as lost. */
const MISSING_POLLS_BEFORE_LOST = 5;
/** States from which a job may still start or finish: an earlier coordinator's job is adopted. */
const LIVE_STATES = new Set(["PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED"]);

/** Options of {@link SlurmExecutor}. */
export interface SlurmExecutorOptions {
  /**
   * Folder for job scripts, job records, job output and finished outputs; it must be on a
   * filesystem every node shares (the pipeline's `cache` folder does: use `<cache>/slurm`).
   */
  stateDir: string;
  /** Most jobs submitted and not yet finished at once (`--jobs`); default 64. */
  jobs?: number;
  /** Pause between two looks at the queue, in milliseconds; default 1000. */
  pollIntervalMs?: number;
  /** Extra environment for sbatch/squeue/scontrol/scancel, e.g. `{ SLURM_CONF }`. */
  slurmEnv?: Record<string, string>;
  /** Prefix of job names shown by `squeue` (default `peftlab`): `peftlab:<stage>`. */
  jobNamePrefix?: string;
}

/** Options of {@link SlurmExecutor.submit}. */
export interface SlurmSubmitOptions {
  /**
   * Stages that must finish successfully first: the job is submitted with
   * `--dependency=afterok:<their job ids>` and `--kill-on-invalid-dep=yes`, so SLURM cancels it
   * when one of them fails.
   */
  after?: SlurmStageHandle[];
}

/** How a SLURM stage ended. */
export interface SlurmStageExit extends StageExit {
  /** The job that ran it (absent when it never reached SLURM or an earlier output was reused). */
  jobId?: string;
  /** Final SLURM state: `COMPLETED`, `FAILED`, `CANCELLED`, `TIMEOUT`, … */
  state: string;
  /** SLURM's reason, e.g. `NonZeroExitCode`, `DependencyNeverSatisfied`. */
  reason: string;
  /** True when a job of an earlier coordinator run provided the output. */
  reused: boolean;
  /** Last lines of the job's output (for a failed job). */
  logTail: string[];
}

/** A stage handed to SLURM. */
export interface SlurmStageHandle extends StageHandle {
  /** Resolves with how the stage ended once its job has ended and its output is in place. */
  readonly finished: Promise<SlurmStageExit>;
  /** Stage name. */
  readonly stage: string;
  /** Where the job moves its output on success; dependents submitted early read it there. */
  readonly finishedDir: Promise<string>;
  /** The SLURM job id, once submitted (or adopted from an earlier run). */
  jobId(): string | undefined;
}

type Phase = "waiting" | "submitted" | "done";

interface TrackedJob {
  job: StageJob;
  onEvent: (event: WorkerEvent) => void;
  identity: Promise<string>;
  after: TrackedJob[];
  phase: Phase;
  jobId?: string;
  attemptDir?: string;
  reused: boolean;
  logOffset: number;
  logPending: string;
  logTail: string[];
  reportedError: boolean;
  missingPolls: number;
  cancelRequested: boolean;
  forgotten: boolean;
  exit?: SlurmStageExit;
  resolve: (exit: SlurmStageExit) => void;
  handle: SlurmStageHandle;
}

/**
 * Executor that submits each stage as one SLURM job (a matrix cell is one job). `start` (the
 * engine's Executor interface) submits a stage whose upstream has finished; `submit` can also
 * wire upstream jobs as `afterok` dependencies so a whole graph is queued at once. Work is
 * identified by content ({@link jobIdentity}): a restarted coordinator adopts a job of an earlier
 * run that is still queued or running, and reuses one that finished, instead of submitting again.
 */
export class SlurmExecutor implements Executor {
  readonly name = "slurm";
  readonly defaultParallelism: number;
  /** Client used for every SLURM command. */
  readonly client: SlurmClient;
  readonly #state: SlurmState;
  readonly #pollIntervalMs: number;
  readonly #jobNamePrefix: string;
  readonly #tracked: TrackedJob[] = [];
  readonly #cleaning: Promise<void>[] = [];
  #loop?: Promise<void>;
  #wake?: () => void;

  constructor(options: SlurmExecutorOptions) {
    this.defaultParallelism = Math.max(1, options.jobs ?? DEFAULT_JOBS_IN_FLIGHT);
    this.client = new SlurmClient(options.slurmEnv);
    this.#state = new SlurmState(options.stateDir);
    this.#pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.#jobNamePrefix = options.jobNamePrefix ?? "peftlab";
  }

  /** Submit a stage whose upstream stages have finished (the engine's Executor contract). */
  start(job: StageJob, onEvent: (event: WorkerEvent) => void): SlurmStageHandle {
    return this.submit(job, onEvent);
  }

  /**
   * Queue a stage as a SLURM job, after the jobs of `options.after` when given. Never throws: a
   * refused submission ends the stage with an `error` event and a non-zero exit.
   */
  submit(
    job: StageJob,
    onEvent: (event: WorkerEvent) => void,
    options: SlurmSubmitOptions = {},
  ): SlurmStageHandle {
    const after = options.after?.map((handle) => {
      const found = this.#tracked.find((tracked) => tracked.handle === handle);
      if (!found) throw new Error(`${handle.stage} was not submitted by this executor`);
      return found;
    }) ?? [];
    let resolve!: (exit: SlurmStageExit) => void;
    const finished = new Promise<SlurmStageExit>((done) => resolve = done);
    const identity = jobIdentity(job);
    const tracked: TrackedJob = {
      job,
      onEvent,
      identity,
      after,
      phase: "waiting",
      reused: false,
      logOffset: 0,
      logPending: "",
      logTail: [],
      reportedError: false,
      missingPolls: 0,
      cancelRequested: false,
      forgotten: false,
      resolve,
      handle: undefined as unknown as SlurmStageHandle,
    };
    tracked.handle = {
      stage: job.stage,
      finished,
      finishedDir: identity.then((id) => this.#state.finishedDir(id)),
      jobId: () => tracked.jobId,
      cancel: async () => {
        tracked.cancelRequested = true;
        this.#wake?.();
        await finished;
      },
    };
    this.#tracked.push(tracked);
    this.#ensureLoop();
    return tracked.handle;
  }

  /** Where the output of `job` lands when its SLURM job succeeds (see `submit`'s `after`). */
  async finishedDirOf(job: StageJob): Promise<string> {
    return this.#state.finishedDir(await jobIdentity(job));
  }

  /** Job ids submitted or adopted by this executor whose jobs have not ended. */
  activeJobIds(): string[] {
    return this.#tracked.filter((t) => t.phase === "submitted" && t.jobId).map((t) => t.jobId!);
  }

  /** Cancel every stage not yet ended (`scancel` on their jobs) and wait for them to end. */
  async cancelAll(): Promise<void> {
    const open = this.#tracked.filter((tracked) => tracked.phase !== "done");
    for (const tracked of open) tracked.cancelRequested = true;
    await this.client.cancel(open.filter((t) => t.jobId).map((t) => t.jobId!)).catch(() => {});
    this.#wake?.();
    await Promise.all(open.map((tracked) => tracked.handle.finished));
  }

  /**
   * Wait until every stage has ended, then remove what was kept for successful ones (records,
   * attempt folders, finished outputs). Until then a finished output stays where dependents
   * submitted later still find it (`finishedDir`). Failed stages' attempt folders stay for
   * inspection until their next submission.
   */
  async close(): Promise<void> {
    while (this.#loop) await this.#loop;
    for (const tracked of this.#tracked) this.#forgetIfUnneeded(tracked);
    await Promise.all(this.#cleaning);
  }

  #ensureLoop(): void {
    if (this.#loop) {
      this.#wake?.();
      return;
    }
    this.#loop = (async () => {
      while (this.#tracked.some((tracked) => tracked.phase !== "done")) {
        await this.#tick();
        if (!this.#tracked.some((tracked) => tracked.phase !== "done")) break;
        await new Promise<void>((wake) => {
          const timer = setTimeout(wake, this.#pollIntervalMs);
          this.#wake = () => {
            clearTimeout(timer);
            wake();
          };
        });
        this.#wake = undefined;
      }
    })().finally(() => this.#loop = undefined);
  }

  async #tick(): Promise<void> {
    await this.#cancelRequested();
    await this.#submitWaiting();
    await this.#pollSubmitted();
  }

  async #cancelRequested(): Promise<void> {
    const toCancel = this.#tracked.filter((t) => t.cancelRequested && t.phase !== "done");
    for (const tracked of toCancel.filter((t) => t.phase === "waiting")) {
      this.#finish(tracked, { code: 130, state: "CANCELLED", reason: "NotSubmitted" });
    }
    const ids = toCancel.filter((t) => t.phase === "submitted" && t.jobId).map((t) => t.jobId!);
    if (ids.length > 0) await this.client.cancel(ids).catch(() => {});
  }

  async #submitWaiting(): Promise<void> {
    for (const tracked of this.#tracked) {
      if (tracked.phase !== "waiting") continue;
      const failedUpstream = tracked.after.find((up) => up.phase === "done" && up.exit!.code !== 0);
      if (failedUpstream) {
        this.#finish(tracked, {
          code: 1,
          state: "CANCELLED",
          reason: "DependencyNeverSatisfied",
          message: `not run: upstream ${failedUpstream.job.stage} did not succeed`,
        });
        continue;
      }
      if (tracked.after.some((up) => up.phase === "waiting")) continue;
      if (this.#inFlight() >= this.defaultParallelism) break;
      try {
        await this.#launch(tracked);
      } catch (error) {
        this.#finish(tracked, {
          code: 1,
          state: "FAILED",
          reason: "SubmissionRefused",
          message: (error as Error).message,
        });
      }
    }
  }

  #inFlight(): number {
    return this.#tracked.filter((tracked) => tracked.phase === "submitted").length;
  }

  /** Reuse or adopt an earlier run's job for the same work, or submit a new one. */
  async #launch(tracked: TrackedJob): Promise<void> {
    const identity = await tracked.identity;
    const finishedDir = this.#state.finishedDir(identity);
    const record = await this.#state.readRecord(identity);
    if (record && await isDirectory(finishedDir)) {
      tracked.jobId = record.jobId;
      tracked.attemptDir = record.attemptDir;
      tracked.reused = true;
      tracked.phase = "submitted";
      await this.#complete(tracked, { state: "COMPLETED", reason: "None", code: 0 });
      return;
    }
    if (record) {
      const info = await this.#lookUp(record.jobId);
      if (info && LIVE_STATES.has(info.state)) {
        tracked.jobId = record.jobId;
        tracked.attemptDir = record.attemptDir;
        tracked.reused = true;
        tracked.phase = "submitted";
        this.#appendLog(tracked, `[slurm] following job ${record.jobId} of an earlier run\n`);
        return;
      }
      await this.#state.forget(identity, record.attemptDir);
    }

    const attemptDir = await Deno.makeTempDir({
      dir: await ensureDir(this.#state.attemptsDir()),
      prefix: `${identity}.`,
    });
    // The job gets its own copy of job.json and output folder inside the shared state folder:
    // the scheduler's attempt folder may be cleaned by a later run while this job still runs.
    const command = tracked.job.command.map((arg) =>
      arg.replaceAll(tracked.job.workDir, attemptDir)
    );
    const outDir = tracked.job.outDir.replace(tracked.job.workDir, attemptDir);
    try {
      const jobText = await Deno.readTextFile(join(tracked.job.workDir, "job.json"));
      await Deno.writeTextFile(
        join(attemptDir, "job.json"),
        jobText.replaceAll(tracked.job.workDir, attemptDir),
      );
    } catch { /* a caller without job.json: the command stands alone */ }
    await Deno.mkdir(outDir, { recursive: true });
    const scriptPath = join(attemptDir, "job.sh");
    await Deno.writeTextFile(
      scriptPath,
      batchScript({
        stage: tracked.job.stage,
        command,
        env: tracked.job.env,
        cwd: tracked.job.cwd,
        outDir,
        finishedDir,
        exitCodePath: join(attemptDir, "exit-code"),
      }),
    );
    const after = tracked.after
      .filter((up) => up.phase === "submitted" && up.jobId)
      .map((up) => up.jobId!);
    const options = sbatchOptions(tracked.job.resources, {
      jobName: `${this.#jobNamePrefix}:${tracked.job.stage}`,
      outputPath: join(attemptDir, "slurm.out"),
      cwd: tracked.job.cwd,
      after,
    });
    tracked.attemptDir = attemptDir;
    tracked.jobId = await this.client.submit(options, scriptPath);
    tracked.phase = "submitted";
    const record2: JobRecord = {
      identity,
      stage: tracked.job.stage,
      jobId: tracked.jobId,
      attemptDir,
      submittedAt: new Date().toISOString(),
    };
    await this.#state.writeRecord(record2);
    this.#appendLog(
      tracked,
      `[slurm] submitted job ${tracked.jobId}: sbatch ${options.map(shellQuote).join(" ")}\n`,
    );
  }

  async #lookUp(jobId: string): Promise<SlurmJobInfo | undefined> {
    return (await this.client.states([jobId])).get(jobId) ?? await this.client.show(jobId);
  }

  async #pollSubmitted(): Promise<void> {
    const submitted = this.#tracked.filter((t) => t.phase === "submitted" && t.jobId);
    if (submitted.length === 0) return;
    let states: Map<string, SlurmJobInfo>;
    try {
      states = await this.client.states([...new Set(submitted.map((t) => t.jobId!))]);
    } catch {
      return; // controller briefly unreachable: look again next time
    }
    for (const tracked of submitted) {
      await this.#readLog(tracked);
      const info = states.get(tracked.jobId!) ?? await this.client.show(tracked.jobId!)
        .catch(() => undefined);
      if (info && !isTerminalState(info.state)) {
        tracked.missingPolls = 0;
        // A cluster that ignores --kill-on-invalid-dep leaves such a job pending forever.
        if (info.reason === "DependencyNeverSatisfied") {
          await this.client.cancel([tracked.jobId!]).catch(() => {});
        }
        continue;
      }
      const code = await this.#exitCodeFile(tracked);
      if (info) {
        const exitCode = code ?? (await this.client.show(tracked.jobId!).catch(() => undefined))
          ?.exitCode;
        await this.#complete(tracked, { state: info.state, reason: info.reason, code: exitCode });
      } else if (code !== undefined) {
        await this.#complete(tracked, { state: code === 0 ? "COMPLETED" : "FAILED", code });
      } else if (++tracked.missingPolls >= MISSING_POLLS_BEFORE_LOST) {
        await this.#complete(tracked, { state: "LOST", reason: "UnknownToController" });
      }
    }
  }

  async #exitCodeFile(tracked: TrackedJob): Promise<number | undefined> {
    if (!tracked.attemptDir) return undefined;
    try {
      const text = await Deno.readTextFile(join(tracked.attemptDir, "exit-code"));
      const code = Number(text.trim());
      return Number.isInteger(code) ? code : undefined;
    } catch {
      return undefined;
    }
  }

  /** The job has ended: hand over its output on success, report why it failed otherwise. */
  async #complete(
    tracked: TrackedJob,
    end: { state: string; reason?: string; code?: number },
  ): Promise<void> {
    await this.#readLog(tracked, true);
    const identity = await tracked.identity;
    const finishedDir = this.#state.finishedDir(identity);
    if (end.state === "COMPLETED" && end.code === 0 && await isDirectory(finishedDir)) {
      try {
        await linkTree(finishedDir, tracked.job.outDir);
        // The scheduler reads the metrics from metrics.json in the handed-over folder.
        if (tracked.reused) {
          this.#appendLog(
            tracked,
            `[slurm] reusing the output of job ${tracked.jobId} from an earlier run\n`,
          );
        }
        this.#finish(tracked, { code: 0, state: "COMPLETED", reason: "None" });
      } catch (error) {
        this.#finish(tracked, {
          code: 1,
          state: "COMPLETED",
          reason: "OutputNotReadable",
          message: `job ${tracked.jobId} finished but its output could not be taken over: ${
            (error as Error).message
          }`,
        });
      }
      return;
    }
    const reason = end.reason && end.reason !== "None" ? end.reason : undefined;
    const codeText = end.code !== undefined ? `exit code ${end.code}` : undefined;
    const detail = [reason, codeText].filter(Boolean).join(", ");
    const message = `SLURM job ${tracked.jobId} ${end.state}${detail ? ` (${detail})` : ""}` +
      (end.state === "COMPLETED" ? " but left no output" : "");
    this.#finish(tracked, {
      code: end.code && end.code !== 0 ? end.code : 1,
      state: end.state,
      reason: end.reason ?? "None",
      message,
    });
  }

  #finish(
    tracked: TrackedJob,
    end: { code: number; state: string; reason: string; message?: string },
  ): void {
    if (tracked.phase === "done") return;
    if (end.message) {
      this.#appendLog(tracked, `[slurm] ${end.message}\n`);
      if (!tracked.reportedError) {
        const tail = tracked.logTail.length > 0
          ? `\nlast lines of the job's output:\n${tracked.logTail.join("\n")}`
          : "";
        tracked.onEvent({ type: "error", message: end.message + tail });
      }
    }
    tracked.phase = "done";
    tracked.exit = {
      code: end.code,
      signal: end.state === "CANCELLED" || end.state === "TIMEOUT" ? end.state : undefined,
      jobId: tracked.jobId,
      state: end.state,
      reason: end.reason,
      reused: tracked.reused,
      logTail: [...tracked.logTail],
    };
    tracked.resolve(tracked.exit);
  }

  /**
   * Once a successful stage's output is handed over and no queued dependent reads it from the
   * shared state folder any more, drop its record, attempt folder and finished copy (the
   * scheduler stores its own copy). Failed stages' attempt folders stay for inspection.
   * Called by `close`, when no more dependents can be submitted.
   */
  #forgetIfUnneeded(tracked: TrackedJob): void {
    if (tracked.exit?.code !== 0 || tracked.forgotten) return;
    const needed = this.#tracked.some((other) =>
      other.phase !== "done" && other.after.includes(tracked)
    );
    if (needed) return;
    tracked.forgotten = true;
    const cleaning = tracked.identity.then((id) => this.#state.forget(id, tracked.attemptDir));
    this.#cleaning.push(cleaning.catch(() => {}));
  }

  /**
   * Read what the job printed since the last look, forward its event lines and append the rest
   * to the stage log as the local executor does (event lines become their messages).
   */
  async #readLog(tracked: TrackedJob, final = false): Promise<void> {
    if (!tracked.attemptDir) return;
    let bytes: Uint8Array;
    try {
      using file = await Deno.open(join(tracked.attemptDir, "slurm.out"));
      await file.seek(tracked.logOffset, Deno.SeekMode.Start);
      const chunks: Uint8Array[] = [];
      const buffer = new Uint8Array(64 * 1024);
      while (true) {
        const read = await file.read(buffer);
        if (read === null) break;
        chunks.push(buffer.slice(0, read));
      }
      bytes = concatBytes(chunks);
    } catch {
      return; // not created yet: the job has not started
    }
    tracked.logOffset += bytes.length;
    const text = tracked.logPending + new TextDecoder().decode(bytes);
    const lines = text.split("\n");
    tracked.logPending = final ? "" : lines.pop()!;
    if (final && lines.at(-1) === "") lines.pop();
    let plain = "";
    for (const line of lines) {
      const event = parseWorkerLine(line);
      if (event) {
        if (event.type === "error") tracked.reportedError = true;
        tracked.onEvent(event);
      }
      if (!event || event.type === "log" || event.type === "error") {
        const shown = event?.type === "log" || event?.type === "error" ? event.message : line;
        plain += shown + "\n";
        tracked.logTail.push(...shown.split("\n"));
      }
    }
    if (tracked.logTail.length > LOG_TAIL_LINES) {
      tracked.logTail.splice(0, tracked.logTail.length - LOG_TAIL_LINES);
    }
    if (plain) this.#appendLog(tracked, plain);
  }

  #appendLog(tracked: TrackedJob, text: string): void {
    try {
      Deno.writeTextFileSync(tracked.job.logPath, text, { append: true, create: true });
    } catch { /* the log folder may be gone after a cancelled run */ }
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

async function ensureDir(path: string): Promise<string> {
  await Deno.mkdir(path, { recursive: true });
  return path;
}
