import { deepStrictEqual, equal, notDeepStrictEqual, ok } from "node:assert/strict";
import { corpusRouge, quantileSorted, ROUGE_TYPES, seededRandom } from "../lib/eval/mod.ts";

const FIXTURES = new URL("./fixtures/rouge/", import.meta.url);
const BOOTSTRAP = { samples: 200, seed: 1234 };

async function readPairs() {
  const text = await Deno.readTextFile(new URL("pairs.jsonl", FIXTURES));
  return text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line));
}

Deno.test("bootstrap: the same seed gives the same intervals, another seed other intervals", async () => {
  const pairs = await readPairs();
  const first = corpusRouge(pairs, { bootstrap: BOOTSTRAP });
  const again = corpusRouge(pairs, { bootstrap: BOOTSTRAP });
  const other = corpusRouge(pairs, { bootstrap: { ...BOOTSTRAP, seed: 99 } });
  for (const type of ROUGE_TYPES) {
    deepStrictEqual(first[type].confidenceInterval, again[type].confidenceInterval);
    notDeepStrictEqual(first[type].confidenceInterval, other[type].confidenceInterval);
  }
  deepStrictEqual(first.bootstrap, { ...BOOTSTRAP, confidence: 0.95 });
});

Deno.test("bootstrap: the 95% interval contains the mean and narrows at lower confidence", async () => {
  const pairs = await readPairs();
  const wide = corpusRouge(pairs, { bootstrap: BOOTSTRAP });
  const narrow = corpusRouge(pairs, { bootstrap: { ...BOOTSTRAP, confidence: 0.5 } });
  for (const type of ROUGE_TYPES) {
    const interval = wide[type].confidenceInterval!;
    const mean = wide[type].fmeasure;
    ok(
      interval.low < mean && mean < interval.high,
      `${type}: ${interval.low} < ${mean} < ${interval.high}`,
    );
    // With 400 pairs of F in [0, 1] the standard error is a few points, not zero or huge.
    ok(interval.high - interval.low > 0.01 && interval.high - interval.low < 0.2, type);
    const inner = narrow[type].confidenceInterval!;
    ok(inner.low >= interval.low && inner.high <= interval.high, type);
  }
});

Deno.test("bootstrap: seeded generator is deterministic and uniform-looking; quantiles as numpy", () => {
  const a = seededRandom(7);
  const b = seededRandom(7);
  const draws = Array.from({ length: 10_000 }, () => a());
  deepStrictEqual(draws.slice(0, 5), Array.from({ length: 5 }, () => b()));
  ok(draws.every((x) => x >= 0 && x < 1));
  const mean = draws.reduce((s, x) => s + x, 0) / draws.length;
  ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
  // np.percentile([1, 2, 3, 4], [25, 50, 97.5]) = [1.75, 2.5, 3.925]
  equal(quantileSorted([1, 2, 3, 4], 0.25), 1.75);
  equal(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
  ok(Math.abs(quantileSorted([1, 2, 3, 4], 0.975) - 3.925) < 1e-12);
});

Deno.test("corpus: an empty corpus is an error, not a score", () => {
  let message = "";
  try {
    corpusRouge([]);
  } catch (error) {
    message = (error as Error).message;
  }
  equal(message, "corpusRouge: no pairs to score");
});
