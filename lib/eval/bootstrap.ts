/**
 * Deterministic bootstrap over test examples. The random numbers come from our own seeded
 * generator (mulberry32), so the same seed gives the same interval on every platform and Deno
 * version. {@link bootstrapMeans} is the one resampling; intervals of means, of paired
 * differences and of any other statistic of the means are read off its resamples.
 *
 * @module
 */

import { seededRandom } from "../util/random.ts";
import { quantileSorted } from "../util/stats.ts";

/** A confidence interval of a mean. */
export interface ConfidenceInterval {
  /** Lower bound (the (1-confidence)/2 quantile of the bootstrap statistics). */
  low: number;
  /** Upper bound (the (1+confidence)/2 quantile of the bootstrap statistics). */
  high: number;
}

/** Settings of one bootstrap: resamples, seed and confidence (default 0.95). */
export interface BootstrapOptions {
  /** Number of resamples. */
  samples: number;
  /** Seed of the resampling. */
  seed: number;
  /** Two-sided confidence of the intervals; default 0.95. */
  confidence?: number;
}

/**
 * The means of several columns of per-item values under one shared resampling: each of
 * `samples` resamples draws n item indices with replacement, and every column is averaged over
 * the same indices. Returns one Float64Array of `samples` means per column (in resample order),
 * so statistics of several columns (differences, ratios) stay paired. Throws a RangeError when
 * there are no items, `samples` < 1, or the columns differ in length.
 */
export function bootstrapMeans(columns: Float64Array[], opts: BootstrapOptions): Float64Array[] {
  const n = columns[0]?.length ?? 0;
  if (n === 0) throw new RangeError("bootstrap needs at least one item");
  if (!(opts.samples >= 1)) {
    throw new RangeError(`bootstrap samples must be ≥ 1, got ${opts.samples}`);
  }
  if (columns.some((column) => column.length !== n)) {
    throw new RangeError("bootstrap columns differ in length");
  }
  const random = seededRandom(opts.seed);
  const sampleMeans = columns.map(() => new Float64Array(opts.samples));
  const sums = new Float64Array(columns.length);
  for (let s = 0; s < opts.samples; s++) {
    sums.fill(0);
    for (let k = 0; k < n; k++) {
      const index = Math.floor(random() * n);
      for (let c = 0; c < columns.length; c++) sums[c] += columns[c][index];
    }
    for (let c = 0; c < columns.length; c++) sampleMeans[c][s] = sums[c] / n;
  }
  return sampleMeans;
}

/**
 * The percentile interval of bootstrap statistics (one value per resample), at `confidence`
 * (default 0.95). Throws a RangeError on an empty list.
 */
export function percentileInterval(
  statistics: ArrayLike<number>,
  confidence = 0.95,
): ConfidenceInterval {
  const sorted = Float64Array.from(statistics).sort();
  return {
    low: quantileSorted(sorted, (1 - confidence) / 2),
    high: quantileSorted(sorted, (1 + confidence) / 2),
  };
}

/**
 * Percentile-bootstrap confidence intervals of the means of several columns of per-item
 * values that share one resampling (see {@link bootstrapMeans}). Throws as it does.
 */
export function bootstrapMeanIntervals(
  columns: Float64Array[],
  opts: BootstrapOptions,
): ConfidenceInterval[] {
  return bootstrapMeans(columns, opts).map((means) => percentileInterval(means, opts.confidence));
}
