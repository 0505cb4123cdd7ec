/**
 * End-to-end: the real smoke pipeline on a training file with a broken row fails cleanly.
 *
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals, assertIncludes } from "./asserts.ts";
import { stagesWith } from "./fake_stages/project.ts";
import {
  describeRun,
  makeWorkspace,
  PROJECT_ROOT,
  readLock,
  runPipelineCli,
  writeSmokePipeline,
} from "./e2e/smoke.ts";

/** Entries of a folder, or none when it does not exist. */
async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names;
}

Deno.test("e2e smoke pipeline: a broken JSONL row fails tokenize with file:line, exit 1, and nothing cached", async () => {
  const workspace = await makeWorkspace("bad-input");
  try {
    // Four good rows of the real data with a truncated JSON object as line 3.
    const good = (await Deno.readTextFile(
      join(PROJECT_ROOT, "data/arxiv-cs-abstract-title/train.jsonl"),
    )).split("\n").slice(0, 4);
    const brokenLine = 3;
    const rows = [
      ...good.slice(0, brokenLine - 1),
      '{"id": "broken", "document": "an abstract',
      ...good.slice(brokenLine - 1),
    ];
    await Deno.writeTextFile(join(workspace.dir, "train.jsonl"), rows.join("\n") + "\n");
    const trainFile = `${workspace.rel}/train.jsonl`;
    const file = await writeSmokePipeline(workspace, "bad", (doc) => {
      doc.setIn(["data", "train"], trainFile);
    });

    const run = await runPipelineCli(["--file", file]);
    assertEquals(run.code, 1, describeRun(run));
    assertIncludes(run.stdout + run.stderr, `${trainFile}:${brokenLine}`);
    assertIncludes(run.stdout, `${file}: 0 ran, 0 fresh, 1 failed`);
    // A user's mistake, not a crash: no stack trace (it is in the stage log).
    assert(!/^\s+at /m.test(run.stdout + run.stderr), describeRun(run));

    const json = await runPipelineCli(["--file", file, "--json"]);
    assertEquals(json.code, 1, describeRun(json));
    assertEquals(stagesWith(json, "start"), ["tokenize"]);
    assertEquals(stagesWith(json, "fail"), ["tokenize"]);
    const failure = json.events.find((e) => e.event === "fail");
    assertIncludes(failure?.error ?? "", `${trainFile}:${brokenLine}`);

    const lock = await readLock(file);
    assert(!lock?.stages?.tokenize, "the lock must not record a failed stage");
    assertEquals(await entries(join(workspace.cacheDir, "outputs")), []);
    assertEquals(await entries(join(workspace.cacheDir, "runs")), []);
    for (const published of ["metrics.md", "metrics.json", "metrics.csv", "report.html"]) {
      assertEquals((await entries(workspace.cacheDir)).includes(published), false, published);
    }
  } finally {
    await workspace.remove();
  }
});
