// Seed 0 is the default seed everywhere; tfjs reads a seed of 0 as "unseeded" and draws from
// Math.random, so every seeded initialisation must map it to a non-zero tfjs seed.
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { initEngine } from "../lib/engine/mod.ts";
import { createGPT2, type GPT2Config } from "../lib/model/mod.ts";
import { methodNamed } from "../lib/peft/mod.ts";

const config: GPT2Config = {
  nLayer: 1,
  nHead: 2,
  nEmbd: 16,
  nPositions: 32,
  vocabSize: 64,
  layerNormEpsilon: 1e-5,
  activationFunction: "gelu_new",
  dropout: 0.1,
};

async function trainableValues(method: string, raw: Record<string, unknown>): Promise<number[]> {
  const model = createGPT2(config, 0);
  const tuning = methodNamed(method);
  const applied = tuning.apply(model, tuning.parseConfig(raw, method), 0);
  const values: number[] = [];
  for (const v of applied.trainable.values()) values.push(...(await v.data()));
  for (const v of model.params.values()) values.push(...(await v.data()));
  applied.dispose();
  for (const v of model.params.values()) v.dispose();
  return values;
}

Deno.test("seed 0: GPT-2 init, LoRA A and a random soft prompt are identical run to run", async () => {
  await initEngine({ backend: "cpu" });
  assert.deepEqual(
    await trainableValues("lora", { r: 2 }),
    await trainableValues("lora", { r: 2 }),
  );
  assert.deepEqual(
    await trainableValues("prompt", { soft_tokens: 2, init: "random" }),
    await trainableValues("prompt", { soft_tokens: 2, init: "random" }),
  );
});

Deno.test("seed 0: training-mode dropout gives the same logits run to run", async () => {
  await initEngine({ backend: "cpu" });
  const model = createGPT2(config, 0);
  const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6]], undefined, "int32");
  const first = model.forward(ids, { training: true, seed: 0 });
  const second = model.forward(ids, { training: true, seed: 0 });
  assert.deepEqual(await first.data(), await second.data());
  tf.dispose([ids, first, second, ...model.params.values()]);
});
