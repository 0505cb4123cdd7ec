/**
 * SLURM execution: stages as `sbatch` jobs with `afterok` dependencies, state read with
 * `squeue` / `scontrol` (no `sacct`), cancellation with `scancel`, recovery through job records on
 * the shared cache. See docs/SLURM.md.
 *
 * @module
 */
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
export { jobIdentity, type JobRecord, linkTree, SlurmState } from "./slurm_records.ts";
