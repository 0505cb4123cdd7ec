/**
 * The deterministic train/validation/test split by a hash of the example id, the same rule
 * as `data/arxiv-cs-abstract-title/SOURCE.md`: `b = int(sha256(id).hexdigest(), 16) % 100`;
 * train if b < 80, validation if b < 90, test otherwise. It does not depend on row order.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** A dataset split name. */
export type SplitName = "train" | "validation" | "test";

/** The split names in pipeline order. */
export const SPLIT_NAMES: readonly SplitName[] = ["train", "validation", "test"];

/** Buckets (of 100) below which an id goes to train. */
export const TRAIN_BUCKETS_BELOW = 80;
/** Buckets (of 100) below which an id goes to validation (if not train). */
export const VALIDATION_BUCKETS_BELOW = 90;
const BUCKET_COUNT = 100;

/**
 * Returns `int(sha256(utf8(id)).hexdigest(), 16) % 100`, computed exactly over the digest
 * bytes (no 256-bit integer needed). Never throws.
 */
export function hashBucket(id: string): number {
  const digest = createHash("sha256").update(id, "utf8").digest();
  let remainder = 0;
  for (const byte of digest) remainder = (remainder * 256 + byte) % BUCKET_COUNT;
  return remainder;
}

/** Returns the split an id belongs to under the sha256 rule above. Never throws. */
export function splitOf(id: string): SplitName {
  const bucket = hashBucket(id);
  if (bucket < TRAIN_BUCKETS_BELOW) return "train";
  if (bucket < VALIDATION_BUCKETS_BELOW) return "validation";
  return "test";
}

/**
 * Partitions items by the split of their `id`, keeping their order within each split.
 * Never throws.
 */
export function splitByHash<T extends { id: string }>(items: Iterable<T>): Record<SplitName, T[]> {
  const splits: Record<SplitName, T[]> = { train: [], validation: [], test: [] };
  for (const item of items) splits[splitOf(item.id)].push(item);
  return splits;
}
