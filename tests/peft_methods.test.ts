import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { deepStrictEqual, ok } from "node:assert/strict";
import { createGPT2, type GPT2, type GPT2Config, lmLoss } from "../lib/model/gpt2.ts";
import { CheckpointError, readSafetensors, writeSafetensors } from "../lib/model/safetensors.ts";
import {
  ConfigError,
  full,
  ia3,
  loadTunedMethod,
  lora,
  methodNamed,
  methods,
  type ModelShape,
  prompt,
} from "../lib/peft/mod.ts";

await tf.setBackend("cpu");

const assert = (condition: unknown, message?: string) => ok(condition, message);
const assertEquals = (actual: unknown, expected: unknown, message?: string) =>
  deepStrictEqual(actual, expected, message);
const assertAlmostEquals = (actual: number, expected: number, tolerance: number) =>
  ok(Math.abs(actual - expected) <= tolerance, `${actual} not within ${tolerance} of ${expected}`);
function assertThrows<E extends Error>(fn: () => unknown, type: new (...args: never[]) => E): E {
  try {
    fn();
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error(`expected ${type.name}`);
}

const gpt2Small: ModelShape = {
  nLayer: 12,
  nHead: 12,
  nEmbd: 768,
  vocabSize: 50257,
  nPositions: 1024,
};

const tinyConfig: GPT2Config = {
  nLayer: 2,
  nHead: 2,
  nEmbd: 16,
  vocabSize: 40,
  nPositions: 32,
  layerNormEpsilon: 1e-5,
  activationFunction: "gelu_new",
  dropout: 0,
};

function tinyModel(seed = 1): GPT2 {
  return createGPT2(tinyConfig, seed);
}

function disposeModel(model: GPT2): void {
  for (const p of model.params.values()) p.dispose();
}

const ids = [[3, 7, 1, 9, 4], [2, 2, 8, 5, 11]];

function logitsOf(model: GPT2, prefix?: tf.Tensor3D): Float32Array {
  return tf.tidy(() => {
    const logits = model.forward(tf.tensor2d(ids, undefined, "int32"), { prefix });
    return logits.dataSync() as Float32Array;
  });
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assertEquals(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

function randomize(variables: Iterable<tf.Variable>, seed: number, std = 0.3): void {
  let i = 0;
  for (const v of variables) {
    const value = tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, std, "float32", seed + i++)));
    v.assign(value);
    value.dispose();
  }
}

Deno.test("registry: the four methods are registered and unknown names are a ConfigError", () => {
  assertEquals([...methods.keys()].sort(), ["full", "ia3", "lora", "prompt"]);
  const error = assertThrows(() => methodNamed("adapter", "stages.train.method"), ConfigError);
  assert(error.message.startsWith("stages.train.method:"));
  assert(error.message.includes("lora"));
});

Deno.test("prompt: 5 soft tokens on GPT-2 small train exactly 3,840 parameters", () => {
  assertEquals(prompt.countTrainable(gpt2Small, prompt.parseConfig({}, "p")), 3840);
  assertEquals(
    prompt.countTrainable(gpt2Small, prompt.parseConfig({ soft_tokens: 20 }, "p")),
    15360,
  );
});

Deno.test("lora: trainable counts on GPT-2 small follow Σ r·(in+out) over PEFT-matched targets", () => {
  const count = (raw: Record<string, unknown>) =>
    lora.countTrainable(gpt2Small, lora.parseConfig(raw, "l"));
  assertEquals(count({}), 294_912); // r=8 on c_attn: 12·8·(768+2304)
  assertEquals(count({ r: 8, target_modules: ["mlp.c_proj"] }), 12 * 8 * (3072 + 768));
  // "c_proj" matches both attn.c_proj and mlp.c_proj
  assertEquals(count({ r: 8, target_modules: ["c_proj"] }), 12 * 8 * ((768 + 768) + (3072 + 768)));
  assertEquals(
    count({ r: 4, target_modules: ["c_attn", "c_fc"] }),
    12 * 4 * ((768 + 2304) + (768 + 3072)),
  );
  assertEquals(count({ r: 16, target_modules: ["attn.c_proj"] }), 12 * 16 * 1536);
  // A string is a regular expression over the whole name, as in PEFT: here blocks 10 and 11 only.
  assertEquals(count({ target_modules: "transformer\\.h\\.1[01]\\.attn\\.c_attn" }), 2 * 8 * 3072);
  assertThrows(() => count({ target_modules: "attn.c_proj" }), ConfigError); // matches no full name
  // rank_pattern overrides r per module (PEFT's pattern-key match)
  assertEquals(count({ r: 8, rank_pattern: { "h.0.attn.c_attn": 2 } }), 11 * 8 * 3072 + 2 * 3072);
});

Deno.test("full and ia3: trainable counts on GPT-2 small", () => {
  const all = full.countTrainable(gpt2Small, full.parseConfig({ layers: "all" }, "f"));
  assertEquals(all, 124_439_808); // the published size of GPT-2 small
  const block = 2 * 768 + 768 * 2304 + 2304 + 768 * 768 + 768 + 2 * 768 + 768 * 3072 + 3072 +
    3072 * 768 + 768;
  assertEquals(full.countTrainable(gpt2Small, full.parseConfig({}, "f")), 2 * block + 2 * 768);
  assertEquals(
    full.countTrainable(gpt2Small, full.parseConfig({ last_blocks: 1 }, "f")),
    block + 2 * 768,
  );
  // IA³ as PEFT counts it: q, k and v scales (3C) plus the MLP hidden scale (4C) per block
  assertEquals(ia3.countTrainable(gpt2Small, ia3.parseConfig({}, "i")), 64_512);
  // the paper's variant: k and v only
  const kv = ia3.parseConfig({ attention_scales: "kv" }, "i");
  assertEquals(ia3.countTrainable(gpt2Small, kv), 55_296);
});

Deno.test("every method: a checkpoint's n_inner sets the MLP width the trainable counts use", () => {
  const shape = { ...gpt2Small, nInner: 1024 };
  const lora3 = lora.parseConfig({ target_modules: ["c_fc", "mlp.c_proj"] }, "l");
  assertEquals(lora.countTrainable(shape, lora3), 12 * 8 * 2 * (768 + 1024));
  assertEquals(ia3.countTrainable(shape, ia3.parseConfig({}, "i")), 12 * (2304 + 1024));
  const mlpDelta = 12 * (2 * 768 * (3072 - 1024) + (3072 - 1024)); // c_fc + c_proj weights, c_fc bias
  const all = full.parseConfig({ layers: "all" }, "f");
  assertEquals(full.countTrainable(shape, all), 124_439_808 - mlpDelta);
  // …and agree with the variables apply() creates on a model that sets n_inner.
  const model = createGPT2({ ...tinyConfig, nInner: 24 }, 1);
  for (const [name, method] of methods) {
    const config = method.parseConfig(
      name === "prompt" ? { init: "vocab" } : name === "lora" ? { target_modules: ["c_fc"] } : {},
      name,
    );
    const applied = method.apply(model, config, 0);
    let trainable = 0;
    for (const v of applied.trainable.values()) trainable += v.size;
    assertEquals(trainable, method.countTrainable({ ...tinyConfig, nInner: 24 }, config), name);
    applied.dispose();
  }
  disposeModel(model);
});

Deno.test("every method: apply() trains exactly what countTrainable() predicts and freezes the rest", () => {
  for (const [name, method] of methods) {
    const model = tinyModel();
    const config = method.parseConfig(name === "prompt" ? { init: "vocab" } : {}, name);
    const applied = method.apply(model, config, 3);
    let trainable = 0;
    for (const v of applied.trainable.values()) trainable += v.size;
    assertEquals(trainable, method.countTrainable(tinyConfig, config), name);
    const frozen = [...model.params].filter(([, p]) => !p.trainable).map(([n]) => n);
    for (const n of frozen) assert(!applied.trainable.has(n), `${name}: ${n}`);
    if (name === "full") assertEquals(applied.addedParams, 0);
    else assertEquals(frozen.length, model.params.size, `${name} must freeze every base weight`);
    applied.dispose();
    disposeModel(model);
  }
});

Deno.test("config errors name the key", () => {
  const e1 = assertThrows(() => lora.parseConfig({ r: 0 }, "train-lora.lora"), ConfigError);
  assertEquals(e1.key, "train-lora.lora.r");
  const e2 = assertThrows(() => lora.parseConfig({ rank: 4 }, "train-lora.lora"), ConfigError);
  assertEquals(e2.key, "train-lora.lora.rank");
  const e3 = assertThrows(() => prompt.parseConfig({ init: "zeros" }, "p"), ConfigError);
  assertEquals(e3.key, "p.init");
  const e4 = assertThrows(() => full.parseConfig({ layers: 3 }, "f"), ConfigError);
  assertEquals(e4.key, "f.layers");
  const model = tinyModel();
  assertThrows(
    () => lora.apply(model, lora.parseConfig({ target_modules: ["q_proj"] }, "l"), 0),
    ConfigError,
  );
  assertThrows(
    () => full.apply(model, full.parseConfig({ layers: ["h.9"] }, "f"), 0),
    ConfigError,
  );
  assertThrows(
    () => prompt.apply(model, prompt.parseConfig({ init: "text" }, "p"), 0),
    ConfigError,
  );
  disposeModel(model);
});

Deno.test("lora: target_modules use PEFT suffix matching", () => {
  const model = tinyModel();
  const names = (targets: string[]) => {
    const applied = lora.apply(model, lora.parseConfig({ target_modules: targets }, "l"), 0);
    const keys = [...applied.trainable.keys()].filter((k) => k.endsWith("lora_A"));
    applied.dispose();
    return keys;
  };
  assertEquals(names(["c_proj"]), [
    "h.0.attn.c_proj.lora_A",
    "h.0.mlp.c_proj.lora_A",
    "h.1.attn.c_proj.lora_A",
    "h.1.mlp.c_proj.lora_A",
  ]);
  assertEquals(names(["mlp.c_proj"]), ["h.0.mlp.c_proj.lora_A", "h.1.mlp.c_proj.lora_A"]);
  disposeModel(model);
});

Deno.test("lora: at step 0 the logits are exactly the base model's, and A is Kaiming-uniform", () => {
  const model = tinyModel();
  const base = logitsOf(model);
  const applied = lora.apply(model, lora.parseConfig({ r: 4, alpha: 8 }, "l"), 5);
  assertEquals(model.linearWrappers.size, 2);
  assertEquals(logitsOf(model), base);
  const a = applied.trainable.get("h.0.attn.c_attn.lora_A")!;
  assertEquals(a.shape, [4, 16]);
  const values = a.dataSync();
  const bound = 1 / Math.sqrt(16);
  assert(values.every((v) => Math.abs(v) <= bound));
  assert(Math.max(...values) > bound * 0.5, "A must not be all zeros");
  assert(applied.trainable.get("h.0.attn.c_attn.lora_B")!.dataSync().every((v) => v === 0));
  applied.dispose();
  disposeModel(model);
});

Deno.test("lora: merged weights give the same logits as the adapter path (1e-5)", () => {
  const model = tinyModel();
  const base = logitsOf(model);
  const applied = lora.apply(
    model,
    lora.parseConfig({ r: 2, alpha: 6, target_modules: ["c_attn", "c_proj", "c_fc"] }, "l"),
    1,
  );
  randomize(applied.trainable.values(), 11);
  const adapterPath = logitsOf(model);
  assert(maxAbsDiff(adapterPath, base) > 1e-3, "trained adapters must change the output");
  applied.merge!();
  assertEquals(model.linearWrappers.size, 0);
  assert(maxAbsDiff(logitsOf(model), adapterPath) < 1e-5);
  applied.dispose();
  disposeModel(model);
});

/** Loss of the model on `ids` (every next token scored) and its gradients for `variables`. */
function lossAndGrads(model: GPT2, variables: Map<string, tf.Variable>) {
  return tf.variableGrads(
    () => lmLoss(model, tf.tensor2d(ids, undefined, "int32"), ids),
    [...variables.values()],
  );
}

/** Compares gradients with their expected values, to 1e-4 of the largest expected one. */
function gradientComparison() {
  let worst = 0;
  let largest = 0;
  return {
    check(actual: number, expected: number): void {
      worst = Math.max(worst, Math.abs(actual - expected));
      largest = Math.max(largest, Math.abs(expected));
    },
    assertClose(): void {
      assert(largest > 1e-3, "the gradients must not be trivially zero");
      assert(worst < 1e-4 * largest + 1e-6, `max difference ${worst} (largest ${largest})`);
    },
  };
}

/** Frees what `lossAndGrads` returned. */
function disposeResults(...results: ReturnType<typeof lossAndGrads>[]): void {
  for (const { value, grads } of results) tf.dispose([value, ...Object.values(grads)]);
}

Deno.test("every method: training steps leave no tensor behind, dropout on", () => {
  for (const [name, method] of methods) {
    const model = tinyModel(2);
    const raw = name === "prompt" ? { init: "vocab" } : name === "lora" ? { dropout: 0.1 } : {};
    const applied = method.apply(model, method.parseConfig(raw, name), 0);
    const counts: number[] = [];
    for (let step = 1; step <= 3; step++) {
      applied.setTraining?.(true, step);
      const { value, grads } = tf.variableGrads(
        () =>
          lmLoss(model, tf.tensor2d(ids, undefined, "int32"), ids, {
            prefix: applied.prefix?.(ids.length),
            training: true,
            seed: step,
          }),
        [...applied.trainable.values()],
      );
      disposeResults({ value, grads });
      counts.push(tf.memory().numTensors);
    }
    assertEquals(new Set(counts).size, 1, `${name}: ${counts}`);
    applied.dispose();
    disposeModel(model);
  }
});

Deno.test("lora: gradients of A and B are the merged weight's gradient projected onto them", () => {
  const model = tinyModel(6);
  const applied = lora.apply(model, lora.parseConfig({ r: 2, alpha: 6 }, "l"), 1);
  randomize(applied.trainable.values(), 13);
  const adapter = lossAndGrads(model, applied.trainable);
  // Reference: the same model with the update folded into W, differentiated with respect to W.
  const a = applied.trainable.get("h.1.attn.c_attn.lora_A")!.arraySync() as number[][]; // (r, in)
  const b = applied.trainable.get("h.1.attn.c_attn.lora_B")!.arraySync() as number[][]; // (out, r)
  applied.merge!();
  const weight = model.params.get("h.1.attn.c_attn.weight")!;
  weight.trainable = true;
  const merged = lossAndGrads(model, new Map([["w", weight]]));
  assertAlmostEquals(adapter.value.dataSync()[0], merged.value.dataSync()[0], 1e-5);
  const scaling = 6 / 2;
  const g = merged.grads[weight.name].arraySync() as number[][]; // (in, out)
  const gradA = adapter.grads[applied.trainable.get("h.1.attn.c_attn.lora_A")!.name]
    .arraySync() as number[][];
  const gradB = adapter.grads[applied.trainable.get("h.1.attn.c_attn.lora_B")!.name]
    .arraySync() as number[][];
  const comparison = gradientComparison();
  for (let r = 0; r < 2; r++) {
    for (let i = 0; i < 16; i++) { // dL/dA[r][i] = s·Σ_o G[i][o]·B[o][r]
      let expected = 0;
      for (let o = 0; o < 48; o++) expected += scaling * g[i][o] * b[o][r];
      comparison.check(gradA[r][i], expected);
    }
    for (let o = 0; o < 48; o++) { // dL/dB[o][r] = s·Σ_i G[i][o]·A[r][i]
      let expected = 0;
      for (let i = 0; i < 16; i++) expected += scaling * g[i][o] * a[r][i];
      comparison.check(gradB[o][r], expected);
    }
  }
  comparison.assertClose();
  disposeResults(adapter, merged);
  applied.dispose();
  disposeModel(model);
});

Deno.test("ia3: gradients of the scales are the merged weights' gradients projected onto them", () => {
  const model = tinyModel(6);
  const blocks = [0, 1]; // block 0's scales also test the input gradients block 1 passes down
  const names = blocks.flatMap((
    b,
  ) => [`h.${b}.attn.c_attn.weight`, `h.${b}.attn.c_attn.bias`, `h.${b}.mlp.c_proj.weight`]);
  randomize(blocks.map((b) => model.params.get(`h.${b}.attn.c_attn.bias`)!), 3, 0.2);
  const original = new Map(names.map((n) => [n, model.params.get(n)!.arraySync()]));
  const applied = ia3.apply(model, ia3.parseConfig({}, "i"), 0);
  randomize(applied.trainable.values(), 13, 0.2);
  const adapter = lossAndGrads(model, applied.trainable);
  const gradOf = (key: string) =>
    adapter.grads[applied.trainable.get(key)!.name].arraySync() as number[];
  const scaleGrads = blocks.map((b) => [
    gradOf(`h.${b}.attn.c_attn.ia3_l`), // (48)
    gradOf(`h.${b}.mlp.c_proj.ia3_l`), // (64)
  ]);
  applied.merge!();
  const weights = new Map(names.map((n) => [n, model.params.get(n)!]));
  for (const w of weights.values()) w.trainable = true;
  const merged = lossAndGrads(model, weights);
  assertAlmostEquals(adapter.value.dataSync()[0], merged.value.dataSync()[0], 1e-5);
  const mergedGrad = (n: string) => merged.grads[weights.get(n)!.name].arraySync();
  const comparison = gradientComparison();
  for (const b of blocks) {
    const [attnGrad, mlpGrad] = scaleGrads[b];
    const attnW = original.get(`h.${b}.attn.c_attn.weight`) as number[][];
    const attnB = original.get(`h.${b}.attn.c_attn.bias`) as number[];
    const mlpW = original.get(`h.${b}.mlp.c_proj.weight`) as number[][];
    const gW = mergedGrad(`h.${b}.attn.c_attn.weight`) as number[][];
    const gB = mergedGrad(`h.${b}.attn.c_attn.bias`) as number[];
    const gMlp = mergedGrad(`h.${b}.mlp.c_proj.weight`) as number[][];
    for (let j = 0; j < 48; j++) { // output scale: W' = W·diag(l), b' = b·l
      let expected = gB[j] * attnB[j];
      for (let i = 0; i < 16; i++) expected += gW[i][j] * attnW[i][j];
      comparison.check(attnGrad[j], expected);
    }
    for (let i = 0; i < 64; i++) { // input scale: W' = diag(l)·W
      let expected = 0;
      for (let j = 0; j < 16; j++) expected += gMlp[i][j] * mlpW[i][j];
      comparison.check(mlpGrad[i], expected);
    }
  }
  comparison.assertClose();
  disposeResults(adapter, merged);
  applied.dispose();
  disposeModel(model);
});

Deno.test("lora: dropout reaches only the adapter input, on the same path as without it", () => {
  const model = tinyModel(8);
  const base = logitsOf(model);
  const applied = lora.apply(model, lora.parseConfig({ r: 2, dropout: 0.5 }, "l"), 1);
  applied.setTraining!(true, 3);
  assertEquals(logitsOf(model), base, "B = 0: dropout on the adapter input leaves the base as is");
  randomize(applied.trainable.values(), 2);
  const dropped = logitsOf(model);
  applied.setTraining!(false, 0);
  const evaluated = logitsOf(model);
  assert(maxAbsDiff(dropped, evaluated) > 1e-4, "training mode drops adapter inputs");
  applied.merge!();
  assert(maxAbsDiff(logitsOf(model), evaluated) < 1e-5);
  applied.dispose();
  disposeModel(model);
});

Deno.test("lora and ia3: a training step never forms an [in, out]-shaped tensor, at any dropout", async () => {
  const weightShapes = new Set(["16,48", "48,16", "16,16", "16,64", "64,16"]);
  const cases: [string, Record<string, unknown>][] = [
    ["lora", { target_modules: ["c_attn", "c_proj", "c_fc"], dropout: 0 }],
    ["lora", { target_modules: ["c_attn", "c_proj", "c_fc"], dropout: 0.1 }],
    ["ia3", {}],
  ];
  for (const [name, raw] of cases) {
    const model = tinyModel(5);
    const method = methodNamed(name);
    const applied = method.apply(model, method.parseConfig(raw, name), 0);
    randomize(applied.trainable.values(), 1);
    applied.setTraining?.(true, 1);
    const profile = await tf.profile(() => {
      const { value, grads } = lossAndGrads(model, applied.trainable);
      tf.dispose([value, ...Object.values(grads)]);
    });
    // Kernels that compute a weight-shaped tensor; Identity is tfjs's zero-copy clone of a frozen
    // weight that a matmul saves for the backward pass (same storage, no new values).
    const formed = profile.kernels.filter((k) =>
      k.name !== "Identity" &&
      k.outputShapes.some((shape) => shape.length === 2 && weightShapes.has(String(shape)))
    ).map((k) => `${k.name} → [${k.outputShapes}]`);
    assertEquals(formed, [], `${name} ${JSON.stringify(raw)}`);
    applied.dispose();
    disposeModel(model);
  }
});

Deno.test("ia3: starts as the base model, merges to the same logits; the kv variant keeps queries", () => {
  const model = tinyModel();
  const peftDefault = ia3.apply(model, ia3.parseConfig({}, "i"), 0);
  assertEquals(peftDefault.trainable.get("h.0.attn.c_attn.ia3_l")!.shape, [48]);
  peftDefault.dispose();
  const base = logitsOf(model);
  const applied = ia3.apply(model, ia3.parseConfig({ attention_scales: "kv" }, "i"), 0);
  assertEquals(maxAbsDiff(logitsOf(model), base), 0);
  assertEquals(applied.trainable.get("h.0.attn.c_attn.ia3_l")!.shape, [32]);
  assertEquals(applied.trainable.get("h.0.mlp.c_proj.ia3_l")!.shape, [64]);
  randomize(applied.trainable.values(), 4);
  const adapterPath = logitsOf(model);
  assert(maxAbsDiff(adapterPath, base) > 1e-3);
  const queryBefore = model.params.get("h.0.attn.c_attn.weight")!.dataSync().slice(0, 16);
  applied.merge!();
  const weight = model.params.get("h.0.attn.c_attn.weight")!.dataSync();
  assertEquals(weight.slice(0, 16), queryBefore); // row 0, query columns unchanged
  assert(maxAbsDiff(logitsOf(model), adapterPath) < 1e-5);
  applied.dispose();
  disposeModel(model);
});

Deno.test("lora: saved adapter uses PEFT's file layout and reloads onto a fresh base", async () => {
  const dir = await Deno.makeTempDir();
  const model = tinyModel(7);
  const applied = lora.apply(model, lora.parseConfig({ r: 4, alpha: 16, dropout: 0.1 }, "l"), 2);
  randomize(applied.trainable.values(), 9);
  const expected = logitsOf(model);
  await applied.save(dir, { baseModel: "tiny" });
  const config = JSON.parse(await Deno.readTextFile(`${dir}/adapter_config.json`));
  assertEquals(config.peft_type, "LORA");
  assertEquals(config.task_type, "CAUSAL_LM");
  assertEquals(config.r, 4);
  assertEquals(config.lora_alpha, 16);
  assertEquals(config.lora_dropout, 0.1);
  assertEquals(config.target_modules, ["c_attn"]);
  assertEquals(config.fan_in_fan_out, true);
  assertEquals(config.bias, "none");
  assertEquals(config.inference_mode, true);
  assertEquals(config.base_model_name_or_path, "tiny");
  const tensors = readSafetensors(
    await Deno.readFile(`${dir}/adapter_model.safetensors`),
    "adapter",
  );
  assertEquals([...tensors.keys()].sort(), [
    "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight",
    "base_model.model.transformer.h.0.attn.c_attn.lora_B.weight",
    "base_model.model.transformer.h.1.attn.c_attn.lora_A.weight",
    "base_model.model.transformer.h.1.attn.c_attn.lora_B.weight",
  ]);
  assertEquals(tensors.get("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight")!.shape, [
    4,
    16,
  ]);
  assertEquals(tensors.get("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight")!.shape, [
    48,
    4,
  ]);

  const fresh = tinyModel(7);
  const reloaded = await loadTunedMethod(fresh, dir);
  assertEquals(reloaded.method, "lora");
  assertEquals(logitsOf(fresh), expected);
  reloaded.merge!();
  assert(maxAbsDiff(logitsOf(fresh), expected) < 1e-5);
  for (const m of [applied, reloaded]) m.dispose();
  disposeModel(model);
  disposeModel(fresh);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("ia3: a kv-variant adapter saves PEFT's IA3 layout with unit query scales and reloads", async () => {
  const dir = await Deno.makeTempDir();
  const model = tinyModel(2);
  const applied = ia3.apply(model, ia3.parseConfig({ attention_scales: "kv" }, "i"), 0);
  randomize(applied.trainable.values(), 5);
  const expected = logitsOf(model);
  await applied.save(dir);
  const config = JSON.parse(await Deno.readTextFile(`${dir}/adapter_config.json`));
  assertEquals(config.peft_type, "IA3");
  assertEquals(config.target_modules, ["c_attn", "mlp.c_proj"]);
  assertEquals(config.feedforward_modules, ["mlp.c_proj"]);
  assertEquals(config.fan_in_fan_out, true);
  const tensors = readSafetensors(
    await Deno.readFile(`${dir}/adapter_model.safetensors`),
    "adapter",
  );
  const attn = tensors.get("base_model.model.transformer.h.1.attn.c_attn.ia3_l")!;
  assertEquals(attn.shape, [48, 1]);
  assert(attn.data.slice(0, 16).every((v) => v === 1), "query rows stay 1");
  assertEquals(tensors.get("base_model.model.transformer.h.1.mlp.c_proj.ia3_l")!.shape, [1, 64]);
  const fresh = tinyModel(2);
  const reloaded = await loadTunedMethod(fresh, dir);
  assertEquals(logitsOf(fresh), expected);
  for (const m of [applied, reloaded]) m.dispose();
  disposeModel(model);
  disposeModel(fresh);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("prompt: text init copies the text's token embeddings, PEFT layout, reload", async () => {
  const dir = await Deno.makeTempDir();
  const model = tinyModel(4);
  const applied = prompt.apply(
    model,
    prompt.parseConfig({ soft_tokens: 5, init: "text", init_token_ids: [6, 2, 30] }, "p"),
    0,
  );
  const wte = model.params.get("wte.weight")!.arraySync() as number[][];
  const soft = applied.trainable.get("prompt_embeddings")!.arraySync() as number[][];
  assertEquals(soft, [6, 2, 30, 6, 2].map((id) => wte[id])); // repeated then cut, as PEFT does
  const prefix = applied.prefix!(2);
  assertEquals(prefix.shape, [2, 5, 16]);
  const expected = logitsOf(model, prefix);
  assertEquals(expected.length, 2 * (5 + 5) * 40);
  prefix.dispose();
  await applied.save(dir, { tokenizer: "gpt2" });
  const config = JSON.parse(await Deno.readTextFile(`${dir}/adapter_config.json`));
  assertEquals(config.peft_type, "PROMPT_TUNING");
  assertEquals(config.num_virtual_tokens, 5);
  assertEquals(config.token_dim, 16);
  assertEquals(config.prompt_tuning_init, "TEXT");
  assertEquals(config.prompt_tuning_init_text, "Summarize the following text:");
  assertEquals(config.tokenizer_name_or_path, "gpt2");
  const tensors = readSafetensors(
    await Deno.readFile(`${dir}/adapter_model.safetensors`),
    "adapter",
  );
  assertEquals([...tensors.keys()], ["prompt_embeddings"]);
  assertEquals(tensors.get("prompt_embeddings")!.shape, [5, 16]);
  const fresh = tinyModel(4);
  const reloaded = await loadTunedMethod(fresh, dir);
  const again = reloaded.prefix!(2);
  assertEquals(logitsOf(fresh, again), expected);
  again.dispose();
  for (const m of [applied, reloaded]) m.dispose();
  disposeModel(model);
  disposeModel(fresh);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("prompt: vocab init is seeded; random init matches the embedding scale", () => {
  const model = tinyModel(4);
  const take = (raw: Record<string, unknown>, seed: number) => {
    const applied = prompt.apply(model, prompt.parseConfig(raw, "p"), seed);
    const values = applied.trainable.get("prompt_embeddings")!.arraySync() as number[][];
    applied.dispose();
    return values;
  };
  const wte = model.params.get("wte.weight")!.arraySync() as number[][];
  const vocab = take({ init: "vocab", soft_tokens: 3 }, 1);
  for (const row of vocab) assert(wte.some((w) => w.every((v, i) => v === row[i])));
  assertEquals(take({ init: "vocab", soft_tokens: 3 }, 1), vocab);
  const random = take({ init: "random", soft_tokens: 8 }, 2).flat();
  const std = Math.sqrt(random.reduce((s, v) => s + v * v, 0) / random.length);
  assertAlmostEquals(std, 0.02, 0.01);
  disposeModel(model);
});

Deno.test("full: default trains the last blocks and ln_f; saved weights reload onto a fresh base", async () => {
  const dir = await Deno.makeTempDir();
  const model = tinyModel(3);
  const applied = full.apply(model, full.parseConfig({ last_blocks: 1 }, "f"), 0);
  const names = [...applied.trainable.keys()];
  assert(names.every((n) => n.startsWith("h.1.") || n.startsWith("ln_f.")));
  assertEquals(names.length, 12 + 2);
  const patterned = full.apply(
    model,
    full.parseConfig({ layers: ["h.*.attn", "wpe"] }, "f"),
    0,
  );
  assertEquals([...patterned.trainable.keys()].filter((n) => n.startsWith("h.")).length, 8);
  assert(patterned.trainable.has("wpe.weight") && !patterned.trainable.has("wte.weight"));
  assert(!model.params.get("h.1.mlp.c_fc.weight")!.trainable);
  const again = full.apply(model, full.parseConfig({ last_blocks: 1 }, "f"), 0);
  randomize(again.trainable.values(), 8, 0.05);
  const expected = logitsOf(model);
  await again.save(dir);
  const fresh = tinyModel(3);
  assert(maxAbsDiff(logitsOf(fresh), expected) > 1e-4);
  const reloaded = await loadTunedMethod(fresh, dir);
  assertEquals(reloaded.method, "full");
  assertEquals(logitsOf(fresh), expected);
  disposeModel(model);
  disposeModel(fresh);
  await Deno.remove(dir, { recursive: true });
});

/** The fields PEFT 0.10 writes in adapter_config.json, common to every PEFT type. */
const peftCommonFields = [
  "auto_mapping",
  "base_model_name_or_path",
  "inference_mode",
  "peft_type",
  "revision",
  "task_type",
];

const peftFields: Record<string, string[]> = {
  LORA: [
    "alpha_pattern",
    "bias",
    "fan_in_fan_out",
    "init_lora_weights",
    "layer_replication",
    "layers_pattern",
    "layers_to_transform",
    "loftq_config",
    "lora_alpha",
    "lora_dropout",
    "megatron_config",
    "megatron_core",
    "modules_to_save",
    "r",
    "rank_pattern",
    "target_modules",
    "use_dora",
    "use_rslora",
  ],
  IA3: [
    "fan_in_fan_out",
    "feedforward_modules",
    "init_ia3_weights",
    "modules_to_save",
    "target_modules",
  ],
  PROMPT_TUNING: [
    "num_attention_heads",
    "num_layers",
    "num_transformer_submodules",
    "num_virtual_tokens",
    "prompt_tuning_init",
    "prompt_tuning_init_text",
    "token_dim",
    "tokenizer_kwargs",
    "tokenizer_name_or_path",
  ],
};

Deno.test("every adapter: adapter_config.json has exactly the fields PEFT writes for its type", async () => {
  for (const name of ["lora", "ia3", "prompt"]) {
    const dir = await Deno.makeTempDir();
    const model = tinyModel();
    const method = methodNamed(name);
    const applied = method.apply(
      model,
      method.parseConfig(name === "prompt" ? { init: "vocab" } : {}, name),
      0,
    );
    await applied.save(dir, { baseModel: "/abs/base" });
    const config = JSON.parse(await Deno.readTextFile(`${dir}/adapter_config.json`));
    assertEquals(
      Object.keys(config).sort(),
      [...peftCommonFields, ...peftFields[config.peft_type]].sort(),
      name,
    );
    assertEquals(config.base_model_name_or_path, "/abs/base");
    applied.dispose();
    disposeModel(model);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("prompt: a text init without a loadable tokenizer is saved as RANDOM, which PEFT accepts", async () => {
  const dir = await Deno.makeTempDir();
  const model = tinyModel(4);
  const raw = { soft_tokens: 3, init: "text", init_token_ids: [6, 2] };
  const applied = prompt.apply(model, prompt.parseConfig(raw, "p"), 0);
  await applied.save(dir, { baseModel: "/abs/base" });
  const config = JSON.parse(await Deno.readTextFile(`${dir}/adapter_config.json`));
  // PEFT ≥ 0.10 refuses TEXT with tokenizer_name_or_path null.
  assertEquals(config.prompt_tuning_init, "RANDOM");
  assertEquals(config.prompt_tuning_init_text, null);
  assertEquals(config.tokenizer_name_or_path, null);
  const fresh = tinyModel(4);
  const reloaded = await loadTunedMethod(fresh, dir);
  const record = JSON.parse(await Deno.readTextFile(`${dir}/peftlab_method.json`));
  assertEquals(record.config.init, "text", "peftlab's record keeps the real init");
  assertEquals(
    reloaded.trainable.get("prompt_embeddings")!.arraySync(),
    applied.trainable.get("prompt_embeddings")!.arraySync(),
  );
  for (const m of [applied, reloaded]) m.dispose();
  disposeModel(model);
  disposeModel(fresh);
  await Deno.remove(dir, { recursive: true });
});

/** Writes an adapter directory as Python PEFT would (no peftlab_method.json). */
async function writePeftAdapter(
  dir: string,
  config: Record<string, unknown>,
  tensors: Map<string, { shape: number[]; data: Float32Array }>,
): Promise<void> {
  await Deno.writeTextFile(`${dir}/adapter_config.json`, JSON.stringify(config));
  await Deno.writeFile(`${dir}/adapter_model.safetensors`, writeSafetensors(tensors));
}

function randomArray(size: number, seed: number): Float32Array {
  return tf.tidy(() => tf.randomNormal([size], 0, 0.3, "float32", seed).dataSync() as Float32Array);
}

Deno.test("lora: a PEFT adapter with use_rslora, rank_pattern, alpha_pattern and a regex target loads with PEFT's scaling", async () => {
  const dir = await Deno.makeTempDir();
  const modules = ["h.0.attn.c_attn", "h.1.attn.c_attn", "h.1.mlp.c_fc"];
  const ranks = [2, 4, 2]; // rank_pattern {"h.1.attn.c_attn": 4}
  const alphas = [8, 8, 3]; // alpha_pattern {"c_fc": 3}
  const outs = [48, 48, 64];
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  modules.forEach((m, i) => {
    const path = `base_model.model.transformer.${m}`;
    tensors.set(`${path}.lora_A.weight`, {
      shape: [ranks[i], 16],
      data: randomArray(ranks[i] * 16, 10 + i),
    });
    tensors.set(`${path}.lora_B.weight`, {
      shape: [outs[i], ranks[i]],
      data: randomArray(outs[i] * ranks[i], 20 + i),
    });
  });
  await writePeftAdapter(dir, {
    peft_type: "LORA",
    r: 2,
    lora_alpha: 8,
    lora_dropout: 0,
    target_modules: "transformer\\.h\\.(0\\.attn\\.c_attn|1\\.(attn\\.c_attn|mlp\\.c_fc))",
    use_rslora: true,
    rank_pattern: { "h.1.attn.c_attn": 4 },
    alpha_pattern: { "c_fc": 3 },
    bias: "none",
    fan_in_fan_out: true,
  }, tensors);
  // Expected: W + alpha/√r · Aᵀ·Bᵀ folded by hand into a fresh base.
  const expectedModel = tinyModel(9);
  modules.forEach((m, i) => {
    const path = `base_model.model.transformer.${m}`;
    const a = tensors.get(`${path}.lora_A.weight`)!;
    const b = tensors.get(`${path}.lora_B.weight`)!;
    const weight = expectedModel.params.get(`${m}.weight`)!;
    const folded = tf.tidy(() =>
      tf.add(
        weight,
        tf.mul(
          tf.matMul(tf.tensor(a.data, a.shape), tf.tensor(b.data, b.shape), true, true),
          alphas[i] / Math.sqrt(ranks[i]),
        ),
      )
    );
    weight.assign(folded);
    folded.dispose();
  });
  const fresh = tinyModel(9);
  const loaded = await loadTunedMethod(fresh, dir);
  assertEquals(loaded.method, "lora");
  assertEquals([...fresh.linearWrappers.keys()], modules);
  assert(maxAbsDiff(logitsOf(fresh), logitsOf(expectedModel)) < 1e-5);
  loaded.dispose();
  disposeModel(fresh);
  disposeModel(expectedModel);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("lora: a PEFT adapter whose settings peftlab cannot honour is refused, naming the field", async () => {
  const dir = await Deno.makeTempDir();
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const i of [0, 1]) {
    const path = `base_model.model.transformer.h.${i}.attn.c_attn`;
    tensors.set(`${path}.lora_A.weight`, { shape: [2, 16], data: new Float32Array(32) });
    tensors.set(`${path}.lora_B.weight`, { shape: [48, 2], data: new Float32Array(96) });
  }
  const base = { peft_type: "LORA", r: 2, lora_alpha: 2, target_modules: ["c_attn"] };
  for (
    const [field, value] of [
      ["bias", "all"],
      ["use_dora", true],
      ["layers_to_transform", [0]],
      ["modules_to_save", ["lm_head"]],
    ] as const
  ) {
    await writePeftAdapter(dir, { ...base, [field]: value }, tensors);
    const model = tinyModel();
    let message = "";
    try {
      await loadTunedMethod(model, dir);
    } catch (error) {
      assert(error instanceof CheckpointError, String(error));
      message = (error as Error).message;
    }
    assert(message.includes(field), `${field}: "${message}"`);
    disposeModel(model);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("ia3: a PEFT adapter that scales queries loads and gives PEFT's logits", async () => {
  const dir = await Deno.makeTempDir();
  const scales = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const i of [0, 1]) {
    scales.set(`base_model.model.transformer.h.${i}.attn.c_attn.ia3_l`, {
      shape: [48, 1],
      data: randomArray(48, i).map((v) => 1 + v),
    });
    scales.set(`base_model.model.transformer.h.${i}.mlp.c_proj.ia3_l`, {
      shape: [1, 64],
      data: randomArray(64, 5 + i).map((v) => 1 + v),
    });
  }
  await writePeftAdapter(dir, {
    peft_type: "IA3",
    target_modules: ["c_attn", "mlp.c_proj"],
    feedforward_modules: ["mlp.c_proj"],
    fan_in_fan_out: true,
  }, scales);
  // Expected: c_attn's columns (and bias) times its scales; mlp.c_proj's rows times its scales.
  const expectedModel = tinyModel(3);
  for (const i of [0, 1]) {
    const attn = scales.get(`base_model.model.transformer.h.${i}.attn.c_attn.ia3_l`)!.data;
    const mlp = scales.get(`base_model.model.transformer.h.${i}.mlp.c_proj.ia3_l`)!.data;
    const update = (name: string, factor: tf.Tensor) => {
      const p = expectedModel.params.get(name)!;
      const scaled = tf.tidy(() => tf.mul(p, factor));
      p.assign(scaled);
      scaled.dispose();
    };
    update(`h.${i}.attn.c_attn.weight`, tf.tensor2d(attn, [1, 48]));
    update(`h.${i}.attn.c_attn.bias`, tf.tensor1d(attn));
    update(`h.${i}.mlp.c_proj.weight`, tf.tensor2d(mlp, [64, 1]));
  }
  const fresh = tinyModel(3);
  const loaded = await loadTunedMethod(fresh, dir);
  assertEquals(loaded.method, "ia3");
  assert(maxAbsDiff(logitsOf(fresh), logitsOf(expectedModel)) < 1e-5);
  loaded.dispose();
  disposeModel(fresh);
  disposeModel(expectedModel);
  await Deno.remove(dir, { recursive: true });
});
