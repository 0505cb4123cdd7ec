/**
 * Running pipelines: the scheduler, executors (local now, SLURM on the same interface), the
 * sandboxed stage subprocess, staleness reasons, progress output, the run lock and `repro`.
 *
 * @module
 */
export type { MetricValue, StageContext, StageFunction, StageResult } from "./types.ts";
export type { Executor, StageExit, StageHandle, StageJob } from "./executor.ts";
export { encodeEvent, EVENT_PREFIX, parseWorkerLine, type WorkerEvent } from "./protocol.ts";
export { CANCEL_GRACE_MS, LocalExecutor } from "./local_executor.ts";
export {
  denoCacheDir,
  sandboxCommand,
  sandboxEnv,
  type SandboxOptions,
  STAGE_ENV_VARIABLES,
  STAGE_SYS_INFO,
  WORKER_PATH,
} from "./sandbox.ts";
export {
  expandGlob,
  formatValue,
  paramReasons,
  Planner,
  type StageState,
  type StageStatus,
} from "./staleness.ts";
export {
  openStatCache,
  pipelineStatus,
  resolveTargets,
  type RunOptions,
  runPipeline,
  type RunSummary,
} from "./scheduler.ts";
export { ConsoleReporter, JsonReporter, type Reporter, type RunEvent } from "./progress.ts";
export { acquireRunLock, type RunLock, RunLockBusyError, type RunLockOptions } from "./run_lock.ts";
export {
  compareLocks,
  DEFAULT_FLOAT_RELATIVE_TOLERANCE,
  formatDriftTable,
  type MetricComparison,
  type ReproOptions,
  reproPipeline,
  type ReproResult,
} from "./repro.ts";
export type { WorkerJob } from "./stage_worker.ts";
