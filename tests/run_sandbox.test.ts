import { join } from "node:path";
import { readLock } from "../lib/cache/mod.ts";
import { assert, assertEquals, assertIncludes } from "./asserts.ts";
import { makeProject, runCli, stagesWith } from "./fake_stages/project.ts";
import { exists } from "../lib/util/fs.ts";

Deno.test("sandbox: a stage writing outside its output folder fails, naming the path", async () => {
  const outside = join(await Deno.makeTempDir(), "outside.txt");
  const dir = await makeProject(`
stages:
  escape: { uses: stages/escape.ts, params: { path: "${outside}" } }
  after: { uses: stages/write.ts, needs: [escape] }
`);
  const run = await runCli(dir, ["--json"]);
  assertEquals(run.code, 1);
  const fail = run.events.find((e) => e.event === "fail")!;
  assertEquals(fail.stage, "escape");
  assertIncludes(fail.error!, `undeclared write to ${outside}`);
  assert(!(await exists(outside)), "the file must not have been written");
  assertEquals(stagesWith(run, "start"), ["escape"]);
  assertIncludes(await Deno.readTextFile(fail.log!), `undeclared write to ${outside}`);
  assertEquals((await readLock(join(dir, "pipeline.lock"))).stages, {});
});

Deno.test("sandbox: a stage writing into the project (not its output folder) is refused too", async () => {
  const dir = await makeProject(
    `
stages:
  escape: { uses: stages/escape.ts, params: { path: "data/overwritten.txt" } }
`,
    { "data/keep.txt": "x" },
  );
  const run = await runCli(dir, ["--json"]);
  assertEquals(run.code, 1);
  assertIncludes(run.events.find((e) => e.event === "fail")!.error!, "undeclared write to");
  assert(!(await exists(join(dir, "data/overwritten.txt"))));
});

Deno.test("sandbox: reading an undeclared file fails; declaring it in deps makes it readable", async () => {
  const dir = await makeProject(
    `
stages:
  peek: { uses: stages/escape.ts, params: { path: "data/secret.txt", read: true } }
`,
    { "data/secret.txt": "hidden" },
  );
  const denied = await runCli(dir, ["--json"]);
  assertEquals(denied.code, 1);
  assertIncludes(denied.events.find((e) => e.event === "fail")!.error!, "undeclared read of");

  await Deno.writeTextFile(
    join(dir, "pipeline.yaml"),
    `stages:
  peek: { uses: stages/write.ts, deps: [data/secret.txt] }
`,
  );
  const allowed = await runCli(dir, ["--json"]);
  assertEquals(allowed.code, 0, allowed.stderr + allowed.stdout);
  assertEquals(stagesWith(allowed, "finish"), ["peek"]);
});

Deno.test("sandbox: a failing stage exits 1, its dependents never start, the log keeps its output", async () => {
  const dir = await makeProject(`
stages:
  ok: { uses: stages/write.ts }
  broken: { uses: stages/fail.ts, needs: [ok] }
  after: { uses: stages/write.ts, needs: [broken] }
`);
  const run = await runCli(dir, ["--json"]);
  assertEquals(run.code, 1);
  assertEquals(stagesWith(run, "finish"), ["ok"]);
  assertEquals(stagesWith(run, "start"), ["ok", "broken"]);
  const fail = run.events.find((e) => e.event === "fail")!;
  assertIncludes(fail.error!, "fake stage failed on purpose");
  assertEquals(fail.log, join(dir, "artifacts/logs/broken.log"));
  const lock = JSON.parse(await Deno.readTextFile(join(dir, "pipeline.lock")));
  assertEquals(Object.keys(lock.stages), ["ok"]);
});
