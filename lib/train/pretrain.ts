/** Pretraining a GPT-2 from scratch: every weight trains on plain language modelling. */
import * as tf from "@tensorflow/tfjs-core";
import { concatScalars } from "../engine/mod.ts";
import { lmLoss } from "../model/gpt2.ts";
import { full } from "../peft/full.ts";
import type { TrainOptions } from "./options.ts";
import { ignoreLabel, type TrainingExample } from "./batch.ts";
import type { TrainableModel } from "./loss.ts";
import { train, type TrainContext, type TrainResult } from "./trainer.ts";

/**
 * Language-modelling examples from token sequences: each sequence is followed by `eosId`, all are
 * concatenated and cut into blocks of `blockSize` tokens (the last, shorter block is kept when it
 * has at least 2 tokens); every token is scored (labels = ids). Throws RangeError for blockSize < 2.
 */
export function languageModelExamples(
  sequences: number[][],
  blockSize: number,
  eosId: number,
): TrainingExample[] {
  if (!(Number.isInteger(blockSize) && blockSize >= 2)) {
    throw new RangeError(`blockSize must be an integer ≥ 2, got ${blockSize}`);
  }
  const stream: number[] = [];
  for (const sequence of sequences) stream.push(...sequence, eosId);
  const examples: TrainingExample[] = [];
  for (let start = 0; start + 2 <= stream.length; start += blockSize) {
    const ids = stream.slice(start, start + blockSize);
    examples.push({ ids, labels: [...ids] });
  }
  return examples;
}

/**
 * Language-modelling examples from one token stream (documents already separated by
 * `<|endoftext|>`): consecutive, non-overlapping blocks of `blockSize` tokens, every token scored.
 * A last block shorter than `blockSize` is dropped, so every block trains every position.
 */
export function streamBlocks(stream: ArrayLike<number>, blockSize: number): TrainingExample[] {
  if (!(Number.isInteger(blockSize) && blockSize >= 2)) {
    throw new RangeError(`blockSize must be an integer ≥ 2, got ${blockSize}`);
  }
  const examples: TrainingExample[] = [];
  for (let start = 0; start + blockSize <= stream.length; start += blockSize) {
    const ids = Array.from({ length: blockSize }, (_, i) => stream[start + i]);
    examples.push({ ids, labels: ids });
  }
  return examples;
}

/**
 * Mean next-token loss (nats) of full-length `examples` by position bucket: entry k covers the
 * predictions made at positions [k·bucketSize, (k+1)·bucketSize) (the token at position p+1 given
 * positions 0..p). Shows whether late positions are as well trained as early ones.
 */
export async function lossByPosition(
  model: TrainableModel,
  examples: TrainingExample[],
  bucketSize: number,
  batchSize = 16,
): Promise<number[]> {
  const length = Math.min(...examples.map((e) => e.ids.length));
  const buckets = Math.ceil((length - 1) / bucketSize);
  const totals = new Array(buckets).fill(0);
  const counts = new Array(buckets).fill(0);
  for (let first = 0; first < examples.length; first += batchSize) {
    const batch = examples.slice(first, first + batchSize).map((e) => e.ids.slice(0, length));
    const ids = tf.tensor2d(batch, [batch.length, length], "int32");
    const losses: tf.Scalar[] = [];
    const scoredPerBucket: number[] = [];
    for (let k = 0; k < buckets; k++) {
      // labels[t] is predicted at position t-1: keep the labels whose prediction is in bucket k.
      const labels = batch.map((row) =>
        row.map((id, t) =>
          t >= 1 + k * bucketSize && t < 1 + (k + 1) * bucketSize ? id : ignoreLabel
        )
      );
      const scored = labels.reduce((n, row) => n + row.filter((l) => l !== ignoreLabel).length, 0);
      losses.push(lmLoss(model, ids, labels));
      scoredPerBucket.push(scored);
    }
    ids.dispose();
    const stacked = concatScalars(losses);
    tf.dispose(losses);
    const values = await stacked.data(); // one read-back per batch
    stacked.dispose();
    values.forEach((loss, k) => {
      totals[k] += loss * scoredPerBucket[k];
      counts[k] += scoredPerBucket[k];
    });
  }
  return totals.map((total, k) => total / counts[k]);
}

/**
 * Trains every weight of `model` (the `full` method with `layers: all`) on language-modelling
 * examples, e.g. from `languageModelExamples`; same options, checkpoints and result as `train`.
 * Afterwards save the model with `saveCheckpoint` from `lib/model`.
 */
export async function pretrain(
  model: TrainableModel,
  data: { train: TrainingExample[]; validation: TrainingExample[] },
  opts: TrainOptions,
  ctx: TrainContext = {},
): Promise<TrainResult> {
  const everything = full.apply(model, { layers: "all", lastBlocks: 1 }, opts.seed);
  try {
    return await train(model, everything, data, opts, ctx);
  } finally {
    everything.dispose();
  }
}
