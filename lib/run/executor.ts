import type { StageResources } from "../dag/types.ts";
import type { WorkerEvent } from "./protocol.ts";

/**
 * One stage invocation, ready to launch. The scheduler builds it (sandboxed command, job file,
 * temporary output folder); an executor only decides where and how the command runs.
 */
export interface StageJob {
  /** Stage (cell) name, e.g. `evaluate[method=lora]`. */
  stage: string;
  /** Full argv of the sandboxed stage process: `[deno, run, …flags, worker, jobFile]`. */
  command: string[];
  /** Working directory for the command (the project root). */
  cwd: string;
  /** The complete environment of the process (already minimal; do not add the parent's). */
  env: Record<string, string>;
  /** Temporary folder of this attempt: holds `job.json` and `out/`; removed by the scheduler. */
  workDir: string;
  /** The stage's output folder inside `workDir`; the only place the stage may write. */
  outDir: string;
  /** Log file to append all of the process's output to (truncated by the scheduler first). */
  logPath: string;
  /** Compute request from the pipeline file (local: ignored; SLURM: sbatch options). */
  resources?: StageResources;
  /**
   * What the work is, stable across runs (the scheduler passes a SHA-256 over the stage's code,
   * params, file deps and its upstream stages' keys). An executor that recognises work across
   * coordinator runs (SLURM) identifies the job by it instead of hashing the job's files.
   */
  key?: string;
}

/** How a stage process ended. `code` 0 means success; `signal` is set when it was killed. */
export interface StageExit {
  code: number;
  signal?: string;
}

/** A started stage. */
export interface StageHandle {
  /** Resolves when the process has ended and its output has been flushed to the log. */
  readonly finished: Promise<StageExit>;
  /** Stop the stage (SIGTERM, then SIGKILL after a grace period; scancel on SLURM). */
  cancel(): Promise<void>;
}

/** A stage queued with {@linkcode Executor.submit}, possibly before its upstream has finished. */
export interface QueuedStageHandle extends StageHandle {
  /**
   * Folder on a filesystem every node shares where the stage's output appears once it succeeds
   * (and stays until its dependents have ended): a dependent queued before this stage finished
   * names it as its input.
   */
  readonly finishedDir: Promise<string>;
}

/** Options of {@linkcode Executor.submit}. */
export interface SubmitOptions {
  /** Stages that must succeed first; when one does not, the stage ends without running. */
  after?: QueuedStageHandle[];
}

/**
 * Runs stage commands. The scheduler, cache, run lock and sandboxed command are shared; an
 * executor (local subprocess, SLURM job) only launches `job.command`, streams its output into
 * `job.logPath`, and passes each worker event line (see `parseWorkerLine`) to `onEvent`.
 */
export interface Executor {
  /** `local` or `slurm`. */
  readonly name: string;
  /** Most stages this executor runs at once by default (the CLI's `--jobs` overrides it). */
  readonly defaultParallelism: number;
  /** Launch a stage; never throws for a failing stage (that is a non-zero `StageExit`). */
  start(job: StageJob, onEvent: (event: WorkerEvent) => void): StageHandle;
  /**
   * Optional capability (SLURM): queue a stage at once, to run after every stage in `after` has
   * succeeded; a stage whose upstream fails ends with a non-zero exit without running. With it,
   * the scheduler hands the whole stale graph over in one go and the executor caps the stages in
   * flight (queued or running) at `defaultParallelism`. Never throws for a failing stage.
   */
  submit?(
    job: StageJob,
    onEvent: (event: WorkerEvent) => void,
    options?: SubmitOptions,
  ): QueuedStageHandle;
  /**
   * Optional: once every stage of a run has ended, wait for the executor's own clean-up (what it
   * kept for queued dependents, such as SLURM's finished outputs). Called by the scheduler.
   */
  close?(): Promise<void>;
}
