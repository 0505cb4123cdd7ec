/**
 * Files anywhere: `deps` (and so `data.*` and `model.path`) may name absolute paths and `~/…`
 * outside the project. They are hashed by content like files inside, recorded in the lock as
 * written, readable by exactly the stage that declares them, and explained by `status`.
 *
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals, assertIncludes } from "./asserts.ts";
import { makeProject, runCli, stagesWith } from "./fake_stages/project.ts";
import { denoCacheDir } from "../lib/run/sandbox.ts";
import { sha256Hex } from "../lib/cache/hash.ts";

/** A folder outside any test project, removed when the test process ends. */
async function outsideFolder(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "peftlab-outside-" });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  for (const [name, text] of Object.entries(files)) {
    await Deno.mkdir(join(dir, name, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir, name), text);
  }
  return dir;
}

async function readLock(dir: string) {
  return JSON.parse(await Deno.readTextFile(join(dir, "pipeline.lock")));
}

Deno.test("outside files: an absolute data path is hashed, recorded as written, readable, and a change is explained", async () => {
  const outside = await outsideFolder({ "test.jsonl": '{"id": 1}\n' });
  const test = join(outside, "test.jsonl");
  const dir = await makeProject(`
data: { test: data/test.jsonl }
stages:
  a: { uses: stages/write.ts, deps: ["\${data.test}"] }
`);
  const run = await runCli(dir, ["--json", "--set", `data.test=${test}`]);
  assertEquals(run.code, 0, run.stdout + run.stderr);
  const lock = await readLock(dir);
  assertEquals(lock.stages.a.deps, { [test]: sha256Hex('{"id": 1}\n') });

  const again = await runCli(dir, ["--json", "--set", `data.test=${test}`]);
  assertEquals(stagesWith(again, "skip"), ["a"]);
  await Deno.writeTextFile(test, '{"id": 2}\n');
  const status = await runCli(dir, ["status", "--set", `data.test=${test}`]);
  assertIncludes(status.stdout, `a: stale: ${test} changed`);
  const rerun = await runCli(dir, ["--json", "--set", `data.test=${test}`]);
  assertEquals(stagesWith(rerun, "finish"), ["a"]);
});

Deno.test("outside files: ~/… deps expand to the home folder and stay ~/… in the lock", async () => {
  const home = await outsideFolder({ "data/train.txt": "hello" });
  const dir = await makeProject(`
stages:
  a: { uses: stages/write.ts, deps: ["~/data/train.txt"] }
  g: { uses: stages/write.ts, deps: ["~/data/*.txt"] }
`);
  const env = { HOME: home, DENO_DIR: denoCacheDir() };
  const run = await runCli(dir, ["--json"], env);
  assertEquals(run.code, 0, run.stdout + run.stderr);
  const lock = await readLock(dir);
  assertEquals(lock.stages.a.deps, { "~/data/train.txt": sha256Hex("hello") });
  assertEquals(Object.keys(lock.stages.g.deps), ["~/data/train.txt"]);
});

Deno.test("outside files: the sandbox grants exactly the declared outside paths", async () => {
  const outside = await outsideFolder({ "declared.txt": "yes", "secret.txt": "no" });
  const dir = await makeProject(`
stages:
  reads: { uses: stages/escape.ts, deps: ["${outside}/declared.txt"], params: { read: true, path: "${outside}/declared.txt" } }
  sneaks: { uses: stages/escape.ts, deps: ["${outside}/declared.txt"], params: { read: true, path: "${outside}/secret.txt" } }
`);
  const run = await runCli(dir, ["--json", "--keep-going"]);
  assertEquals(stagesWith(run, "finish"), ["reads"]);
  const failure = run.events.find((e) => e.event === "fail" && e.stage === "sneaks");
  assertIncludes(failure?.error ?? "", `undeclared read of ${outside}/secret.txt`);
});

Deno.test("outside files: a missing absolute file is one error naming the key and the path", async () => {
  const outside = await outsideFolder({});
  const dir = await makeProject(`
data:
  test: ${outside}/missing.jsonl
stages:
  a: { uses: stages/write.ts, deps: ["\${data.test}"] }
`);
  const run = await runCli(dir, []);
  assertEquals(run.code, 1);
  const failures = run.stdout.split("\n").filter((line) => line.startsWith("✖"));
  assertEquals(failures, [
    `✖ a: failed: pipeline.yaml:3:3: data.test: ${outside}/missing.jsonl: no such file`,
  ]);
  assert(!/^\s+at /m.test(run.stdout + run.stderr));
});
