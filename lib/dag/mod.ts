/**
 * Parse and validate `pipeline.yaml` into a typed graph: shared sections, `${...}` substitution,
 * matrix expansion, `--set` overrides, cycle detection and a topological order.
 *
 * @module
 */
export { ConfigError, type SourceLocation, UsageError } from "../config/errors.ts";
export { findProjectRoot, type LoadOptions, loadPipeline } from "./load.ts";
export { parsePipeline } from "./parse.ts";
export { withUpstream } from "./graph.ts";
export { applyOverrides } from "./overrides.ts";
export {
  BACKEND_NAMES,
  EXECUTOR_NAMES,
  type ExecutorName,
  type MatrixValue,
  type Pipeline,
  type PipelineSettings,
  type ReproSettings,
  type StageResources,
  type StageSpec,
} from "./types.ts";
