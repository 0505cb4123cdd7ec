/**
 * Deterministic bootstrap confidence intervals for a corpus mean. The random numbers come from
 * our own seeded generator (mulberry32), so the same seed gives the same interval on every
 * platform and Deno version.
 *
 * @module
 */

import { seededRandom } from "../util/random.ts";
import { quantileSorted } from "../util/stats.ts";

/** A confidence interval of a mean. */
export interface ConfidenceInterval {
  /** Lower bound (the (1-confidence)/2 quantile of the bootstrap means). */
  low: number;
  /** Upper bound (the (1+confidence)/2 quantile of the bootstrap means). */
  high: number;
}

/**
 * Percentile-bootstrap confidence intervals of the means of several columns of per-item
 * values that share one resampling (each sample draws n item indices with replacement and
 * averages every column over them). `confidence` defaults to 0.95. Throws a RangeError when
 * there are no items, `samples` < 1, or the columns differ in length.
 */
export function bootstrapMeanIntervals(
  columns: Float64Array[],
  opts: { samples: number; seed: number; confidence?: number },
): ConfidenceInterval[] {
  const n = columns[0]?.length ?? 0;
  if (n === 0) throw new RangeError("bootstrap needs at least one item");
  if (!(opts.samples >= 1)) {
    throw new RangeError(`bootstrap samples must be ≥ 1, got ${opts.samples}`);
  }
  if (columns.some((column) => column.length !== n)) {
    throw new RangeError("bootstrap columns differ in length");
  }
  const confidence = opts.confidence ?? 0.95;
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
  return sampleMeans.map((means) => {
    means.sort();
    return {
      low: quantileSorted(means, (1 - confidence) / 2),
      high: quantileSorted(means, (1 + confidence) / 2),
    };
  });
}
