/**
 * SLURM execution: stages as `sbatch` jobs with `afterok` dependencies, state read with
 * `squeue` / `scontrol` (no `sacct`), cancellation with `scancel`, recovery through job records on
 * the shared cache. See docs/SLURM.md.
 *
 * @module
 */
import { join } from "node:path";
import type { Pipeline } from "../../dag/types.ts";
import { DEFAULT_POLL_INTERVAL_MS, SlurmExecutor } from "./slurm_executor.ts";

export {
  DEFAULT_JOBS_IN_FLIGHT,
  DEFAULT_POLL_INTERVAL_MS,
  LOG_TAIL_LINES,
  SlurmExecutor,
  type SlurmExecutorOptions,
  type SlurmStageExit,
  type SlurmStageHandle,
  type SlurmSubmitOptions,
} from "./slurm_executor.ts";
export {
  isTerminalState,
  parseScontrolJob,
  SlurmClient,
  SlurmError,
  type SlurmJobInfo,
  TERMINAL_JOB_STATES,
} from "./slurm_commands.ts";
export { batchScript, type BatchScriptOptions, sbatchOptions, shellQuote } from "./slurm_script.ts";
export { type QueuedStage, queuedStages } from "./slurm_status.ts";
export { jobIdentity, type JobRecord, linkTree, SlurmState } from "./slurm_records.ts";

/** Environment variable that overrides the queue polling interval (milliseconds). */
export const POLL_INTERVAL_ENV = "PEFTLAB_SLURM_POLL_MS";

/**
 * The SLURM executor of a pipeline, as `cli/pipeline.ts` creates it for `--executor slurm`: job
 * records, scripts and outputs under `<cache>/slurm` (the `cache` setting must name a folder every
 * node shares), at most `jobs` jobs in flight, the cluster found the usual way (`SLURM_CONF` or
 * `/etc/slurm/slurm.conf`). `PEFTLAB_SLURM_POLL_MS` sets how often the queue is read (default
 * 1000 ms). Throws a TypeError for a malformed poll interval.
 */
export function createSlurmExecutor(pipeline: Pipeline, options: { jobs?: number }): SlurmExecutor {
  const pollText = Deno.env.get(POLL_INTERVAL_ENV);
  const pollIntervalMs = pollText === undefined ? DEFAULT_POLL_INTERVAL_MS : Number(pollText);
  if (!Number.isFinite(pollIntervalMs) || pollIntervalMs <= 0) {
    throw new TypeError(`${POLL_INTERVAL_ENV} must be a positive number of ms, got "${pollText}"`);
  }
  return new SlurmExecutor({
    stateDir: join(pipeline.cacheDir, "slurm"),
    jobs: options.jobs,
    pollIntervalMs,
  });
}
