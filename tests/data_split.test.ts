import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { hashBucket, readExamples, SPLIT_NAMES, splitByHash, splitOf } from "../lib/data/mod.ts";

const DATA_DIR = new URL("../data/arxiv-cs-abstract-title/", import.meta.url);
const SAMPLE_LINES_PER_SPLIT = 400;

async function shippedSample(): Promise<Map<string, string[]>> {
  const lines = new Map<string, string[]>();
  for (const split of SPLIT_NAMES) {
    const text = await Deno.readTextFile(new URL(`${split}.jsonl`, DATA_DIR));
    lines.set(split, text.split("\n").filter((l) => l !== "").slice(0, SAMPLE_LINES_PER_SPLIT));
  }
  return lines;
}

Deno.test("split: sha256 buckets match Python's int(sha256(id).hexdigest(), 16) % 100", () => {
  // Reference values computed with Python 3 hashlib.
  equal(hashBucket(""), 49);
  equal(hashBucket("abc"), 65);
  equal(hashBucket("arxiv:2601.14256"), 52);
  equal(hashBucket("é"), 88); // hashed as UTF-8
  equal(splitOf("abc"), "train");
  equal(splitOf("é"), "validation");
  equal(hashBucket("id1"), 92);
  equal(splitOf("id1"), "test");
});

Deno.test("split: the hash rule reproduces the shipped train/validation/test split", async () => {
  const sample = await shippedSample();
  for (const [split, lines] of sample) {
    for (const line of lines) {
      const id = JSON.parse(line).id as string;
      equal(splitOf(id), split, `${id} is in ${split}.jsonl`);
    }
  }
});

Deno.test("split: one-file mode reads each split of a shuffled merged file, order-independent", async () => {
  const sample = await shippedSample();
  const merged = [...sample.values()].flat();
  // Deterministic shuffle: reverse and interleave.
  const shuffled = merged.filter((_, i) => i % 2 === 1).reverse().concat(
    merged.filter((_, i) => i % 2 === 0),
  );
  const path = await Deno.makeTempFile({ suffix: ".jsonl" });
  await Deno.writeTextFile(path, shuffled.join("\n") + "\n");
  for (const split of SPLIT_NAMES) {
    const { examples, report } = await readExamples(path, { split });
    const expectedIds = sample.get(split)!.map((l) => JSON.parse(l).id as string).sort();
    deepStrictEqual(examples.map((e) => e.id).sort(), expectedIds);
    equal(report.rowsInOtherSplits, shuffled.length - expectedIds.length);
  }
  const { examples } = await readExamples(path);
  const partition = splitByHash(examples);
  for (const split of SPLIT_NAMES) equal(partition[split].length, SAMPLE_LINES_PER_SPLIT);
  ok(examples.length === 3 * SAMPLE_LINES_PER_SPLIT);
  await Deno.remove(path);
});
