import { equal, ok } from "node:assert/strict";
import {
  corpusRouge,
  type PairRouge,
  ROUGE_TYPES,
  type RougePair,
  RougeScorer,
  scorePair,
  seededRandom,
} from "../lib/eval/mod.ts";

const FIXTURES = new URL("./fixtures/rouge/", import.meta.url);
const TOLERANCE = 1e-6;

interface Expected extends Record<string, unknown> {
  n: number;
  pairs: PairRouge[];
}

async function readPairs(): Promise<RougePair[]> {
  const text = await Deno.readTextFile(new URL("pairs.jsonl", FIXTURES));
  return text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line));
}

async function checkAgainst(file: string, stem: boolean): Promise<void> {
  const pairs = await readPairs();
  const expected: Expected = JSON.parse(await Deno.readTextFile(new URL(file, FIXTURES)));
  const corpus = corpusRouge(pairs, { stem });
  equal(corpus.n, expected.n);
  equal(corpus.pairScores.length, expected.pairs.length);
  const mismatches: string[] = [];
  corpus.pairScores.forEach((scores, i) => {
    for (const type of ROUGE_TYPES) {
      for (const field of ["precision", "recall", "fmeasure"] as const) {
        const got = scores[type][field];
        const want = expected.pairs[i][type][field];
        if (!(Math.abs(got - want) <= TOLERANCE)) {
          mismatches.push(
            `pair ${i} ${type}.${field}: ${got} ≠ ${want} ${JSON.stringify(pairs[i])}`,
          );
        }
      }
    }
  });
  equal(mismatches.length, 0, mismatches.slice(0, 5).join("\n"));
  for (const type of ROUGE_TYPES) {
    ok(
      Math.abs(corpus[type].fmeasure - (expected[type] as number)) <= TOLERANCE,
      `${type} mean ${corpus[type].fmeasure} ≠ ${expected[type]}`,
    );
  }
}

Deno.test("rouge: every fixture pair and the means match rouge-score without stemming", async () => {
  await checkAgainst("expected.json", false);
});

Deno.test("rouge: every fixture pair and the means match rouge-score with Porter stemming", async () => {
  await checkAgainst("expected.stem.json", true);
});

Deno.test("rouge: scorePair agrees with the corpus scorer and its shared vocabulary is harmless", async () => {
  const pairs = await readPairs();
  const expected: Expected = JSON.parse(
    await Deno.readTextFile(new URL("expected.stem.json", FIXTURES)),
  );
  // Score in reverse order so the shared scorer's ids differ from the corpus run.
  for (let i = pairs.length - 1; i >= 0; i -= 7) {
    const scores = scorePair(pairs[i].prediction, pairs[i].reference, { stem: true });
    for (const type of ROUGE_TYPES) {
      ok(
        Math.abs(scores[type].fmeasure - expected.pairs[i][type].fmeasure) <= TOLERANCE,
        `pair ${i} ${type}`,
      );
    }
  }
});

Deno.test("rouge: a scorer whose token table grew over many distinct words still scores exactly", async () => {
  const pairs = await readPairs();
  const random = seededRandom(7);
  const word = () => Math.floor(random() * 1e9).toString(36) + "Ab";
  for (const [stem, file] of [[false, "expected.json"], [true, "expected.stem.json"]] as const) {
    const expected: Expected = JSON.parse(await Deno.readTextFile(new URL(file, FIXTURES)));
    const scorer = new RougeScorer({ stem });
    // ~60,000 distinct tokens: the table rehashes many times and its character pool grows.
    for (let i = 0; i < 3000; i++) {
      scorer.score(
        Array.from({ length: 10 }, word).join(" "),
        Array.from({ length: 10 }, word).join(" "),
      );
    }
    pairs.forEach((pair, i) => {
      const scores = scorer.score(pair.prediction, pair.reference);
      for (const type of ROUGE_TYPES) {
        ok(
          Math.abs(scores[type].fmeasure - expected.pairs[i][type].fmeasure) <= TOLERANCE,
          `pair ${i} ${type} (stem ${stem})`,
        );
      }
    });
  }
});
