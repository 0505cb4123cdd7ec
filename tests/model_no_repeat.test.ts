import assert from "node:assert/strict";
import { initEngine } from "../lib/engine/mod.ts";
import { createGPT2, generate } from "../lib/model/mod.ts";
import { repeatedNgramEnds } from "../lib/model/generate.ts";

function ngrams(tokens: number[], n: number): string[] {
  const found: string[] = [];
  for (let i = 0; i + n <= tokens.length; i++) found.push(tokens.slice(i, i + n).join(","));
  return found;
}

Deno.test("no-repeat n-grams: the tokens that would complete an earlier n-gram are banned", () => {
  assert.deepEqual([...repeatedNgramEnds([5, 6, 7, 5, 6], 3)], [7]);
  assert.deepEqual([...repeatedNgramEnds([1, 2, 1, 3, 1], 2)].sort(), [2, 3]);
  assert.deepEqual([...repeatedNgramEnds([4, 4], 1)], [4]);
  assert.equal(repeatedNgramEnds([1, 2], 3).size, 0);
});

function tinyModel() {
  // Random tiny models fall into loops quickly: without a ban they repeat trigrams.
  return createGPT2({
    nLayer: 1,
    nHead: 2,
    nEmbd: 16,
    nPositions: 96,
    vocabSize: 12,
    layerNormEpsilon: 1e-5,
    activationFunction: "gelu_new",
    dropout: 0,
  }, 3);
}

const unique = (grams: string[]) => new Set(grams).size === grams.length;

/** Whether a trigram ending in the output (after `prompt`) already occurred earlier in the row. */
function outputRepeats(prompt: number[], output: number[]): boolean {
  const grams = ngrams([...prompt, ...output], 3);
  return grams.some((gram, i) => i + 3 > prompt.length && grams.indexOf(gram) < i);
}

Deno.test("no-repeat n-grams: as in Hugging Face, no trigram of prompt + output repeats (greedy and beam search)", async () => {
  await initEngine({ backend: "cpu" });
  const model = tinyModel();
  const prompts = [[1, 2, 3], [4, 5]];
  for (const beams of [1, 3]) {
    const free = await generate(model, prompts, { maxNew: 40, beams });
    assert.ok(
      free.some((row) => !unique(ngrams(row, 3))),
      `beams ${beams}: without the ban the model repeats itself (else this test proves nothing)`,
    );
    const banned = await generate(model, prompts, { maxNew: 40, beams, noRepeatNgramSize: 3 });
    banned.forEach((row, b) => {
      assert.ok(!outputRepeats(prompts[b], row), `beams ${beams}: repeated trigram in ${row}`);
    });
  }
  for (const v of model.params.values()) v.dispose();
});

Deno.test("no-repeat n-grams: the generated-only variant may copy the prompt but never repeats itself", async () => {
  await initEngine({ backend: "cpu" });
  const model = tinyModel();
  // A prompt that ends with what the free model generates next, so copying it is the likely move.
  const [free] = await generate(model, [[1, 2, 3]], { maxNew: 6 });
  const prompt = [1, 2, 3, ...free];
  const whole = (await generate(model, [prompt], { maxNew: 30, noRepeatNgramSize: 3 }))[0];
  const generatedOnly =
    (await generate(model, [prompt], { maxNew: 30, noRepeatGeneratedNgramSize: 3 }))[0];
  assert.ok(unique(ngrams(generatedOnly, 3)), `repeated trigram in ${generatedOnly}`);
  assert.ok(!outputRepeats(prompt, whole), `repeated trigram in ${prompt} + ${whole}`);
  assert.ok(
    outputRepeats(prompt, generatedOnly),
    "the generated-only ban let the output repeat a prompt trigram (the whole-sequence ban would not)",
  );
  for (const v of model.params.values()) v.dispose();
});
