import { deepStrictEqual, equal } from "node:assert/strict";
import { scorePair, tokenize } from "../lib/eval/mod.ts";

Deno.test("rouge tokenizer: lowercase, every character outside a-z0-9 separates", () => {
  deepStrictEqual(tokenize("Don't STOP-me now!"), ["don", "t", "stop", "me", "now"]);
  deepStrictEqual(tokenize("café au lait, 3.14"), ["caf", "au", "lait", "3", "14"]);
  deepStrictEqual(tokenize(" \t\r\n😀 "), []);
  deepStrictEqual(tokenize("Running studies", { stem: true }), ["run", "studi"]);
});

Deno.test("rouge: precision, recall and F follow rouge-score for n-grams and LCS", () => {
  const scores = scorePair("the cat sat on the mat", "the cat was on the mat today");
  // Unigrams: the×2, cat, on, mat match → 5 of 6 predicted, 5 of 7 reference.
  equal(scores.rouge1.precision, 5 / 6);
  equal(scores.rouge1.recall, 5 / 7);
  equal(scores.rouge1.fmeasure, (2 * (5 / 6) * (5 / 7)) / (5 / 6 + 5 / 7));
  // Bigrams: "the cat", "on the", "the mat" → 3 of 5 and 3 of 6.
  equal(scores.rouge2.precision, 3 / 5);
  equal(scores.rouge2.recall, 3 / 6);
  // LCS "the cat on the mat" = 5.
  equal(scores.rougeL.precision, 5 / 6);
  equal(scores.rougeL.recall, 5 / 7);
  deepStrictEqual(scores.rougeLsum, scores.rougeL);
});

Deno.test("rouge: empty texts score zero without dividing by zero", () => {
  for (const [prediction, reference] of [["", "a b"], ["a b", ""], ["", ""], ["!!", "?"]]) {
    const scores = scorePair(prediction, reference);
    for (const score of Object.values(scores)) {
      deepStrictEqual(score, { precision: 0, recall: 0, fmeasure: 0 });
    }
  }
});

Deno.test("rougeLsum: union LCS over newline-separated sentences (Lin 2004 example)", () => {
  const scores = scorePair("w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5", "w1 w2 w3 w4 w5");
  // Union LCS of the reference sentence with both candidates: w1 w2 w3 w5.
  equal(scores.rougeLsum.recall, 4 / 5);
  equal(scores.rougeLsum.precision, 4 / 10);
  // rougeL ignores sentences: LCS of the whole token sequences is w1 w2 w3 w5 too here,
  equal(scores.rougeL.recall, 4 / 5);
  // but only "\n" splits sentences for rougeLsum; "." does not.
  const dotted = scorePair("w1 w2 w6 w7 w8. w1 w3 w8 w9 w5", "w1 w2 w3 w4 w5");
  deepStrictEqual(dotted.rougeLsum, dotted.rougeL);
});

Deno.test("rougeLsum: backtrack ties move up (drop the reference token) as rouge-score does", () => {
  // Reference "a b" vs candidate "b a": LCS length 1; rouge-score's backtrack keeps "a".
  // With a second candidate sentence "b", the union is {a, b}: recall 1. Breaking the tie the
  // other way would keep "b" twice and give recall 1/2.
  const scores = scorePair("b a\nb", "a b");
  equal(scores.rougeLsum.recall, 1);
  equal(scores.rougeLsum.precision, 2 / 3);
});

Deno.test("rouge tokenizer: the only non-ASCII characters that lowercase into a-z are İ and K", () => {
  // Python: "İ".lower() == "i\u0307", "\u212a".lower() == "k" (checked over all code points).
  deepStrictEqual(tokenize("İstanbul \u212aelvin"), ["i", "stanbul", "kelvin"]);
  const scores = scorePair("İstanbul \u212aelvin", "i stanbul kelvin");
  equal(scores.rouge1.fmeasure, 1);
  equal(scores.rouge2.fmeasure, 1);
});
