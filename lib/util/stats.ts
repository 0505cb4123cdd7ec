/**
 * Small statistics shared by evaluation (bootstrap intervals) and data reports (length quantiles).
 *
 * @module
 */

/**
 * The q-th quantile (0..1) of sorted values with linear interpolation between closest ranks
 * (numpy's default `np.percentile` method). Throws a RangeError on an empty array.
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) throw new RangeError("quantile of an empty list");
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
}
