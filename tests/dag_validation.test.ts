import { assert, assertEquals, assertIncludes, assertThrowsWith } from "./asserts.ts";
import { join } from "node:path";
import { ConfigError, parsePipeline } from "../lib/dag/mod.ts";

const root = Deno.makeTempDirSync({ prefix: "peftlab-dag-" });
Deno.mkdirSync(join(root, "stages"));
Deno.writeTextFileSync(join(root, "stages/write.ts"), "export function run() {}\n");
const file = join(root, "pipeline.yaml");

function load(text: string, set: string[] = []) {
  return parsePipeline(text, file, root, { set });
}

function configError(text: string, set: string[] = []): ConfigError {
  try {
    load(text, set);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

interface BadCase {
  name: string;
  yaml: string;
  message: string;
  line: number;
  column: number;
  key?: string;
}

const BAD_FILES: BadCase[] = [
  {
    name: "YAML syntax error (unclosed flow list)",
    yaml: "stages:\n  a: { uses: stages/write.ts, needs: [b }\n",
    message: "",
    line: 2,
    column: 41,
  },
  {
    name: "duplicate stage name",
    yaml: "stages:\n  a: { uses: stages/write.ts }\n  a: { uses: stages/write.ts }\n",
    message: "duplicate key",
    line: 3,
    column: 3,
  },
  {
    name: "unknown top-level key",
    yaml: "stages:\n  a: { uses: stages/write.ts }\nstagse: {}\n",
    message: 'unknown key "stagse"',
    line: 3,
    column: 1,
    key: "stagse",
  },
  {
    name: "unknown stage key (typo of params)",
    yaml: "stages:\n  a:\n    uses: stages/write.ts\n    parms: { lr: 1 }\n",
    message: 'unknown key "parms"; allowed: uses',
    line: 4,
    column: 5,
    key: "stages.a.parms",
  },
  {
    name: "missing uses",
    yaml: "stages:\n  a:\n    params: {}\n",
    message: 'missing required key "uses"',
    line: 2,
    column: 3,
    key: "stages.a",
  },
  {
    name: "uses names a missing module",
    yaml: "stages:\n  a:\n    uses: stages/nope.ts\n",
    message: 'stage module "stages/nope.ts" not found',
    line: 3,
    column: 11,
    key: "stages.a.uses",
  },
  {
    name: "params is a list, not a mapping",
    yaml: "stages:\n  a:\n    uses: stages/write.ts\n    params: [1, 2]\n",
    message: "expected a mapping, got a list",
    line: 4,
    column: 13,
    key: "stages.a.params",
  },
  {
    name: "needs is a string, not a list or a mapping of roles",
    yaml: "stages:\n  a: { uses: stages/write.ts }\n  b: { uses: stages/write.ts, needs: a }\n",
    message: "expected a list of stages or a mapping of roles to stages",
    line: 3,
    column: 38,
    key: "stages.b.needs",
  },
  {
    name: "needs an unknown stage",
    yaml:
      "stages:\n  a: { uses: stages/write.ts }\n  b: { uses: stages/write.ts, needs: [a, c] }\n",
    message: 'unknown stage "c" (stages: a, b)',
    line: 3,
    column: 42,
    key: "stages.b.needs[1]",
  },
  {
    name: "output path escaping artifacts/",
    yaml: "stages:\n  a:\n    uses: stages/write.ts\n    outs: [model.bin, ../../etc/passwd]\n",
    message: 'output path "../../etc/passwd" escapes artifacts/',
    line: 4,
    column: 23,
    key: "stages.a.outs[1]",
  },
  {
    name: "absolute output path",
    yaml: "stages:\n  a:\n    uses: stages/write.ts\n    outs: [/tmp/model.bin]\n",
    message: "escapes artifacts/",
    line: 4,
    column: 12,
    key: "stages.a.outs[0]",
  },
  {
    name: "matrix variable is not a list",
    yaml: "stages:\n  e:\n    uses: stages/write.ts\n    matrix: { method: lora }\n",
    message: "expected a non-empty list of values",
    line: 4,
    column: 23,
    key: "stages.e.matrix.method",
  },
  {
    name: "empty matrix list",
    yaml: "stages:\n  e:\n    uses: stages/write.ts\n    matrix:\n      seed: []\n",
    message: "expected a non-empty list of values",
    line: 5,
    column: 13,
    key: "stages.e.matrix.seed",
  },
  {
    name: "reference to an unknown key of a section",
    yaml:
      'data: { train: t.jsonl }\nstages:\n  a:\n    uses: stages/write.ts\n    deps: ["${data.trian}"]\n',
    message: 'unknown reference ${data.trian}: data has no key "trian" (keys: train)',
    line: 5,
    column: 12,
    key: "stages.a.deps[0]",
  },
  {
    name: "reference to an unknown section",
    yaml: 'stages:\n  a:\n    uses: stages/write.ts\n    params: { lr: "${optim.lr}" }\n',
    message: 'no section "optim"',
    line: 4,
    column: 19,
    key: "stages.a.params.lr",
  },
  {
    name: "matrix reference outside a matrix stage",
    yaml: 'stages:\n  a:\n    uses: stages/write.ts\n    params: { method: "${matrix.method}" }\n',
    message: "used outside a matrix stage",
    line: 4,
    column: 23,
    key: "stages.a.params.method",
  },
  {
    name: "unknown matrix variable",
    yaml:
      'stages:\n  e:\n    uses: stages/write.ts\n    matrix: { method: [a] }\n    params: { s: "${matrix.seed}" }\n',
    message: 'matrix has no key "seed" (keys: method)',
    line: 5,
    column: 18,
    key: "stages.e.params.s",
  },
  {
    name: "unknown executor",
    yaml: "executor: kubernetes\nstages:\n  a: { uses: stages/write.ts }\n",
    message: 'unknown executor "kubernetes"; allowed: local, slurm',
    line: 1,
    column: 11,
    key: "executor",
  },
  {
    name: "unknown backend",
    yaml: "settings: { backend: cuda }\nstages:\n  a: { uses: stages/write.ts }\n",
    message: 'unknown backend "cuda"',
    line: 1,
    column: 22,
    key: "settings.backend",
  },
  {
    name: "seed is not an integer",
    yaml: "settings:\n  seed: 1.5\nstages:\n  a: { uses: stages/write.ts }\n",
    message: "expected an integer",
    line: 2,
    column: 9,
    key: "settings.seed",
  },
  {
    name: "resources.cpus is zero",
    yaml: "stages:\n  a:\n    uses: stages/write.ts\n    resources: { cpus: 0 }\n",
    message: "expected an integer ≥ 1, got 0",
    line: 4,
    column: 24,
    key: "stages.a.resources.cpus",
  },
  {
    name: "resources.time malformed",
    yaml: "stages:\n  a:\n    uses: stages/write.ts\n    resources:\n      time: two hours\n",
    message: 'time "two hours" is not like 90',
    line: 5,
    column: 13,
    key: "stages.a.resources.time",
  },
  {
    name: "unknown resources key",
    yaml: "stages:\n  a:\n    uses: stages/write.ts\n    resources: { gpu: 1 }\n",
    message: 'unknown key "gpu"; allowed: cpus, mem, gpus, time, partition, sbatch',
    line: 4,
    column: 18,
    key: "stages.a.resources.gpu",
  },
  {
    name: "stage name with a dot",
    yaml: "stages:\n  train.lora: { uses: stages/write.ts }\n",
    message: "stage names use letters",
    line: 2,
    column: 3,
    key: "stages.train.lora",
  },
  {
    name: "stage needing itself",
    yaml: "stages:\n  a: { uses: stages/write.ts, needs: [a] }\n",
    message: "cycle: a → a",
    line: 2,
    column: 39,
    key: "stages.a.needs",
  },
  {
    name: "no stages section",
    yaml: "data: { train: x }\n",
    message: 'missing required key "stages"',
    line: 1,
    column: 1,
    key: "stages",
  },
  {
    name: "top level is a list",
    yaml: "- a\n- b\n",
    message: "expected a mapping at the top level, got a list",
    line: 1,
    column: 1,
  },
  {
    name: "whole mapping spliced into a longer string",
    yaml: 'data: { train: t }\nstages:\n  a:\n    uses: stages/write.ts\n    deps: ["x/${data}"]\n',
    message: "is a mapping and cannot be part of a longer string",
    line: 5,
    column: 12,
    key: "stages.a.deps[0]",
  },
  {
    name: "repro.ignore_metrics is not a list",
    yaml: "repro:\n  ignore_metrics: trainSeconds\nstages:\n  a: { uses: stages/write.ts }\n",
    message: "expected a list of strings",
    line: 2,
    column: 19,
    key: "repro.ignore_metrics",
  },
];

for (const bad of BAD_FILES) {
  Deno.test(`pipeline validation: ${bad.name} → error at ${bad.line}:${bad.column}`, () => {
    const error = configError(bad.yaml);
    assertIncludes(error.message, bad.message);
    assertEquals([error.line, error.column], [bad.line, bad.column], error.message);
    assert(error.message.startsWith(`${error.file}:${bad.line}:${bad.column}: `), error.message);
    if (bad.key !== undefined) assertEquals(error.key, bad.key);
  });
}

Deno.test("pipeline validation: a cycle is named in order at the need that closes it", () => {
  const error = configError(
    "stages:\n" +
      "  a: { uses: stages/write.ts, needs: [c] }\n" +
      "  b: { uses: stages/write.ts, needs: [a] }\n" +
      "  c: { uses: stages/write.ts, needs: [b] }\n" +
      "  d: { uses: stages/write.ts }\n",
  );
  assertIncludes(error.message, "cycle: ");
  const cycle = error.detail.slice("cycle: ".length).split(" → ");
  assertEquals(cycle.length, 4);
  assertEquals(cycle[0], cycle[3]);
  assertEquals(new Set(cycle), new Set(["a", "b", "c"]));
  // each stage in the cycle needs the one before it
  const needs: Record<string, string> = { a: "c", b: "a", c: "b" };
  for (let i = 1; i < cycle.length; i++) assertEquals(needs[cycle[i]], cycle[i - 1]);
});

Deno.test("pipeline validation: --set on an unknown key names the key", () => {
  const text = "data: { limit: 10 }\nstages:\n  a: { uses: stages/write.ts, params: { r: 8 } }\n";
  const error = configError(text, ["a.params.rr=16"]);
  assertEquals(error.key, "a.params.rr");
  assertIncludes(error.message, 'unknown key "a.params.rr"');
});

Deno.test("pipeline validation: --set with a value of the wrong type names key and type", () => {
  const text = "data: { limit: 10 }\nstages:\n  a: { uses: stages/write.ts, params: { r: 8 } }\n";
  const error = configError(text, ["data.limit=many"]);
  assertEquals(error.key, "data.limit");
  assertIncludes(error.message, 'expected a number like 10, got "many"');
  assertThrowsWith(() => load(text, ["noequals"]), ConfigError, "expected --set dotted.key=value");
});
