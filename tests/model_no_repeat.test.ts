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

Deno.test("no-repeat n-grams: greedy generation of a tiny random model never repeats a trigram", async () => {
  await initEngine({ backend: "cpu" });
  // Random tiny models fall into loops quickly; with the ban no trigram appears twice.
  const model = createGPT2({
    nLayer: 1,
    nHead: 2,
    nEmbd: 16,
    nPositions: 96,
    vocabSize: 12,
    layerNormEpsilon: 1e-5,
    activationFunction: "gelu_new",
    dropout: 0,
  }, 3);
  const prompts = [[1, 2, 3], [4, 5]];
  const free = generate(model, prompts, { maxNew: 60 });
  assert.ok(
    free.some((row) => new Set(ngrams(row, 3)).size < ngrams(row, 3).length),
    "without the ban the model repeats itself (else this test proves nothing)",
  );
  for (const row of generate(model, prompts, { maxNew: 60, noRepeatNgramSize: 3 })) {
    const grams = ngrams(row, 3);
    assert.equal(new Set(grams).size, grams.length, `repeated trigram in ${row}`);
  }
  for (const v of model.params.values()) v.dispose();
});
