import type { DirectedGraph } from "graphology";
import type { SourceLocation } from "../config/errors.ts";

/** A scalar a matrix variable can take. */
export type MatrixValue = string | number | boolean;

import { backendNames } from "../engine/backend_names.ts";

/** Backends `settings.backend` accepts: the engine's names. */
export const BACKEND_NAMES = backendNames;

/** Executors the top-level `executor` key accepts. */
export const EXECUTOR_NAMES = ["local", "slurm"] as const;

/** Name of an executor that runs stage commands. */
export type ExecutorName = typeof EXECUTOR_NAMES[number];

/** Per-stage compute request; the local executor ignores it, the SLURM executor maps it to sbatch. */
export interface StageResources {
  /** CPU cores (`--cpus-per-task`). */
  cpus?: number;
  /** Memory, e.g. `8G` or `512M` (`--mem`). */
  mem?: string;
  /** GPUs (`--gpus`). */
  gpus?: number;
  /** Wall-clock limit, `[D-]HH:MM:SS`, `MM:SS` or minutes (`--time`). */
  time?: string;
  /** Partition (`--partition`). */
  partition?: string;
  /** Extra raw sbatch arguments, e.g. `["--qos=short"]`. */
  sbatch?: string[];
}

/** Run settings from the top-level `settings` section. */
export interface PipelineSettings {
  /** TensorFlow.js backend the stages should use. */
  backend: typeof BACKEND_NAMES[number];
  /** Base random seed. */
  seed: number;
  /** Cache directory: relative to the project root (default `artifacts`), absolute or `~/…`. */
  cache: string;
  /** CPU threads a stage may use (optional). */
  threads?: number;
}

/** One runnable stage: a plain stage or one cell of a matrix stage, fully resolved. */
export interface StageSpec {
  /** Unique name; a matrix cell looks like `evaluate[method=lora]`. */
  name: string;
  /** Name of the stage in the YAML (`evaluate` for every cell of `evaluate`). */
  base: string;
  /** The matrix values of this cell (absent for plain stages). */
  matrix?: Record<string, MatrixValue>;
  /** Stage module path relative to the project root, e.g. `stages/train.ts`. */
  uses: string;
  /** Upstream stage names (cells, already expanded). */
  needs: string[];
  /**
   * The roles the stage reads its upstream under → the stage cells filling each (`needs` as a
   * mapping, e.g. `{tokenized: tokenize, tuned: train-lora}`); a plain list names each role
   * after its stage. Only the pipeline file knows stage names; a stage knows its roles.
   */
  roles: Record<string, string[]>;
  /** File dependencies (paths or globs) relative to the project root. */
  deps: string[];
  /** Resolved params (shared sections and matrix values substituted). */
  params: Record<string, unknown>;
  /** Files the stage promises to write inside its output directory. */
  outs: string[];
  /** Compute request for executors that schedule on a cluster. */
  resources?: StageResources;
  /** Human description. */
  desc?: string;
  /** Where the stage is declared. */
  where: SourceLocation;
  /**
   * Where each `deps` entry was written (same order as `deps`); for a whole `${data.test}`, the
   * section entry it copies.
   */
  depsWhere: SourceLocation[];
  /**
   * Where each of the stage's keys was written, by stage-relative dotted path (`uses`, `needs`,
   * `deps[2]`, `params`, `params.training.lr`): the real key and its file:line:column, following
   * `${section.key}` to the section entry. Stage errors name keys this way.
   */
  keys: Record<string, SourceLocation>;
}

/** How `repro` compares metrics (top-level `repro` section). */
export interface ReproSettings {
  /** Metric names (globs with `*` and `?`) that measure the machine, not the result: not compared. */
  ignoreMetrics: string[];
  /** Relative tolerance for every number; absent: exact integers, 1e-6 for other numbers. */
  tolerance?: number;
}

/** A validated pipeline: its stages, shared sections and the dependency graph. */
export interface Pipeline {
  /** Absolute path of the pipeline file. */
  file: string;
  /** Project root: the nearest folder at or above the pipeline file holding `deno.json`. */
  root: string;
  /** Absolute path of the lock file beside the pipeline file (`pipeline.lock` for `pipeline.yaml`). */
  lockPath: string;
  /** Absolute path of the cache directory. */
  cacheDir: string;
  settings: PipelineSettings;
  executor: ExecutorName;
  repro: ReproSettings;
  /** Shared top-level sections (`settings`, `data`, `model`, `vars`) as plain values. */
  sections: Record<string, unknown>;
  /** Every runnable stage by name. */
  stages: Map<string, StageSpec>;
  /** Stage names in a topological order (upstream first). */
  order: string[];
  /** Cell names of each YAML stage (a plain stage maps to itself). */
  groups: Map<string, string[]>;
  /** Directed graph upstream → downstream over stage names. */
  graph: DirectedGraph;
}

/** Options for {@linkcode loadPipeline}. */
export interface LoadOptions {
  /** `dotted.key=value` overrides, applied before validation and typed by the file's values. */
  set?: string[];
  /** Cache directory override (absolute or relative to the project root); used by `repro`. */
  cacheDir?: string;
  /** Backend override (`--backend`): replaces `settings.backend` everywhere it is used. */
  backend?: string;
}
