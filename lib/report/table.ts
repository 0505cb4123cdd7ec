/**
 * The metrics table: one row per tuning method, each figure the mean ± sample standard deviation
 * over that method's seeds.
 *
 * @module
 */

import {
  type ConfidenceInterval,
  INTERVAL_FIELDS,
  NUMERIC_FIELDS,
  ReportInputError,
  type RunMetrics,
  validateRunMetrics,
} from "./run_metrics.ts";

/** Mean and sample standard deviation (n − 1) of one figure over a method's seeds. */
export interface Summary {
  /** Arithmetic mean over seeds; `null` when a run lacks the figure (a baseline's training cost). */
  mean: number | null;
  /** Sample standard deviation over seeds; `null` with a single seed (undefined, not zero). */
  std: number | null;
}

/** A figure summarised per method: every numeric run field plus the trainable share. */
export type SummaryField = typeof NUMERIC_FIELDS[number] | "trainablePercent";

/**
 * Every summarised field in table order: the run's numeric fields, with the trainable share right
 * after totalParams.
 */
export const SUMMARY_FIELDS: readonly SummaryField[] = NUMERIC_FIELDS.flatMap(
  (field): SummaryField[] => field === "totalParams" ? [field, "trainablePercent"] : [field],
);

/**
 * One table row: a method, the seeds it ran with, the mean of each per-seed 95% CI bound, and
 * every {@linkcode SummaryField} summarised over those seeds. `trainablePercent` is
 * 100 · trainable / total, computed per run and then summarised.
 */
export type MethodRow =
  & {
    /** Tuning method name. */
    method: string;
    /** True for a baseline row (no training). */
    baseline: boolean;
    /** Seeds of the runs averaged into this row, ascending. */
    seeds: number[];
  }
  & Record<typeof INTERVAL_FIELDS[number], ConfidenceInterval>
  & Record<SummaryField, Summary>;

/** The metrics table: rows in the order each method first appears in the input. */
export interface MetricsTable {
  /** One row per method. */
  rows: MethodRow[];
}

/** Arithmetic mean of a non-empty list. */
export function mean(values: readonly number[]): number {
  let total = 0;
  for (const value of values) total += value;
  return total / values.length;
}

/** Sample standard deviation (divides by n − 1); `null` for fewer than two values. */
export function sampleStd(values: readonly number[]): number | null {
  if (values.length < 2) return null;
  const center = mean(values);
  let squares = 0;
  for (const value of values) squares += (value - center) ** 2;
  return Math.sqrt(squares / (values.length - 1));
}

function summarise(values: readonly (number | null)[]): Summary {
  const known = values.filter((value): value is number => value !== null);
  if (known.length < values.length) return { mean: null, std: null };
  return { mean: mean(known), std: sampleStd(known) };
}

function fieldOf(run: RunMetrics, field: SummaryField): number | null {
  if (field !== "trainablePercent") return run[field] ?? null;
  return run.totalParams ? 100 * run.trainableParams / run.totalParams : null;
}

function buildRow(method: string, runs: RunMetrics[]): MethodRow {
  const sorted = [...runs].sort((a, b) => a.seed - b.seed);
  const row = {
    method,
    baseline: sorted.some((run) => run.baseline === true),
    seeds: sorted.map((run) => run.seed),
  } as MethodRow;
  for (const field of INTERVAL_FIELDS) {
    row[field] = [
      mean(sorted.map((run) => run[field][0])),
      mean(sorted.map((run) => run[field][1])),
    ];
  }
  for (const field of SUMMARY_FIELDS) {
    row[field] = summarise(sorted.map((run) => fieldOf(run, field)));
  }
  return row;
}

/**
 * Validates every run and groups the runs by method into one row each. Returns the rows in the
 * order methods first appear in `runs`. Throws {@linkcode ReportInputError} for an empty input,
 * an invalid run (see {@linkcode validateRunMetrics}), or two runs with the same method and seed.
 */
export function buildMetricsTable(runs: readonly RunMetrics[]): MetricsTable {
  if (runs.length === 0) {
    throw new ReportInputError("report", "runs", "is empty: no evaluated run to tabulate");
  }
  const byMethod = new Map<string, RunMetrics[]>();
  for (const run of runs) {
    validateRunMetrics(run);
    const group = byMethod.get(run.method) ?? [];
    if (group.some((other) => other.seed === run.seed)) {
      throw new ReportInputError(
        `method=${run.method} seed=${run.seed}`,
        "seed",
        "appears twice: each method × seed must be evaluated once",
      );
    }
    group.push(run);
    byMethod.set(run.method, group);
  }
  return { rows: [...byMethod].map(([method, group]) => buildRow(method, group)) };
}
