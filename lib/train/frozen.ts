/** Which leading GPT-2 blocks training may run off the gradient tape. */
import type { AppliedMethod } from "../peft/types.ts";

/**
 * The block a trainable variable lives in, by its name's GPT-2 layout: `h.{i}.…` (a base weight
 * or an adapter on one of its layers) is block i, `ln_f.…` comes after every block. Any other name
 * (the embeddings, a soft prompt, a name this rule does not know) may feed block 0: 0.
 */
function blockOf(name: string, nLayer: number): number {
  const block = /^h\.(\d+)\./.exec(name);
  if (block) return Number(block[1]);
  return name.startsWith("ln_f.") ? nLayer : 0;
}

/**
 * How many leading blocks lie entirely below the first trainable variable, so that no gradient
 * needs them (the model's `frozenBlocks` option): 0 with a soft prompt, which enters below block 0.
 */
export function frozenBlocksOf(method: AppliedMethod, nLayer: number): number {
  if (method.prefix) return 0;
  let first = nLayer;
  for (const name of method.trainable.keys()) first = Math.min(first, blockOf(name, nLayer));
  return first;
}
