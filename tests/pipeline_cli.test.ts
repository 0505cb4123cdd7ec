import { join } from "node:path";
import { assert, assertEquals, assertIncludes } from "./asserts.ts";
import { makeProject, runCli, stagesWith } from "./fake_stages/project.ts";

Deno.test("cli --json: start/finish events carry reason, duration and metrics", async () => {
  const dir = await makeProject(`
stages:
  a: { uses: stages/write.ts, params: { value: 4 } }
  b: { uses: stages/write.ts, needs: [a] }
`);
  const run = await runCli(dir, ["--json"]);
  assertEquals(run.code, 0, run.stderr);
  const kinds = run.events.filter((e) => e.event !== "progress").map((e) =>
    `${e.event} ${e.stage}`
  );
  assertEquals(kinds, ["start a", "finish a", "start b", "finish b"]);
  const start = run.events[0];
  assertEquals(start.reason, "never run");
  const finishB = run.events.find((e) => e.event === "finish" && e.stage === "b")!;
  assertEquals(finishB.metrics!.value, 5);
  assert(typeof finishB.duration_s === "number" && finishB.duration_s >= 0);
  // every stdout line is one JSON object
  for (const line of run.stdout.trim().split("\n")) JSON.parse(line);
  const lock = JSON.parse(await Deno.readTextFile(join(dir, "pipeline.lock")));
  assertEquals(lock.stages.b.metrics.value, 5);
  assertEquals(lock.stages.a.params, { value: 4 });
});

Deno.test("cli --jobs 2: independent stages run at the same time; --jobs 1 runs them one by one", async () => {
  const yaml = `
stages:
  left: { uses: stages/write.ts, params: { sleep_ms: 700 } }
  right: { uses: stages/write.ts, params: { sleep_ms: 700, value: 2 } }
  join: { uses: stages/write.ts, needs: [left, right] }
`;
  const parallel = await runCli(await makeProject(yaml), ["--json", "--jobs", "2"]);
  assertEquals(parallel.code, 0, parallel.stderr);
  const order = parallel.events.filter((e) => e.event === "start" || e.event === "finish").map((
    e,
  ) => `${e.event} ${e.stage}`);
  assertEquals(order.slice(0, 2).sort(), ["start left", "start right"]);
  assertEquals(order.slice(-2), ["start join", "finish join"]);

  const serial = await runCli(await makeProject(yaml), ["--json", "--jobs", "1"]);
  const serialOrder = serial.events.filter((e) => e.event === "start" || e.event === "finish").map(
    (e) => e.event,
  );
  assertEquals(serialOrder, ["start", "finish", "start", "finish", "start", "finish"]);
});

Deno.test("cli --stage: runs that stage and its stale upstream only; a matrix name means every cell", async () => {
  const dir = await makeProject(`
stages:
  a: { uses: stages/write.ts }
  b: { uses: stages/write.ts, needs: [a] }
  e: { uses: stages/write.ts, needs: [a], matrix: { k: [x, y] }, params: { k: "\${matrix.k}" } }
  z: { uses: stages/write.ts, needs: [b, e] }
`);
  const run = await runCli(dir, ["--json", "--stage", "e"]);
  assertEquals(stagesWith(run, "start"), ["a", "e[k=x]", "e[k=y]"]);
  const unknown = await runCli(dir, ["--stage", "nope"]);
  assertEquals(unknown.code, 2);
  assertIncludes(unknown.stderr, 'unknown stage "nope"');
});

Deno.test("cli exit codes: 2 for a bad flag or a bad file (one line with file:line:column)", async () => {
  const dir = await makeProject(`
stages:
  a: { uses: stages/write.ts, neds: [b] }
`);
  const bad = await runCli(dir, []);
  assertEquals(bad.code, 2);
  assertEquals(bad.stderr.trim().split("\n").length, 1);
  assertIncludes(bad.stderr, "pipeline.yaml:3:31: stages.a.neds: unknown key");
  const flag = await runCli(dir, ["--frobnicate"]);
  assertEquals(flag.code, 2);
  const missing = await runCli(dir, ["--file", "nope.yaml"]);
  assertEquals(missing.code, 2);
  assertIncludes(missing.stderr, "nope.yaml not found");
  const set = await runCli(dir, ["status", "--set", "a.params.x=1"]);
  assertEquals(set.code, 2);
});

Deno.test("cli dag: text, mermaid and dot list every stage and edge", async () => {
  const dir = await makeProject(`
stages:
  a: { uses: stages/write.ts }
  e: { uses: stages/write.ts, needs: [a], matrix: { m: [p, q] } }
`);
  const text = await runCli(dir, ["dag"]);
  assertEquals(text.stdout.trim().split("\n"), ["a", "e[m=p] ← a", "e[m=q] ← a"]);
  const mermaid = await runCli(dir, ["dag", "--format", "mermaid"]);
  assertIncludes(mermaid.stdout, "graph TD");
  assertIncludes(mermaid.stdout, 's1["e[m=p]"]');
  assertIncludes(mermaid.stdout, "s0 --> s2");
  const dot = await runCli(dir, ["dag", "--format", "dot"]);
  assertIncludes(dot.stdout, '"a" -> "e[m=q]";');
});

Deno.test("cli repro: exit 0 when metrics reproduce, 1 with a diff table on drift; the real cache is untouched", async () => {
  const steady = await makeProject(`
stages:
  a: { uses: stages/write.ts, params: { value: 0.1 } }
  b: { uses: stages/write.ts, needs: [a] }
`);
  assertEquals((await runCli(steady, [])).code, 0);
  const lockBefore = await Deno.readTextFile(join(steady, "pipeline.lock"));
  const ok = await runCli(steady, ["repro"]);
  assertEquals(ok.code, 0, ok.stdout + ok.stderr);
  assertIncludes(ok.stdout, "recorded metrics reproduced");
  assertEquals(await Deno.readTextFile(join(steady, "pipeline.lock")), lockBefore);

  const noisy = await makeProject(`
stages:
  r: { uses: stages/random.ts }
`);
  assertEquals((await runCli(noisy, [])).code, 0);
  const drift = await runCli(noisy, ["repro"]);
  assertEquals(drift.code, 1);
  assertIncludes(drift.stdout, "stage  metric");
  assertIncludes(drift.stdout, "r      noise");
  assert(!/^r\s+count/m.test(drift.stdout), "integer metrics that match are not listed");
  const kept = /kept in (\S+)/.exec(drift.stdout)![1];
  assert((await Deno.stat(join(kept, "logs/r.log"))).isFile);
  await Deno.remove(kept, { recursive: true });
  const ignored = await runCli(noisy, ["repro", "--ignore-metric", "no?se"]);
  assertEquals(ignored.code, 0, ignored.stdout);
  await Deno.writeTextFile(
    join(noisy, "pipeline.yaml"),
    "repro: { ignore_metrics: [nois*] }\nstages:\n  r: { uses: stages/random.ts }\n",
  );
  assertEquals((await runCli(noisy, ["repro"])).code, 0);
  // a loose enough tolerance accepts the noise (values are in [0, 1))
  const loose = await runCli(noisy, ["repro", "--tolerance", "1"]);
  assertEquals(loose.code, 0, loose.stdout);
});

Deno.test("cli repro: without a lock file it is a usage error", async () => {
  const dir = await makeProject(`
stages:
  a: { uses: stages/write.ts }
`);
  const result = await runCli(dir, ["repro"]);
  assertEquals(result.code, 2);
  assertIncludes(result.stderr, "run the pipeline first");
});

Deno.test("outputs: metrics.json holds { metrics } unless the stage wrote its own", async () => {
  const dir = await makeProject(`
stages:
  plain: { uses: stages/write.ts, params: { value: 7 } }
  table: { uses: stages/own_metrics.ts }
`);
  assertEquals((await runCli(dir, [])).code, 0);
  const lock = JSON.parse(await Deno.readTextFile(join(dir, "pipeline.lock")));
  const read = (stage: string) =>
    Deno.readTextFile(join(dir, "artifacts/outputs", lock.stages[stage].output, "metrics.json"));
  assertEquals(JSON.parse(await read("plain")).metrics.value, 7);
  assertEquals(JSON.parse(await read("table")), { table: [1, 2] });
  assertEquals(lock.stages.table.metrics, { rows: 2 });
});

Deno.test("cli output off a terminal: one line per event and periodic plain progress lines", async () => {
  const dir = await makeProject(`
stages:
  slow: { uses: stages/write.ts, params: { sleep_ms: 1200 } }
`);
  const run = await runCli(dir, [], { PEFTLAB_PROGRESS_INTERVAL_MS: "300" });
  assertEquals(run.code, 0, run.stderr);
  assert(!run.stdout.includes("\x1b["), "no terminal control codes when piped");
  const lines = run.stdout.trim().split("\n");
  assertEquals(lines[0], "▶ slow: running (never run)");
  const progressLines = lines.filter((line) => /^ {2}slow: 50% \(1\/2\) \d+ s writing$/.test(line));
  assert(progressLines.length >= 2, run.stdout);
  assert(
    lines.some((line) =>
      /^✔ slow: done in \d+\.\d s \(value=1, ratio=0\.3333, inputs=0\)$/.test(line)
    ),
    run.stdout,
  );
  assertEquals(lines.at(-1), "pipeline.yaml: 1 ran, 0 fresh, 0 failed");
});

Deno.test("cli --backend: overrides settings.backend wherever the file uses it; an unknown name is exit 2", async () => {
  const dir = await makeProject(`
settings: { backend: wasm }
stages:
  a: { uses: stages/write.ts, params: { backend: "\${settings.backend}" } }
`);
  const run = await runCli(dir, ["--backend", "cpu"]);
  assertEquals(run.code, 0, run.stdout + run.stderr);
  const lock = JSON.parse(await Deno.readTextFile(join(dir, "pipeline.lock")));
  assertEquals(lock.stages.a.params.backend, "cpu");
  const status = await runCli(dir, ["status"]);
  assertIncludes(status.stdout, "a: stale: params.backend cpu → wasm");
  const bad = await runCli(dir, ["--backend", "gpu"]);
  assertEquals(bad.code, 2);
  assertEquals(bad.stderr.trim().split("\n").length, 1);
  assertIncludes(bad.stderr, 'error: --backend: unknown backend "gpu"; allowed: auto');
});

Deno.test("cli -k/--keep-going: stages not below a failure still run; the summary counts them; exit 1", async () => {
  const yaml = `
stages:
  broken: { uses: stages/fail.ts }
  below: { uses: stages/write.ts, needs: [broken] }
  other: { uses: stages/write.ts }
  last: { uses: stages/write.ts, needs: [other] }
`;
  const stop = await runCli(await makeProject(yaml), ["--json"]);
  assertEquals(stop.code, 1);
  assertEquals(stagesWith(stop, "finish"), []);

  const dir = await makeProject(yaml);
  const keepGoing = await runCli(dir, ["--json", "--keep-going"]);
  assertEquals(keepGoing.code, 1);
  assertEquals(stagesWith(keepGoing, "fail"), ["broken"]);
  assertEquals(stagesWith(keepGoing, "finish").sort(), ["last", "other"]);
  const notRun = keepGoing.events.filter((e) => e.event === "not-run");
  assertEquals(notRun.map((e) => [e.stage, e.reason]), [["below", "upstream broken failed"]]);

  const plain = await runCli(dir, ["-k"]);
  assertEquals(plain.code, 1);
  assertIncludes(plain.stdout, "pipeline.yaml: 0 ran, 2 fresh, 1 failed, 1 not run");
});
