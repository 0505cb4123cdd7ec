import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { readLock } from "../lib/cache/lockfile.ts";
import { currentBlock, lockSection, runsFromLock } from "../scripts/readme_results.ts";

Deno.test("README: the result block's table and verdict are the ones pipeline.lock records", async () => {
  const block = currentBlock(await Deno.readTextFile("README.md"));
  assert(block !== null, "README.md has no generated results block");
  const expected = lockSection(await readLock("pipeline.lock"));
  assert(
    block.startsWith(expected),
    "README.md's results differ from pipeline.lock: run `deno task readme`",
  );
});

Deno.test("README: a changed figure in the lock changes the block (the check can fail)", async () => {
  const lock = await readLock("pipeline.lock");
  const before = lockSection(lock);
  const cell = Object.values(lock.stages).find((entry) =>
    entry.metrics.method === "lora" && typeof entry.metrics.rouge1 === "number"
  );
  assert(cell, "pipeline.lock has a LoRA evaluation");
  cell.metrics.rouge1 = (cell.metrics.rouge1 as number) + 0.01;
  assert(lockSection(lock) !== before);
});

Deno.test("README: every evaluated method and baseline of the lock is a table row", async () => {
  const lock = await readLock("pipeline.lock");
  const methods = runsFromLock(lock).map((run) => run.method).sort();
  assertEquals(methods, ["base", "full", "lead", "lora", "prompt"]);
  const section = lockSection(lock);
  for (const method of methods) assert(section.includes(`| ${method} `), method);
});
