import type { LockFile } from "../cache/mod.ts";
import { UsageError } from "../config/errors.ts";
import { loadPipeline } from "../dag/load.ts";
import type { Pipeline } from "../dag/types.ts";
import type { Executor } from "./executor.ts";
import type { Reporter } from "./progress.ts";
import { acquireRunLock } from "./run_lock.ts";
import { runPipeline } from "./scheduler.ts";
import type { MetricValue } from "./types.ts";

/** Relative tolerance for float metrics when none is given. */
export const DEFAULT_FLOAT_RELATIVE_TOLERANCE = 1e-6;

/** One metric compared between the lock file and a fresh rerun. */
export interface MetricComparison {
  stage: string;
  metric: string;
  recorded: MetricValue | undefined;
  reproduced: MetricValue | undefined;
  /** Relative difference for numbers (max over list elements), else 0 or Infinity. */
  relativeDifference: number;
  drifted: boolean;
}

/** Result of {@linkcode reproPipeline}. */
export interface ReproResult {
  comparisons: MetricComparison[];
  drifted: boolean;
  /** Stages that failed in the rerun. */
  failed: string[];
  cancelled: boolean;
  /** The rerun's cache, kept for inspection (logs, outputs) when it drifted or failed. */
  keptCache?: string;
}

/** Options of {@linkcode reproPipeline}. */
export interface ReproOptions {
  executor: Executor;
  reporter: Reporter;
  /** Relative tolerance for every number; default the file's `repro.tolerance`, else exact for
   * integers and 1e-6 for floats. */
  tolerance?: number;
  /** More metric-name globs not to compare, on top of the file's `repro.ignore_metrics`. */
  ignoreMetrics?: string[];
  jobs?: number;
  signal?: AbortSignal;
  /** `--set` overrides used to load the pipeline. */
  set?: string[];
  /** `--backend` override used to load the pipeline. */
  backend?: string;
}

/**
 * Rerun every stage from scratch into a temporary cache (the real cache and lock file are not
 * touched) and compare each metric recorded in the pipeline's lock file with the rerun's. The
 * temporary cache is removed unless the rerun drifted or failed (then `keptCache` names it).
 * Throws `UsageError` when there is no lock file to compare with.
 */
export async function reproPipeline(
  pipeline: Pipeline,
  options: ReproOptions,
): Promise<ReproResult> {
  let recorded: LockFile;
  try {
    recorded = JSON.parse(await Deno.readTextFile(pipeline.lockPath)) as LockFile;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new UsageError(
      `no lock file ${pipeline.lockPath} to compare with: run the pipeline first`,
    );
  }
  const tempCache = await Deno.makeTempDir({ prefix: "peftlab-repro-" });
  let keep = false;
  try {
    const fresh = await loadPipeline(pipeline.file, {
      set: options.set,
      backend: options.backend,
      cacheDir: tempCache,
    });
    const runLock = await acquireRunLock(tempCache);
    try {
      const summary = await runPipeline(fresh, {
        executor: options.executor,
        reporter: options.reporter,
        jobs: options.jobs,
        signal: options.signal,
        lockPath: `${tempCache}/repro.lock`,
      });
      const comparisons = compareLocks(
        recorded,
        summary.lock,
        options.tolerance ?? pipeline.repro.tolerance,
        [...pipeline.repro.ignoreMetrics, ...(options.ignoreMetrics ?? [])],
      );
      const drifted = comparisons.some((row) => row.drifted) || summary.failed.length > 0;
      keep = drifted && !summary.cancelled;
      return {
        comparisons,
        drifted,
        failed: summary.failed,
        cancelled: summary.cancelled,
        keptCache: keep ? tempCache : undefined,
      };
    } finally {
      runLock.release();
    }
  } finally {
    if (!keep) await removeTree(tempCache);
  }
}

/**
 * Compare every metric of every stage recorded in `recorded` with `reproduced`, leaving out
 * metrics whose name matches one of the `ignore` globs (`*`, `?`).
 */
export function compareLocks(
  recorded: LockFile,
  reproduced: LockFile,
  tolerance?: number,
  ignore: string[] = [],
): MetricComparison[] {
  const ignored = ignore.map((glob) =>
    new RegExp(
      `^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".")}$`,
    )
  );
  const rows: MetricComparison[] = [];
  for (const [stage, entry] of Object.entries(recorded.stages ?? {})) {
    const again = reproduced.stages[stage]?.metrics ?? {};
    const names = new Set([...Object.keys(entry.metrics ?? {}), ...Object.keys(again)]);
    for (const metric of names) {
      if (ignored.some((pattern) => pattern.test(metric))) continue;
      const before = entry.metrics?.[metric];
      const after = again[metric];
      const relativeDifference = difference(before, after);
      const allowed = tolerance ?? defaultTolerance(before, after);
      rows.push({
        stage,
        metric,
        recorded: before,
        reproduced: after,
        relativeDifference,
        drifted: !(relativeDifference <= allowed),
      });
    }
  }
  return rows;
}

function defaultTolerance(a: unknown, b: unknown): number {
  const values = [a, b].flat();
  return values.every((v) => typeof v === "number" && Number.isInteger(v))
    ? 0
    : DEFAULT_FLOAT_RELATIVE_TOLERANCE;
}

function difference(a: MetricValue | undefined, b: MetricValue | undefined): number {
  if (typeof a === "number" && typeof b === "number") return relative(a, b);
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return Infinity;
    return a.reduce((max, value, i) => Math.max(max, relative(value, b[i])), 0);
  }
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b) ? 0 : Infinity;
}

function relative(a: number, b: number): number {
  if (a === b) return 0;
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
}

/** A fixed-width text table of drifted rows (all rows with `all`). */
export function formatDriftTable(rows: MetricComparison[], all = false): string {
  const shown = rows.filter((row) => all || row.drifted);
  const table = [["stage", "metric", "recorded", "reproduced", "rel. diff"]];
  for (const row of shown) {
    table.push([
      row.stage,
      row.metric,
      row.recorded === undefined ? "(missing)" : JSON.stringify(row.recorded),
      row.reproduced === undefined ? "(missing)" : JSON.stringify(row.reproduced),
      Number.isFinite(row.relativeDifference) ? row.relativeDifference.toExponential(2) : "—",
    ]);
  }
  const widths = table[0].map((_, col) => Math.max(...table.map((line) => line[col].length)));
  return table.map((line) => line.map((cell, col) => cell.padEnd(widths[col])).join("  ").trimEnd())
    .join("\n");
}

async function removeTree(path: string): Promise<void> {
  // Stored outputs are read-only files in writable folders, so a recursive remove works.
  await Deno.remove(path, { recursive: true }).catch(() => {});
}
