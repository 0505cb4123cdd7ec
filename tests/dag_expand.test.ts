import { join } from "node:path";
import { ConfigError, loadPipeline, parsePipeline, withUpstream } from "../lib/dag/mod.ts";
import { assert, assertEquals } from "./asserts.ts";

const root = Deno.makeTempDirSync({ prefix: "peftlab-dag-" });
Deno.mkdirSync(join(root, "stages"));
for (const name of ["tokenize", "pretrain", "train", "evaluate", "aggregate"]) {
  Deno.writeTextFileSync(join(root, `stages/${name}.ts`), "export function run() {}\n");
}

const REAL_SHAPE = `
settings: { backend: auto, seed: 0, cache: artifacts }
data: { train: data/train.jsonl, validation: data/val.jsonl, limit_train: 2000 }
model: { path: null, n_layer: 2, n_embd: 128 }
stages:
  tokenize:  { uses: stages/tokenize.ts, deps: ["\${data.train}", "\${data.validation}"], params: { data: "\${data}", vocab_size: 4096 } }
  pretrain:  { uses: stages/pretrain.ts, needs: [tokenize], params: { model: "\${model}", epochs: 2, lr: 1e-3 } }
  train-lora:   { uses: stages/train.ts, needs: [tokenize, pretrain], params: { method: lora, r: 8, lr: 1e-3, settings: "\${settings}" } }
  train-prompt: { uses: stages/train.ts, needs: [tokenize, pretrain], params: { method: prompt, soft_tokens: 5 } }
  train-full:   { uses: stages/train.ts, needs: [tokenize, pretrain], params: { method: full, layers: "last:1" } }
  evaluate:
    uses: stages/evaluate.ts
    matrix: { method: [prompt, lora, full] }
    needs: [tokenize, pretrain, "train-\${matrix.method}"]
    params: { method: "\${matrix.method}", max_output_tokens: 32, tag: "eval-\${matrix.method}-\${settings.seed}" }
  aggregate: { uses: stages/aggregate.ts, needs: [evaluate], params: {} }
`;

function load(text: string, set: string[] = []) {
  return parsePipeline(text, join(root, "pipeline.yaml"), root, { set });
}

Deno.test("matrix: one cell per value, named stage[var=value], with matrix values in params and needs", () => {
  const pipeline = load(REAL_SHAPE);
  assertEquals(pipeline.groups.get("evaluate"), [
    "evaluate[method=prompt]",
    "evaluate[method=lora]",
    "evaluate[method=full]",
  ]);
  const lora = pipeline.stages.get("evaluate[method=lora]")!;
  assertEquals(lora.params, { method: "lora", max_output_tokens: 32, tag: "eval-lora-0" });
  assertEquals(lora.needs, ["tokenize", "pretrain", "train-lora"]);
  assertEquals(lora.matrix, { method: "lora" });
  assertEquals(lora.base, "evaluate");
});

Deno.test("matrix: a need on a matrix stage means every cell of it", () => {
  const pipeline = load(REAL_SHAPE);
  assertEquals(pipeline.stages.get("aggregate")!.needs, [
    "evaluate[method=prompt]",
    "evaluate[method=lora]",
    "evaluate[method=full]",
  ]);
});

Deno.test("matrix: two variables give the cross product", () => {
  const pipeline = load(`
stages:
  e:
    uses: stages/evaluate.ts
    matrix: { method: [lora, full], seed: [0, 1, 2] }
    params: { seed: "\${matrix.seed}" }
`);
  assertEquals(pipeline.order.length, 6);
  assert(pipeline.stages.has("e[method=full,seed=2]"));
  // a whole-string reference keeps the number type
  assertEquals(pipeline.stages.get("e[method=lora,seed=1]")!.params, { seed: 1 });
});

Deno.test("interpolation: whole sections stay mappings, scalars keep their type", () => {
  const pipeline = load(REAL_SHAPE);
  const tokenize = pipeline.stages.get("tokenize")!;
  assertEquals(tokenize.deps, ["data/train.jsonl", "data/val.jsonl"]);
  assertEquals(tokenize.params.data, {
    train: "data/train.jsonl",
    validation: "data/val.jsonl",
    limit_train: 2000,
  });
  assertEquals(pipeline.stages.get("pretrain")!.params.model, {
    path: null,
    n_layer: 2,
    n_embd: 128,
  });
  assertEquals(pipeline.stages.get("train-lora")!.params.settings, {
    backend: "auto",
    seed: 0,
    cache: "artifacts",
  });
});

Deno.test("--set: typed by the file's value, short stage form and section form", () => {
  const pipeline = load(REAL_SHAPE, [
    "train-lora.params.r=16",
    "data.limit_train=500",
    "settings.seed=3",
  ]);
  assertEquals(pipeline.stages.get("train-lora")!.params.r, 16);
  assertEquals(
    (pipeline.stages.get("tokenize")!.params.data as { limit_train: number }).limit_train,
    500,
  );
  assertEquals(pipeline.stages.get("evaluate[method=full]")!.params.tag, "eval-full-3");
  const listSet = load(REAL_SHAPE, ["stages.evaluate.matrix.method=[lora]"]);
  assertEquals(listSet.groups.get("evaluate"), ["evaluate[method=lora]"]);
});

Deno.test("graph: topological order puts every stage after what it needs", () => {
  const pipeline = load(REAL_SHAPE);
  const position = new Map(pipeline.order.map((name, i) => [name, i]));
  assertEquals(pipeline.order.length, 9);
  for (const spec of pipeline.stages.values()) {
    for (const need of spec.needs) assert(position.get(need)! < position.get(spec.name)!);
  }
  assertEquals(pipeline.graph.order, 9);
  assertEquals(withUpstream(pipeline.stages, pipeline.order, ["evaluate[method=lora]"]), [
    "tokenize",
    "pretrain",
    "train-lora",
    "evaluate[method=lora]",
  ]);
});

Deno.test("pipeline file: lock file sits beside it, cache resolves under the project root", () => {
  const pipeline = parsePipeline(REAL_SHAPE, join(root, "pipelines/smoke.yaml"), root);
  assertEquals(pipeline.lockPath, join(root, "pipelines/smoke.lock"));
  assertEquals(pipeline.cacheDir, join(root, "artifacts"));
  assertEquals(pipeline.executor, "local");
});

Deno.test("loadPipeline: a cached parse gives the same pipeline and never hides a new error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "peftlab-load-" });
  await Deno.mkdir(join(dir, "stages"));
  for (const name of ["tokenize", "pretrain", "train", "evaluate", "aggregate"]) {
    await Deno.writeTextFile(join(dir, `stages/${name}.ts`), "export function run() {}\n");
  }
  const file = join(dir, "pipeline.yaml");
  await Deno.writeTextFile(file, REAL_SHAPE);
  const first = await loadPipeline(file, { set: ["train-lora.params.r=4"] });
  const second = await loadPipeline(file, { set: ["train-lora.params.r=4"] });
  assertEquals([...second.stages.values()], [...first.stages.values()]);
  assertEquals(second.order, first.order);
  assertEquals(second.graph.size, first.graph.size);
  assertEquals(second.stages.get("train-lora")!.params.r, 4);
  assertEquals((await loadPipeline(file)).stages.get("train-lora")!.params.r, 8);

  await Deno.remove(join(dir, "stages/aggregate.ts"));
  await assertRejects(() => loadPipeline(file), 'stage module "stages/aggregate.ts" not found');
  await Deno.writeTextFile(join(dir, "stages/aggregate.ts"), "export function run() {}\n");
  assertEquals((await loadPipeline(file)).order.length, 9);
  await Deno.writeTextFile(file, REAL_SHAPE.replace("needs: [evaluate]", "needs: [evaluat]"));
  await assertRejects(() => loadPipeline(file), 'unknown stage "evaluat"');
});

async function assertRejects(fn: () => Promise<unknown>, message: string) {
  try {
    await fn();
  } catch (error) {
    assert(error instanceof ConfigError, String(error));
    assert(error.message.includes(message), error.message);
    return;
  }
  throw new Error("expected a ConfigError");
}
