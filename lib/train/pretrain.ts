/** Pretraining a GPT-2 from scratch: every weight trains on plain language modelling. */
import { select } from "../peft/select.ts";
import type { TrainOptions } from "./options.ts";
import {
  type TokenizedExample,
  train,
  type TrainableModel,
  type TrainContext,
  type TrainResult,
} from "./trainer.ts";

/**
 * Language-modelling examples from token sequences: each sequence is followed by `eosId`, all are
 * concatenated and cut into blocks of `blockSize` tokens (the last, shorter block is kept when it
 * has at least 2 tokens); every token is scored (labels = ids). Throws RangeError for blockSize < 2.
 */
export function languageModelExamples(
  sequences: number[][],
  blockSize: number,
  eosId: number,
): TokenizedExample[] {
  if (!(Number.isInteger(blockSize) && blockSize >= 2)) {
    throw new RangeError(`blockSize must be an integer ≥ 2, got ${blockSize}`);
  }
  const stream: number[] = [];
  for (const sequence of sequences) stream.push(...sequence, eosId);
  const examples: TokenizedExample[] = [];
  for (let start = 0; start + 2 <= stream.length; start += blockSize) {
    const ids = stream.slice(start, start + blockSize);
    examples.push({ ids, labels: [...ids] });
  }
  return examples;
}

/**
 * Trains every weight of `model` (the `full` method with `layers: all`) on language-modelling
 * examples, e.g. from `languageModelExamples`; same options, checkpoints and result as `train`.
 * Afterwards save the model with `saveCheckpoint` from `lib/model`.
 */
export async function pretrain(
  model: TrainableModel,
  data: { train: TokenizedExample[]; validation: TokenizedExample[] },
  opts: TrainOptions,
  ctx: TrainContext = {},
): Promise<TrainResult> {
  const everything = select.apply(model, { layers: "all", lastBlocks: 1 }, opts.seed);
  try {
    return await train(model, everything, data, opts, ctx);
  } finally {
    everything.dispose();
  }
}
