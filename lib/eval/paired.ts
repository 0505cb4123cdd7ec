/**
 * Paired comparisons of methods scored on the same test examples: one bootstrap resampling of
 * the examples is shared by every method and metric, so a difference (or any other statistic of
 * the means) is computed inside each resample and its interval reflects only the variation that
 * matters for the comparison.
 *
 * @module
 */

import {
  bootstrapMeans,
  type BootstrapOptions,
  type ConfidenceInterval,
  percentileInterval,
} from "./bootstrap.ts";

/** Per-example scores of one method, by metric name; every array in the same example order. */
export type ExampleScores = Record<string, Float64Array>;

/** A statistic of the methods' mean scores, evaluated on the full set and in every resample. */
export type MeanStatistic = (mean: (method: string, metric: string) => number) => number;

/** A statistic's value on the full test set and its paired-bootstrap interval. */
export interface PairedEstimate {
  /** Value on the full test set. */
  value: number;
  /** Percentile interval over the shared resamples. */
  interval: ConfidenceInterval;
}

/** Whether an interval excludes 0, i.e. the sign of the estimate is supported by the data. */
export function excludesZero(interval: ConfidenceInterval): boolean {
  return interval.low > 0 || interval.high < 0;
}

/** One shared resampling of the test examples over several methods' per-example scores. */
export class PairedBootstrap {
  private readonly index = new Map<string, number>();
  private readonly full: number[] = [];
  private readonly resampled: Float64Array[];
  /** Number of test examples. */
  readonly examples: number;

  /**
   * Resamples `scores` (method → metric → per-example values, all of one length) once with
   * `opts`. Throws a RangeError when methods disagree on the number of examples or there are
   * none (see `bootstrapMeans`).
   */
  constructor(scores: Map<string, ExampleScores>, readonly opts: BootstrapOptions) {
    const columns: Float64Array[] = [];
    for (const [method, metrics] of scores) {
      for (const [metric, values] of Object.entries(metrics)) {
        this.index.set(`${method}\u0000${metric}`, columns.length);
        columns.push(values);
        this.full.push(values.reduce((sum, v) => sum + v, 0) / values.length);
      }
    }
    this.examples = columns[0]?.length ?? 0;
    this.resampled = bootstrapMeans(columns, opts);
  }

  private column(method: string, metric: string): number {
    const column = this.index.get(`${method}\u0000${metric}`);
    if (column === undefined) throw new RangeError(`no scores for ${method} ${metric}`);
    return column;
  }

  /** `statistic` on the full set and its interval over the shared resamples. */
  estimate(statistic: MeanStatistic): PairedEstimate {
    const value = statistic((method, metric) => this.full[this.column(method, metric)]);
    const values = new Float64Array(this.opts.samples);
    for (let s = 0; s < values.length; s++) {
      values[s] = statistic((method, metric) => this.resampled[this.column(method, metric)][s]);
    }
    return { value, interval: percentileInterval(values, this.opts.confidence) };
  }

  /** Mean of `a` minus mean of `b` on `metric`, with its paired interval. */
  difference(a: string, b: string, metric: string): PairedEstimate {
    return this.estimate((mean) => mean(a, metric) - mean(b, metric));
  }
}
