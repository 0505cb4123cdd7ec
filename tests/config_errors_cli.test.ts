/**
 * Errors a person can act on: each user mistake, fed through the real pipeline CLI, prints one
 * line naming the key (and where it was written) with no stack trace, and exits 2 for
 * configuration, 1 for a failed stage. The stack goes to the stage log; `--verbose` shows it.
 *
 * @module
 */
import { join } from "node:path";
import { assert, assertEquals, assertIncludes } from "./asserts.ts";
import { makeProject, runCli } from "./fake_stages/project.ts";

const STACK_LINE = /^\s+at /m;

/** The `✖` lines of a run's console output. */
function failures(stdout: string): string[] {
  return stdout.split("\n").filter((line) => line.startsWith("✖"));
}

Deno.test("errors: a YAML syntax error is one line with file:line:column, exit 2", async () => {
  const dir = await makeProject("stages:\n  a: { uses: stages/write.ts, needs: [b }\n");
  const run = await runCli(dir, []);
  assertEquals(run.code, 2);
  assertEquals(run.stderr.trim().split("\n"), [run.stderr.trim()]);
  assertIncludes(run.stderr, "error: pipeline.yaml:2:");
  assert(!STACK_LINE.test(run.stdout + run.stderr), run.stderr);
});

Deno.test("errors: --set with a value of the wrong type names the key, exit 2", async () => {
  const dir = await makeProject("data: { limit: 3 }\nstages:\n  a: { uses: stages/write.ts }\n");
  const run = await runCli(dir, ["--set", "data.limit=many"]);
  assertEquals(run.code, 2);
  assertEquals(
    run.stderr.trim(),
    'error: pipeline.yaml: data.limit: expected a number like 3, got "many"',
  );
});

Deno.test("errors: a param of the wrong type fails its stage in one line at the key's file:line:column, exit 1", async () => {
  const dir = await makeProject(`stages:
  a:
    uses: stages/checks.ts
    params:
      check: params
      training:
        lr: fast
`);
  const run = await runCli(dir, []);
  assertEquals(run.code, 1, run.stdout + run.stderr);
  const [line, ...others] = failures(run.stdout);
  assertEquals(others, []);
  assertIncludes(
    line,
    'a: failed: pipeline.yaml:7:9: stages.a.params.training.lr: must be a number, got "fast"',
  );
  assert(!STACK_LINE.test(run.stdout + run.stderr), run.stdout);
  // The stack trace is in the stage log, and --verbose prints it.
  assert(STACK_LINE.test(await Deno.readTextFile(join(dir, "artifacts/logs/a.log"))));
  const verbose = await runCli(dir, ["--verbose"]);
  assertEquals(verbose.code, 1);
  assert(STACK_LINE.test(verbose.stdout), verbose.stdout);
});

Deno.test("errors: a param copied from a shared section is reported where the section sets it", async () => {
  const dir = await makeProject(`vars:
  lr: fast
stages:
  a:
    uses: stages/checks.ts
    params: { check: params, training: { lr: "\${vars.lr}" } }
`);
  const run = await runCli(dir, []);
  assertEquals(run.code, 1);
  assertIncludes(failures(run.stdout)[0], "pipeline.yaml:2:3: vars.lr: must be a number");
  const missing = await runCli(dir, ["--set", "vars.lr=0.1", "--set", "a.params.training={}"]);
  assertIncludes(failures(missing.stdout)[0], "--set: stages.a.params.training.lr: is required");
});

Deno.test("errors: a bad data row is one line with file:line and no stack trace, exit 1", async () => {
  const dir = await makeProject(
    `stages:\n  a: { uses: stages/checks.ts, deps: [train.jsonl], params: { check: data, path: train.jsonl } }\n`,
    { "train.jsonl": '{"id": 1}\n{"id": 2}\n{"id": "broken\n' },
  );
  const run = await runCli(dir, []);
  assertEquals(run.code, 1);
  assertIncludes(failures(run.stdout)[0], "a: failed: train.jsonl:3: not JSON");
  assert(!STACK_LINE.test(run.stdout + run.stderr), run.stdout);
});

Deno.test("errors: a damaged checkpoint is one line naming the file, exit 1", async () => {
  const dir = await makeProject(
    `stages:\n  a: { uses: stages/checks.ts, deps: [model.safetensors], params: { check: checkpoint, path: model.safetensors } }\n`,
    { "model.safetensors": "\u0010\u0000\u0000\u0000\u0000\u0000\u0000\u0000{" },
  );
  const run = await runCli(dir, []);
  assertEquals(run.code, 1);
  const [line] = failures(run.stdout);
  assertIncludes(line, "a: failed: ");
  assertIncludes(line, "model.safetensors");
  assert(!STACK_LINE.test(run.stdout + run.stderr), run.stdout);
});

Deno.test("errors: a missing dependency names the key where it was written and the path, exit 1", async () => {
  const dir = await makeProject(`data:
  test: data/test.jsonl
stages:
  a: { uses: stages/write.ts, deps: ["\${data.test}"] }
`);
  const run = await runCli(dir, []);
  assertEquals(run.code, 1);
  assertEquals(failures(run.stdout), [
    "✖ a: failed: pipeline.yaml:2:3: data.test: data/test.jsonl: no such file",
  ]);
});

Deno.test("errors: a bug (not a user error) still shows its stack trace", async () => {
  const dir = await makeProject(
    "stages:\n  a: { uses: stages/checks.ts, params: { check: bug } }\n",
  );
  const run = await runCli(dir, []);
  assertEquals(run.code, 1);
  assertIncludes(failures(run.stdout)[0], "TypeError");
  assert(STACK_LINE.test(run.stdout), run.stdout);
});

Deno.test("errors: a tuning method's apply-time key is placed under params.config where YAML wrote it", async () => {
  const { underSection } = await import("../lib/stagekit/params.ts");
  const { placeConfigError } = await import("../lib/run/stage_worker.ts");
  const { ConfigError } = await import("../lib/config/errors.ts");
  let thrown: unknown;
  try {
    underSection("params.config", () => {
      throw new ConfigError("target_modules", 'pattern "c_atn" matches no module');
    });
  } catch (error) {
    thrown = error;
  }
  assert(thrown instanceof ConfigError);
  assertEquals(thrown.key, "params.config.target_modules");
  const placed = placeConfigError(thrown, {
    stage: "train-lora",
    module: "stages/train.ts",
    params: {},
    inputs: {},
    outDir: "/tmp/out",
    stageKey: "stages.train-lora",
    keys: {
      "params.config": {
        file: "pipeline.yaml",
        line: 88,
        column: 15,
        key: "stages.train-lora.params.config",
      },
    },
  });
  assertEquals(
    placed.message,
    'pipeline.yaml:88:15: stages.train-lora.params.config.target_modules: pattern "c_atn" matches no module',
  );
});
