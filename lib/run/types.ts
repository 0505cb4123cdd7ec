import type { MetricValue } from "../cache/lockfile.ts";

export type { MetricValue };

/** What a stage's `run` receives. */
export interface StageContext {
  /** Stage name, e.g. `evaluate[method=lora]`. */
  stage: string;
  /** Resolved params (shared sections and matrix values already substituted). */
  params: Record<string, unknown>;
  /**
   * Upstream stage name → its output directory (read-only); a need on a matrix stage gives one
   * entry per cell, keyed by cell name. Declared file dependencies appear too, keyed by their path
   * as written in `deps` (for a glob: each matched file by its project-relative path).
   */
  inputs: Record<string, string>;
  /**
   * Upstream output folders by the role the stage reads them under (the keys of `needs` in the
   * pipeline file; a plain list names each role after its stage): role → stage cell → folder.
   * Read them with lib/stagekit's `neededFolder` / `neededFolders`.
   */
  needs: Record<string, Record<string, string>>;
  /** Directory to write every output to (a temporary folder, moved into the cache on success). */
  outDir: string;
  /**
   * A writable folder that survives a killed attempt of this exact stage (same key), for resumable
   * training checkpoints; removed once the stage succeeds. Absent when the executor provides none.
   */
  checkpointDir?: string;
  /**
   * A path as the pipeline file writes it (a `data.*` entry, `model.path`) made usable: `~/…`
   * expands to the home folder; relative paths (to the project root, the stage's working
   * folder) and absolute ones stay as they are. The stage may read it when `deps` declares it.
   */
  path(written: string): string;
  /** Report progress; shown as a live line on a terminal. */
  progress(done: number, total: number, message?: string): void;
  /** Write a line to the stage's log (`artifacts/logs/<stage>.log`). */
  log(message: string): void;
}

/** What a stage's `run` returns; `metrics` is written to `metrics.json` and to the lock file. */
export interface StageResult {
  metrics: Record<string, MetricValue>;
}

/** The function every stage module exports. */
export type StageFunction = (ctx: StageContext) => Promise<StageResult>;
