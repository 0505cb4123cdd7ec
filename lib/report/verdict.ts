/**
 * The verdict: the conclusions a comparison of tuning methods is read for, computed from the
 * data. Every claim rests on one paired bootstrap over the test examples that all methods were
 * scored on (the same resamples for every method, metric and statistic), and shows its interval;
 * a claim whose interval contains 0 says "not distinguishable" instead of ranking.
 *
 * @module
 */

import { type ExampleScores, excludesZero, PairedBootstrap } from "../eval/paired.ts";
import { EXAMPLE_SCORE_FIELDS, ReportInputError, type RunMetrics } from "./run_metrics.ts";
import type { MethodRow, MetricsTable } from "./table.ts";

/** A ROUGE metric the verdict can rank by. */
export type VerdictMetric = typeof EXAMPLE_SCORE_FIELDS[number];

/** Display names of the metrics. */
const METRIC_NAMES: Record<VerdictMetric, string> = {
  rouge1: "ROUGE-1",
  rouge2: "ROUGE-2",
  rougeL: "ROUGE-L",
};

/** Name of the untuned-base baseline row; quality gains per cost are measured from it. */
export const BASE_METHOD = "base";
/** Name of the lead-words baseline row. */
export const LEAD_METHOD = "lead";

const BYTES_PER_MB = 1e6;
const PARAMS_PER_UNIT = 1e3;
/**
 * Training times within this ratio of the fastest count as tied in the verdict: a measured time
 * moves by more than that between runs on a shared machine.
 */
const TRAIN_TIME_TIE_RATIO = 0.1;

/** One paired difference of means (a − b), as fractions of 1, with its 95% interval. */
export interface PairedDifference {
  /** First method. */
  a: string;
  /** Second method. */
  b: string;
  /** The ROUGE metric. */
  metric: VerdictMetric;
  /** Mean of a minus mean of b over the shared test examples. */
  difference: number;
  /** Paired-bootstrap interval `[low, high]` of the difference. */
  interval: [number, number];
  /** Whether the interval excludes 0. */
  distinguishable: boolean;
}

/** One sentence of the verdict with the estimate it rests on. */
export interface Claim {
  /** What is claimed: `best-quality`, `over-base`, `over-lead`, `per-parameter`, `per-memory`, `cheapest`. */
  kind: string;
  /** The sentence, with figures as ROUGE points (×100) and intervals. */
  text: string;
  /** The method the claim names, when it names one. */
  method?: string;
  /** The estimate, its interval and whether the interval excludes 0, when the claim has one. */
  estimate?: { value: number; interval: [number, number]; distinguishable: boolean };
}

/** The verdict of one table. */
export interface Verdict {
  /** Metric the claims rank by. */
  metric: VerdictMetric;
  /** Test examples every method was scored on. */
  examples: number;
  /** Bootstrap settings shared by every interval. */
  bootstrap: { samples: number; seed: number; confidence: number };
  /** Every pair of methods on every metric (a listed before b in table order). */
  pairwise: PairedDifference[];
  /** The conclusions, in reading order. */
  claims: Claim[];
}

/** Options of {@linkcode computeVerdict}. */
export interface VerdictOptions {
  /** Metric to rank by; default rouge1. */
  metric?: VerdictMetric;
  /** Bootstrap resamples; default 1000. */
  samples?: number;
  /** Bootstrap seed; default 0. */
  seed?: number;
}

/** Per-example scores of each method over the examples every method predicted (seeds averaged). */
function exampleScores(
  table: MetricsTable,
  runs: readonly RunMetrics[],
): { scores: Map<string, ExampleScores>; examples: number } {
  const byId = table.rows.map((row) => {
    const own = runs.filter((run) => run.method === row.method);
    const sums = new Map<string, { n: number; totals: number[] }>();
    for (const run of own) {
      for (const sample of run.samples) {
        const values = EXAMPLE_SCORE_FIELDS.map((field) => sample[field]);
        if (values.some((value) => value === undefined)) {
          throw new ReportInputError(
            `method=${run.method} seed=${run.seed}`,
            `samples (id ${sample.id})`,
            "lack per-example scores (rouge1, rouge2, rougeL) for the paired comparison",
          );
        }
        const entry = sums.get(sample.id) ?? { n: 0, totals: values.map(() => 0) };
        entry.n++;
        values.forEach((value, i) => entry.totals[i] += value!);
        sums.set(sample.id, entry);
      }
    }
    // An example counts only when every seed of the method predicted it.
    return new Map(
      [...sums].filter(([, e]) => e.n === own.length).map(([id, e]) => [
        id,
        e.totals.map((total) => total / e.n),
      ]),
    );
  });
  const shared = [...byId[0].keys()].filter((id) => byId.every((scores) => scores.has(id)));
  const scores = new Map<string, ExampleScores>();
  table.rows.forEach((row, r) => {
    const metrics: ExampleScores = {};
    EXAMPLE_SCORE_FIELDS.forEach((field, f) => {
      metrics[field] = Float64Array.from(shared, (id) => byId[r].get(id)![f]);
    });
    scores.set(row.method, metrics);
  });
  return { scores, examples: shared.length };
}

/** ROUGE points with two decimals, signed: `+3.20`. */
function points(value: number, sign = false): string {
  const text = (value * 100).toFixed(2);
  return sign && value >= 0 ? `+${text}` : text;
}

function intervalText(interval: [number, number], scale = 100, digits = 2): string {
  return `[${(interval[0] * scale).toFixed(digits)}, ${(interval[1] * scale).toFixed(digits)}]`;
}

function versus(difference: PairedDifference): string {
  const verdict = difference.distinguishable ? "" : ", not distinguishable";
  return `${difference.b} ${points(difference.difference, true)} ${
    intervalText(difference.interval)
  }${verdict}`;
}

/**
 * Computes the pairwise differences and the claims of a table from the runs' per-example scores:
 * the best tuned method and how it compares with every other; what it adds over the untuned base
 * and over the lead baseline; the best gain over the base per trainable parameter and per MB of
 * peak training memory; and the cheapest methods (parameters, memory, time) among those not
 * distinguishable from the best. Returns null when the table has no tuned row. Throws
 * {@linkcode ReportInputError} when a run lacks per-example scores or no example is shared.
 */
export function computeVerdict(
  table: MetricsTable,
  runs: readonly RunMetrics[],
  options: VerdictOptions = {},
): Verdict | null {
  const metric = options.metric ?? "rouge1";
  const bootstrap = { samples: options.samples ?? 1000, seed: options.seed ?? 0, confidence: 0.95 };
  const tuned = table.rows.filter((row) => !row.baseline);
  if (tuned.length === 0) return null;
  const { scores, examples } = exampleScores(table, runs);
  if (examples === 0) {
    throw new ReportInputError(
      "report",
      "samples",
      "no test example was predicted by every method",
    );
  }
  const paired = new PairedBootstrap(scores, bootstrap);
  const difference = (a: string, b: string, on: VerdictMetric = metric): PairedDifference => {
    const estimate = paired.difference(a, b, on);
    const interval: [number, number] = [estimate.interval.low, estimate.interval.high];
    return {
      a,
      b,
      metric: on,
      difference: estimate.value,
      interval,
      distinguishable: excludesZero(estimate.interval),
    };
  };
  const pairwise: PairedDifference[] = [];
  for (const on of EXAMPLE_SCORE_FIELDS) {
    table.rows.forEach((a, i) =>
      table.rows.slice(i + 1).forEach((b) => pairwise.push(difference(a.method, b.method, on)))
    );
  }

  const name = METRIC_NAMES[metric];
  const meanOf = (method: string) => paired.estimate((mean) => mean(method, metric)).value;
  const ranked = [...tuned].sort((a, b) => meanOf(b.method) - meanOf(a.method));
  const best = ranked[0].method;
  const claims: Claim[] = [];
  const others = ranked.slice(1).map((row) => difference(best, row.method));
  claims.push({
    kind: "best-quality",
    method: best,
    text: `Best quality: ${best}, ${name} ${points(meanOf(best))}` +
      (others.length ? `; against ${others.map(versus).join("; ")}.` : "."),
  });

  const baselineRow = (method: string) =>
    table.rows.find((row) => row.baseline && row.method === method);
  for (
    const [kind, baseline, what] of [
      ["over-base", BASE_METHOD, "doing nothing (the untuned base)"],
      ["over-lead", LEAD_METHOD, "the lead-words extractor"],
    ] as const
  ) {
    if (!baselineRow(baseline)) continue;
    const gain = difference(best, baseline);
    const outcome = !gain.distinguishable
      ? "not distinguishable from it"
      : gain.difference > 0
      ? "better"
      : "worse";
    claims.push({
      kind,
      method: best,
      text: `Over ${what}: ${best} ${points(gain.difference, true)} ${
        intervalText(gain.interval)
      } ${name} points, ${outcome}.`,
      estimate: {
        value: gain.difference,
        interval: gain.interval,
        distinguishable: gain.distinguishable,
      },
    });
  }

  const hasBase = baselineRow(BASE_METHOD) !== undefined;
  const gainOver = (mean: (method: string, metric: string) => number, method: string) =>
    mean(method, metric) - (hasBase ? mean(BASE_METHOD, metric) : 0);
  const efficiencyClaim = (
    kind: string,
    cost: (row: MethodRow) => number | null,
    unit: string,
    scale: number,
  ) => {
    const candidates = tuned.filter((row) => (cost(row) ?? 0) > 0);
    if (candidates.length === 0) return;
    const per = (row: MethodRow) => (mean: (method: string, metric: string) => number) =>
      gainOver(mean, row.method) / (cost(row)! / scale);
    const ranking = candidates
      .map((row) => ({ row, value: paired.estimate(per(row)).value }))
      .sort((a, b) => b.value - a.value);
    const top = ranking[0].row;
    const gainWord = hasBase ? `${name} points gained over the base` : `${name} points`;
    let text = `Best ${gainWord} per ${unit}: ${top.method}, ${
      (ranking[0].value * 100).toPrecision(3)
    }`;
    let estimate: Claim["estimate"];
    if (ranking.length > 1) {
      const runnerUp = ranking[1].row;
      const lead = paired.estimate((mean) => per(top)(mean) - per(runnerUp)(mean));
      const interval: [number, number] = [lead.interval.low, lead.interval.high];
      const distinguishable = excludesZero(lead.interval);
      estimate = { value: lead.value, interval, distinguishable };
      text += `; ahead of ${runnerUp.method} by ${(lead.value * 100).toPrecision(3)} ${
        intervalText(interval, 100, 3)
      }${distinguishable ? "" : ", not distinguishable"}`;
    }
    claims.push({ kind, method: top.method, text: text + ".", estimate });
  };
  efficiencyClaim(
    "per-parameter",
    (row) => row.trainableParams.mean,
    `${PARAMS_PER_UNIT.toLocaleString("en-US")} trainable parameters`,
    PARAMS_PER_UNIT,
  );
  efficiencyClaim(
    "per-memory",
    (row) => row.peakTrainTensorBytes.mean,
    "MB of peak training tensor memory",
    BYTES_PER_MB,
  );

  const close = [ranked[0], ...ranked.slice(1).filter((_, i) => !others[i].distinguishable)];
  // The cheapest rows by `cost`: every row within `tieRatio` of the lowest (a measured time
  // moves between runs, so two close times are not ranked).
  const cheapest = (cost: (row: MethodRow) => number | null, tieRatio: number) => {
    const costed = close.filter((row) => cost(row) !== null);
    const lowest = Math.min(...costed.map((row) => cost(row)!));
    return costed.filter((row) => cost(row)! <= lowest * (1 + tieRatio))
      .sort((a, b) => cost(a)! - cost(b)!);
  };
  const parts = ([
    ["trainable parameters", cheapest((row) => row.trainableParams.mean, 0), ""],
    ["peak training memory", cheapest((row) => row.peakTrainTensorBytes.mean, 0), ""],
    [
      "training time",
      cheapest((row) => row.trainSeconds.mean, TRAIN_TIME_TIE_RATIO),
      ` (within ${TRAIN_TIME_TIE_RATIO * 100}% of each other)`,
    ],
  ] as [string, MethodRow[], string][]).filter(([, rows]) => rows.length > 0);
  const named = ([cost, rows, tie]: [string, MethodRow[], string]) =>
    `${cost}: ${rows.map((row) => row.method).join(" and ")}${rows.length > 1 ? tie : ""}`;
  claims.push({
    kind: "cheapest",
    method: parts[0]?.[1][0].method,
    text: `Not distinguishable from ${best} on ${name}: ${
      close.map((row) => row.method).join(", ")
    }. Cheapest of them by ${parts.map(named).join("; by ")}.`,
  });
  return { metric, examples, bootstrap, pairwise, claims };
}
