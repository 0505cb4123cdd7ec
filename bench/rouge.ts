/**
 * `deno task bench:rouge`: ROUGE throughput on 10,000 title pairs of the embedded dataset
 * (title i as the prediction, title i+1 as the reference, over all splits in id order), all four
 * ROUGE types, with and without stemming. Prints JSON; pairs_per_s is the median over
 * {@link TIMED_RUNS} runs, each with a fresh scorer (cold vocabulary); the stem memo is shared
 * across runs, so `first_run_pairs_per_s` reports the fully cold first run too.
 *
 * Targets (10× Google's rouge-score measured on the same pairs): 80,000 pairs/s without stemming,
 * 24,000 with.
 *
 * @module
 */

import { RougeScorer } from "../lib/eval/mod.ts";

const PAIR_COUNT = 10_000;
const TIMED_RUNS = 5;
const TARGET_PAIRS_PER_S = { no_stem: 80_000, stem: 24_000 };
const DATA_DIR = new URL("../data/arxiv-cs-abstract-title/", import.meta.url);

async function readTitles(): Promise<string[]> {
  const titles: { id: string; summary: string }[] = [];
  for (const split of ["train", "validation", "test"]) {
    const text = await Deno.readTextFile(new URL(`${split}.jsonl`, DATA_DIR));
    for (const line of text.split("\n")) {
      if (line.trim() !== "") titles.push(JSON.parse(line));
    }
  }
  titles.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return titles.map((row) => row.summary);
}

function timeRun(pairs: [string, string][], stem: boolean): number {
  const scorer = new RougeScorer({ stem });
  const startMs = performance.now();
  let checksum = 0;
  for (const [prediction, reference] of pairs) {
    checksum += scorer.score(prediction, reference).rougeLsum.fmeasure;
  }
  const elapsedMs = performance.now() - startMs;
  if (!Number.isFinite(checksum)) throw new Error("non-finite ROUGE");
  return pairs.length / (elapsedMs / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const titles = await readTitles();
const pairs: [string, string][] = [];
for (let i = 0; i < PAIR_COUNT; i++) {
  pairs.push([titles[i % titles.length], titles[(i + 1) % titles.length]]);
}

const firstRun = { stem: timeRun(pairs, true), no_stem: timeRun(pairs, false) };
const runs = { no_stem: [] as number[], stem: [] as number[] };
for (let run = 0; run < TIMED_RUNS; run++) {
  runs.no_stem.push(timeRun(pairs, false));
  runs.stem.push(timeRun(pairs, true));
}
const pairsPerS = {
  no_stem: Math.round(median(runs.no_stem)),
  stem: Math.round(median(runs.stem)),
};
console.log(JSON.stringify(
  {
    pairs: PAIR_COUNT,
    rouge_types: ["rouge1", "rouge2", "rougeL", "rougeLsum"],
    pairs_per_s: pairsPerS,
    first_run_pairs_per_s: {
      no_stem: Math.round(firstRun.no_stem),
      stem: Math.round(firstRun.stem),
    },
    target_pairs_per_s: TARGET_PAIRS_PER_S,
    meets_target: {
      no_stem: pairsPerS.no_stem >= TARGET_PAIRS_PER_S.no_stem,
      stem: pairsPerS.stem >= TARGET_PAIRS_PER_S.stem,
    },
    runs: TIMED_RUNS,
  },
  null,
  2,
));
