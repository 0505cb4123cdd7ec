import { join } from "node:path";
import { assertEquals, assertIncludes } from "./asserts.ts";
import { makeProject, runCli, stagesWith } from "./fake_stages/project.ts";

const PIPELINE = `
data: { train: data/train.txt }
stages:
  prep: { uses: stages/write.ts, deps: ["\${data.train}"], params: { value: 1 } }
  train-lora: { uses: stages/write.ts, needs: [prep], params: { value: 2, r: 8, lr: 5.0e-5 } }
  train-full: { uses: stages/write.ts, needs: [prep], params: { value: 3, stamp: true } }
  evaluate:
    uses: stages/write.ts
    matrix: { method: [lora, full] }
    needs: ["train-\${matrix.method}"]
    params: { method: "\${matrix.method}" }
  aggregate: { uses: stages/write.ts, needs: [evaluate] }
  other: { uses: stages/random.ts }
`;

async function freshProject(): Promise<string> {
  const dir = await makeProject(PIPELINE, { "data/train.txt": "row 1\n" });
  const first = await runCli(dir, ["--json", "--jobs", "2"]);
  assertEquals(first.code, 0, first.stderr);
  assertEquals(stagesWith(first, "finish").length, 7);
  return dir;
}

async function statusLines(dir: string, args: string[] = []): Promise<Record<string, string>> {
  const result = await runCli(dir, ["status", ...args]);
  assertEquals(result.code, 0, result.stderr);
  return Object.fromEntries(
    result.stdout.trim().split("\n").map((line) => {
      const at = line.indexOf(": ");
      return [line.slice(0, at), line.slice(at + 2)];
    }),
  );
}

Deno.test("staleness: a second run skips every stage", async () => {
  const dir = await freshProject();
  const again = await runCli(dir, ["--json"]);
  assertEquals(again.code, 0);
  assertEquals(stagesWith(again, "start"), []);
  assertEquals(stagesWith(again, "skip").length, 7);
  const status = await statusLines(dir);
  assertEquals(Object.values(status), Array(7).fill("fresh"));
});

Deno.test("staleness: a param change reruns exactly that stage, its evaluation and the aggregate", async () => {
  const dir = await freshProject();
  const set = ["--set", "train-lora.params.r=16", "--set", "train-lora.params.lr=0.0001"];
  const status = await statusLines(dir, set);
  assertEquals(status["train-lora"], "stale: params.r 8 → 16; params.lr 5e-05 → 0.0001");
  assertEquals(status["evaluate[method=lora]"], "stale: upstream train-lora stale");
  assertEquals(status["aggregate"], "stale: upstream evaluate[method=lora] stale");
  for (const name of ["prep", "train-full", "evaluate[method=full]", "other"]) {
    assertEquals(status[name], "fresh");
  }
  const run = await runCli(dir, ["--json", ...set]);
  assertEquals(run.code, 0, run.stderr);
  assertEquals(stagesWith(run, "start"), ["train-lora", "evaluate[method=lora]", "aggregate"]);
  const start = run.events.find((e) => e.stage === "train-lora" && e.event === "start")!;
  assertEquals(start.reason, "params.r 8 → 16; params.lr 5e-05 → 0.0001");
});

Deno.test("staleness: a changed data file reruns the stages downstream of it only", async () => {
  const dir = await freshProject();
  await Deno.writeTextFile(join(dir, "data/train.txt"), "row 1\nrow 2\n");
  const status = await statusLines(dir);
  assertEquals(status.prep, "stale: data/train.txt changed");
  assertEquals(status.other, "fresh");
  const run = await runCli(dir, ["--json"]);
  assertEquals(stagesWith(run, "start"), [
    "prep",
    "train-lora",
    "train-full",
    "evaluate[method=lora]",
    "evaluate[method=full]",
    "aggregate",
  ]);
});

Deno.test("staleness: changing a module a stage imports reruns the stages using it", async () => {
  const dir = await freshProject();
  const helper = join(dir, "stages/helper.ts");
  await Deno.writeTextFile(helper, (await Deno.readTextFile(helper)) + "\n// touched\n");
  const status = await statusLines(dir);
  assertEquals(status.prep, "stale: code stages/helper.ts changed");
  assertEquals(status.other, "fresh");
  const run = await runCli(dir, ["--json", "--jobs", "2"]);
  assertEquals(stagesWith(run, "start").length, 6);
  assertEquals(stagesWith(run, "skip"), ["other"]);
});

Deno.test("staleness: a rerun upstream with new output makes its dependents stale ('upstream X changed')", async () => {
  const dir = await freshProject();
  const forced = await runCli(dir, ["--json", "--force", "--stage", "train-full"]);
  assertEquals(stagesWith(forced, "start"), ["train-full"]);
  assertEquals(forced.events.find((e) => e.event === "start")!.reason, "forced");
  const status = await statusLines(dir);
  assertEquals(status["evaluate[method=full]"], "stale: upstream train-full changed");
  assertEquals(status["aggregate"], "stale: upstream evaluate[method=full] stale");
  assertEquals(status["evaluate[method=lora]"], "fresh");
  const run = await runCli(dir, ["--json"]);
  assertEquals(stagesWith(run, "start"), ["evaluate[method=full]", "aggregate"]);
  assertIncludes(
    run.events.find((e) => e.event === "start")!.reason!,
    "upstream train-full changed",
  );
});

Deno.test("staleness: --dry-run reports what would run and why, runs nothing", async () => {
  const dir = await freshProject();
  const dry = await runCli(dir, ["--json", "--dry-run", "--set", "prep.params.value=5"]);
  assertEquals(dry.code, 0);
  assertEquals(stagesWith(dry, "would-run").length, 6);
  assertEquals(stagesWith(dry, "start"), []);
  assertEquals(dry.events.find((e) => e.stage === "prep")!.reason, "params.value 1 → 5");
  const status = await statusLines(dir);
  assertEquals(status.prep, "fresh");
});

Deno.test("staleness: a forced rerun with identical output leaves its dependents fresh", async () => {
  const dir = await freshProject();
  const forced = await runCli(dir, ["--json", "--force", "--stage", "train-lora"]);
  assertEquals(stagesWith(forced, "start"), ["train-lora"]);
  const run = await runCli(dir, ["--json"]);
  assertEquals(stagesWith(run, "start"), []);
});

Deno.test("staleness: a glob dependency notices an added file and the stage may read its folder", async () => {
  const dir = await makeProject(
    `
stages:
  gather: { uses: stages/write.ts, deps: ["data/**/*.txt"] }
`,
    { "data/a.txt": "a", "data/sub/b.txt": "b", "data/skip.md": "no" },
  );
  const first = await runCli(dir, ["--json"]);
  assertEquals(first.code, 0, first.stdout + first.stderr);
  assertEquals(first.events.find((e) => e.event === "finish")!.metrics!.inputs, 2);
  await Deno.writeTextFile(join(dir, "data/sub/c.txt"), "c");
  const status = await statusLines(dir);
  assertEquals(status.gather, "stale: data/sub/c.txt added");
  const again = await runCli(dir, ["--json"]);
  assertEquals(again.events.find((e) => e.event === "finish")!.metrics!.inputs, 3);
});

Deno.test("run cache: switching a param back restores the earlier results without rerunning", async () => {
  const dir = await freshProject();
  const set = ["--set", "train-lora.params.r=16"];
  const changed = await runCli(dir, ["--json", ...set]);
  assertEquals(stagesWith(changed, "start"), ["train-lora", "evaluate[method=lora]", "aggregate"]);
  const status = await statusLines(dir);
  assertIncludes(status["train-lora"], "params.r 16 → 8; a run with these inputs is cached");
  assertIncludes(status["aggregate"], "a run with these inputs is cached");
  const back = await runCli(dir, ["--json"]);
  assertEquals(back.code, 0);
  assertEquals(stagesWith(back, "start"), []);
  const restored = back.events.filter((e) => e.reason?.startsWith("restored from the run cache"));
  assertEquals(restored.map((e) => e.stage), ["train-lora", "evaluate[method=lora]", "aggregate"]);
  assertEquals(Object.values(await statusLines(dir)), Array(7).fill("fresh"));
  const forced = await runCli(dir, ["--json", "--force", "--stage", "train-lora", ...set]);
  assertEquals(stagesWith(forced, "start"), ["train-lora"]);
});

Deno.test("staleness: a stored output damaged by hand is reported by status and rebuilt by the next run", async () => {
  const dir = await freshProject();
  const lock = JSON.parse(await Deno.readTextFile(join(dir, "pipeline.lock")));
  const entry = lock.stages["train-lora"];
  assertEquals(Object.keys(entry.output_files).sort(), [
    "inputs.json",
    "metrics.json",
    "result.json",
  ]);
  const damaged = join(dir, "artifacts", "outputs", entry.output, "result.json");
  await Deno.chmod(damaged, 0o644);
  await Deno.truncate(damaged, 3);

  const status = await statusLines(dir);
  assertEquals(status["train-lora"], "stale: output result.json changed");
  assertEquals(status["prep"], "fresh");

  const run = await runCli(dir, ["--json"]);
  assertEquals(run.code, 0, run.stderr);
  assertEquals(stagesWith(run, "start"), ["train-lora"]);
  const rebuilt = await Deno.readTextFile(damaged);
  assertIncludes(rebuilt, "value");
  assertEquals(Object.values(await statusLines(dir)), Array(7).fill("fresh"));
});
