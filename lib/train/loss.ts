/** The loss the trainer minimises and validation reports: next-token cross-entropy on scored positions. */
import * as tf from "@tensorflow/tfjs-core";
import { concatScalars } from "../engine/mod.ts";
import { type LanguageModel, lmLoss } from "../model/gpt2.ts";
import type { AppliedMethod, TunableModel } from "../peft/types.ts";
import { type Batch, collate, scoredTokens, type TrainingExample } from "./batch.ts";

/**
 * A model the trainer can run: the tunable slice plus hidden states `[B, P+T, C]` and the LM head
 * (`GPT2` fits), so that only the positions with a scored label get logits.
 */
export type TrainableModel = TunableModel & LanguageModel;

/** What a forward pass needs from a tuning method (nothing, for the untuned base). */
export type ForwardHooks = Pick<AppliedMethod, "prefix" | "setTraining">;

/**
 * Mean next-token loss of a batch on scored positions; the soft prompt, if any, is never scored.
 * The first `frozenBlocks` blocks run off the gradient tape (see `frozenBlocksOf`).
 */
export function batchLoss(
  model: TrainableModel,
  method: ForwardHooks,
  batch: Batch,
  training: boolean,
  seed: number,
  frozenBlocks = 0,
): tf.Scalar {
  const B = batch.ids.length;
  const T = batch.ids[0].length;
  method.setTraining?.(training, seed);
  const ids = tf.tensor2d(batch.ids, [B, T], "int32");
  const prefix = method.prefix?.(B); // (B, P, C)
  return lmLoss(model, ids, batch.labels, { prefix, training, seed, frozenBlocks });
}

/**
 * Token-weighted mean validation loss over `examples` (NaN when nothing is scored). The batch
 * losses stay on the device until the end and are read back at once.
 */
export async function validationLossOf(
  model: TrainableModel,
  method: ForwardHooks,
  examples: TrainingExample[],
  batchSize: number,
  padId: number,
): Promise<number> {
  const losses: tf.Scalar[] = [];
  const weights: number[] = [];
  try {
    for (let i = 0; i < examples.length; i += batchSize) {
      const batch = collate(examples.slice(i, i + batchSize), padId);
      const scored = scoredTokens(batch);
      if (scored === 0 || batch.ids[0].length < 2) continue;
      losses.push(tf.tidy(() => batchLoss(model, method, batch, false, 0)));
      weights.push(scored);
    }
    if (losses.length === 0) return Number.NaN;
    const stacked = concatScalars(losses);
    const values = await stacked.data();
    stacked.dispose();
    let total = 0;
    let count = 0;
    values.forEach((loss, i) => {
      total += loss * weights[i];
      count += weights[i];
    });
    return total / count;
  } finally {
    tf.dispose(losses);
  }
}
