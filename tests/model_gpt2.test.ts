import * as tf from "@tensorflow/tfjs-core";
import {
  deepStrictEqual as assertEquals,
  notDeepStrictEqual,
  ok as assert,
  rejects,
  throws,
} from "node:assert/strict";
import { initEngine } from "../lib/engine/mod.ts";
import {
  createGPT2,
  generate,
  type GPT2,
  type GPT2Config,
  KVCache,
  linearLayers,
  lmLoss,
  ModelInputError,
  parameterShapes,
} from "../lib/model/mod.ts";
import { dropoutKeepingMask } from "../lib/model/gpt2.ts";

await initEngine({ backend: "cpu" });

const tinyConfig: GPT2Config = {
  nLayer: 2,
  nHead: 2,
  nEmbd: 8,
  vocabSize: 11,
  nPositions: 24,
  layerNormEpsilon: 1e-5,
  activationFunction: "gelu_new",
  dropout: 0,
};

/** A tiny model whose weights are large enough that every gradient is clearly non-zero. */
function roughModel(config: GPT2Config = tinyConfig, seed = 3): GPT2 {
  const model = createGPT2(config, seed);
  let index = 0;
  for (const p of model.params.values()) {
    p.assign(tf.tidy(() => tf.add(p, tf.randomNormal(p.shape, 0, 0.3, "float32", 1000 + index++))));
  }
  return model;
}

function values(t: tf.Tensor): number[] {
  const out = Array.from(t.dataSync());
  t.dispose();
  return out;
}

function logits(model: GPT2, ids: number[][], opts: Parameters<GPT2["forward"]>[1] = {}): number[] {
  return values(tf.tidy(() => model.forward(tf.tensor2d(ids, undefined, "int32"), opts)));
}

function assertClose(actual: number[], wanted: number[], tolerance: number, what: string): void {
  assertEquals(actual.length, wanted.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert(
      Math.abs(actual[i] - wanted[i]) <= tolerance * Math.max(1, Math.abs(wanted[i])),
      `${what}[${i}]: ${actual[i]} vs ${wanted[i]}`,
    );
  }
}

function dispose(model: GPT2): void {
  for (const p of model.params.values()) p.dispose();
}

Deno.test("createGPT2: same seed gives the same weights, another seed different ones, GPT-2 init scales", () => {
  const config = { ...tinyConfig, nEmbd: 64, nHead: 4, vocabSize: 500, nLayer: 3 };
  const a = createGPT2(config, 7);
  const b = createGPT2(config, 7);
  const c = createGPT2(config, 8);
  for (const [name, p] of a.params) {
    assertEquals(p.dataSync(), b.param(name).dataSync(), name);
  }
  notDeepStrictEqual(a.param("wte.weight").dataSync(), c.param("wte.weight").dataSync());
  const std = (name: string) => {
    const v = Array.from(a.param(name).dataSync());
    return Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
  };
  assert(Math.abs(std("wte.weight") - 0.02) < 0.001, `wte std ${std("wte.weight")}`);
  assert(Math.abs(std("h.1.attn.c_attn.weight") - 0.02) < 0.001);
  const residual = 0.02 / Math.sqrt(2 * config.nLayer);
  assert(
    Math.abs(std("h.1.mlp.c_proj.weight") - residual) < 0.0005,
    `c_proj std ${std("h.1.mlp.c_proj.weight")}`,
  );
  assert(Math.abs(std("h.0.attn.c_proj.weight") - residual) < 0.001);
  assertEquals(new Set(a.param("h.0.ln_1.weight").dataSync()), new Set([1]));
  assertEquals(new Set(a.param("h.0.mlp.c_fc.bias").dataSync()), new Set([0]));
  for (const m of [a, b, c]) dispose(m);
});

Deno.test("createGPT2: rejects a config whose n_embd is not divisible by n_head", () => {
  throws(() => createGPT2({ ...tinyConfig, nHead: 3 }, 0), ModelInputError);
  throws(
    () => createGPT2({ ...tinyConfig, activationFunction: "swish" }, 0),
    /unsupported activation_function/,
  );
});

Deno.test("lmLoss: gradients agree with central finite differences (weights and soft prompt)", () => {
  const model = roughModel();
  const ids = tf.tensor2d([[1, 4, 2, 9, 3, 7], [5, 5, 0, 10, 6, 2]], undefined, "int32");
  const labels = tf.tensor2d(
    [[1, 4, 2, 9, 3, 7], [-100, -100, 0, 10, -100, 2]],
    undefined,
    "int32",
  );
  const prefix = tf.variable(tf.randomNormal([2, 2, 8], 0, 0.5, "float32", 5));
  const loss = () => lmLoss(model, ids, labels, { prefix: prefix as tf.Tensor3D });
  const checked = [
    "wte.weight",
    "wpe.weight",
    "h.0.attn.c_attn.weight",
    "h.1.mlp.c_fc.bias",
    "h.1.ln_2.weight",
    "ln_f.bias",
  ];
  const variables = [...checked.map((n) => model.param(n)), prefix];
  const { grads } = tf.variableGrads(loss, variables);
  const step = 1e-2;
  let compared = 0;
  for (const variable of variables) {
    const analytic = grads[variable.name].dataSync();
    const original = variable.dataSync().slice();
    // the 4 largest analytic entries of each variable, where the relative check is meaningful
    const order = Array.from(analytic.keys()).sort((a, b) =>
      Math.abs(analytic[b]) - Math.abs(analytic[a])
    );
    for (const i of order.slice(0, 4)) {
      const at = (delta: number) => {
        const moved = original.slice();
        moved[i] += delta;
        variable.assign(tf.tensor(moved, variable.shape));
        return values(loss());
      };
      const numeric = (at(step)[0] - at(-step)[0]) / (2 * step);
      variable.assign(tf.tensor(original, variable.shape));
      const error = Math.abs(numeric - analytic[i]) / Math.max(Math.abs(analytic[i]), 1e-3);
      assert(error < 2e-2, `${variable.name}[${i}]: analytic ${analytic[i]} vs numeric ${numeric}`);
      compared++;
    }
  }
  assertEquals(compared, 4 * variables.length);
  tf.dispose([ids, labels, prefix, ...Object.values(grads)]);
  dispose(model);
});

Deno.test("lmLoss: mean cross-entropy over labels != -100, predicting the next position", () => {
  const model = roughModel();
  const ids = [[3, 1, 4, 1, 5]];
  const labels = [[3, -100, 4, 1, -100]];
  const all = logits(model, ids); // (1, 5, 11)
  const V = tinyConfig.vocabSize;
  const terms: number[] = [];
  for (let t = 0; t + 1 < ids[0].length; t++) {
    const target = labels[0][t + 1];
    if (target === -100) continue;
    const row = all.slice(t * V, (t + 1) * V);
    const max = Math.max(...row);
    const logSum = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
    terms.push(logSum - row[target]);
  }
  const wanted = terms.reduce((a, b) => a + b, 0) / terms.length;
  const got = values(
    tf.tidy(() =>
      lmLoss(model, tf.tensor2d(ids, undefined, "int32"), tf.tensor2d(labels, undefined, "int32"))
    ),
  )[0];
  assert(Math.abs(got - wanted) < 1e-5, `${got} vs ${wanted}`);
  const fromArrays = values(
    tf.tidy(() => lmLoss(model, tf.tensor2d(ids, undefined, "int32"), labels)),
  )[0];
  assert(Math.abs(fromArrays - wanted) < 1e-5, `labels as arrays: ${fromArrays} vs ${wanted}`);
  dispose(model);
});

Deno.test("dropoutKeepingMask: tf.dropout's values for the same seed; the gradient is the scaled mask", () => {
  const x = tf.randomNormal([6, 40], 0, 1, "float32", 11);
  const wanted = values(tf.dropout(x, 0.3, undefined, 17));
  assertEquals(values(dropoutKeepingMask(x, 0.3, 17)), wanted);
  const variable = tf.variable(x, true, "dropout-x");
  const { value, grads } = tf.variableGrads(
    () => tf.sum(tf.mul(dropoutKeepingMask(variable, 0.3, 17), 2)) as tf.Scalar,
    [variable],
  );
  const mask = values(tf.dropout(tf.onesLike(x), 0.3, undefined, 17)).map((m) => 2 * m);
  assertClose(values(grads["dropout-x"]), mask, 1e-6, "gradient");
  assert(mask.some((m) => m === 0) && mask.some((m) => m > 2), "the mask drops and scales");
  tf.dispose([x, value, variable]);
});

Deno.test("lmLoss: labels as arrays (only scored rows reach the LM head) give the same gradients", () => {
  const model = roughModel();
  const ids = tf.tensor2d([[1, 4, 2, 9, 3, 7], [5, 5, 0, 10, 6, 2]], undefined, "int32");
  const labels = [[-100, -100, 2, 9, -100, -100], [-100, -100, -100, 10, 6, 2]];
  const labelTensor = tf.tensor2d(labels, undefined, "int32");
  const prefix = tf.variable(tf.randomNormal([2, 2, 8], 0, 0.5, "float32", 5));
  const variables = [model.param("wte.weight"), model.param("h.0.attn.c_attn.weight"), prefix];
  const withArrays = tf.variableGrads(
    () => lmLoss(model, ids, labels, { prefix: prefix as tf.Tensor3D }),
    variables,
  );
  const withTensor = tf.variableGrads(
    () => lmLoss(model, ids, labelTensor, { prefix: prefix as tf.Tensor3D }),
    variables,
  );
  assertClose(values(withArrays.value), values(withTensor.value), 1e-6, "loss");
  for (const v of variables) {
    assertClose(values(withArrays.grads[v.name]), values(withTensor.grads[v.name]), 1e-5, v.name);
  }
  throws(() => lmLoss(model, ids, [[1, 2, 3, 4, 5, 6], [1, 2, 3]]), ModelInputError);
  tf.dispose([ids, labelTensor, prefix]);
  dispose(model);
});

Deno.test("forward: a soft prompt equal to token embeddings gives the logits of those tokens", () => {
  const model = roughModel();
  const plain = logits(model, [[6, 2, 8, 1]]);
  const prefix = tf.tidy(() =>
    tf.expandDims(tf.gather(model.param("wte.weight"), tf.tensor1d([6, 2], "int32")), 0)
  ) as tf.Tensor3D;
  const withPrefix = logits(model, [[8, 1]], { prefix });
  assertClose(withPrefix, plain, 1e-5, "prefix logits");
  prefix.dispose();
  dispose(model);
});

Deno.test("shapes: n_inner sets the MLP width in the one layer table, and the model follows it", () => {
  const config = { ...tinyConfig, nInner: 20 };
  const shapes = parameterShapes(config);
  assertEquals(shapes.get("h.0.mlp.c_fc.weight"), [8, 20]);
  assertEquals(shapes.get("h.1.mlp.c_proj.weight"), [20, 8]);
  assertEquals(linearLayers(shapes).get("h.1.mlp.c_proj"), { inFeatures: 20, outFeatures: 8 });
  assertEquals(parameterShapes(tinyConfig).get("h.0.mlp.c_fc.weight"), [8, 32]); // 4·n_embd
  const model = roughModel(config);
  for (const [name, shape] of shapes) assertEquals(model.param(name).shape, shape, name);
  assertEquals(logits(model, [[1, 2, 3]]).length, 3 * tinyConfig.vocabSize);
  dispose(model);
});

Deno.test("forward: linearWrappers replace exactly the named layer", () => {
  const model = roughModel();
  const ids = [[1, 2, 3]];
  const base = logits(model, ids);
  assertEquals(linearLayers(parameterShapes(tinyConfig)).size, 8);
  const seen: number[][] = [];
  model.linearWrappers.set("h.1.mlp.c_fc", (x, layer) => {
    seen.push(x.shape);
    return layer(x);
  });
  assertEquals(logits(model, ids), base);
  assertEquals(seen, [[3, 8]]);
  // A wrapper adding a low-rank update x·A·B changes the output like a weight change would.
  const A = tf.randomNormal([8, 2], 0, 0.3, "float32", 1);
  const B = tf.randomNormal([2, 24], 0, 0.3, "float32", 2);
  model.linearWrappers.set(
    "h.0.attn.c_attn",
    (x, layer) => tf.add(layer(x), tf.matMul(tf.matMul(x, A), B)),
  );
  const wrapped = logits(model, ids);
  model.linearWrappers.clear();
  const weight = model.param("h.0.attn.c_attn.weight");
  const original = weight.dataSync().slice();
  weight.assign(tf.tidy(() => tf.add(weight, tf.matMul(A, B))));
  assertClose(wrapped, logits(model, ids), 1e-5, "merged");
  notDeepStrictEqual(wrapped, base);
  weight.assign(tf.tensor(original, weight.shape));
  tf.dispose([A, B]);
  dispose(model);
});

Deno.test("forward: dropout only in training, reproducible for a seed", () => {
  const model = roughModel({ ...tinyConfig, dropout: 0.3 });
  const ids = [[1, 2, 3, 4]];
  const evaluation = logits(model, ids);
  assertEquals(logits(model, ids, { training: false }), evaluation);
  const a = logits(model, ids, { training: true, seed: 1 });
  assertEquals(logits(model, ids, { training: true, seed: 1 }), a);
  notDeepStrictEqual(logits(model, ids, { training: true, seed: 2 }), a);
  notDeepStrictEqual(a, evaluation);
  dispose(model);
});

Deno.test("forward: KV cache in chunks gives the logits of one full pass", () => {
  const model = roughModel();
  const ids = [[1, 2, 3, 4, 5, 6, 7]];
  const full = logits(model, ids);
  const cache = new KVCache();
  const chunks = [[1, 2, 3], [4], [5, 6], [7]];
  const pieces = chunks.flatMap((chunk) => logits(model, [chunk], { cache }));
  assertEquals(cache.length, 7);
  assertClose(pieces, full, 1e-5, "cached logits");
  cache.dispose();
  throws(() => logits(model, [Array(25).fill(1)]), /exceeds n_positions 24/);
  dispose(model);
});

Deno.test("forward + lmLoss gradients: the tensor count does not grow across steps", async () => {
  const model = roughModel();
  const ids = tf.tensor2d([[1, 2, 3, 4]], undefined, "int32");
  const step = () => {
    const { value, grads } = tf.variableGrads(() =>
      lmLoss(model, ids, ids, { training: true, seed: 1 })
    );
    tf.dispose([value, ...Object.values(grads)]);
  };
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) step();
  await generate(model, [[1, 2], [3]], { maxNew: 3, beams: 2 });
  await generate(model, [[1, 2], [3]], { maxNew: 3, temperature: 1, seed: 1 });
  assertEquals(tf.memory().numTensors, before);
  ids.dispose();
  dispose(model);
});

/** Greedy by recomputing the whole sequence at every step, without cache or padding. */
function naiveGreedy(model: GPT2, prompt: number[], maxNew: number): number[] {
  const sequence = [...prompt];
  for (let i = 0; i < maxNew; i++) {
    const all = logits(model, [sequence]);
    const V = model.config.vocabSize;
    const last = all.slice(all.length - V);
    sequence.push(last.indexOf(Math.max(...last)));
  }
  return sequence.slice(prompt.length);
}

Deno.test("generate: KV-cache greedy equals full recomputation, batched prompts of different lengths", async () => {
  const model = roughModel({ ...tinyConfig, vocabSize: 50 });
  const prompts = [[1, 2, 3, 4, 5], [7], [9, 8, 7]];
  const wanted = prompts.map((p) => naiveGreedy(model, p, 8));
  assertEquals(await generate(model, prompts, { maxNew: 8 }), wanted);
  assertEquals(await generate(model, [prompts[1]], { maxNew: 8 }), [wanted[1]]);
  dispose(model);
});

Deno.test("generate: a shared soft prompt is honoured in every batched row", async () => {
  const model = roughModel({ ...tinyConfig, vocabSize: 50 });
  const prefix = tf.tidy(() =>
    tf.expandDims(tf.gather(model.param("wte.weight"), tf.tensor1d([4, 4, 9], "int32")), 0)
  ) as tf.Tensor3D;
  const prompts = [[1, 2], [30, 31, 32, 33]];
  const wanted = prompts.map((p) => naiveGreedy(model, [4, 4, 9, ...p], 6));
  assertEquals(await generate(model, prompts, { maxNew: 6, prefix }), wanted);
  prefix.dispose();
  dispose(model);
});

Deno.test("generate: eos stops a row and is not returned", async () => {
  const model = roughModel({ ...tinyConfig, vocabSize: 50 });
  const free = (await generate(model, [[1, 2, 3]], { maxNew: 8 }))[0];
  const eosId = free[3];
  const stopped = (await generate(model, [[1, 2, 3]], { maxNew: 8, eosId }))[0];
  assertEquals(stopped, free.slice(0, free.indexOf(eosId)));
  dispose(model);
});

Deno.test("generate: sampling is reproducible per seed; tiny top-p is greedy; beam search beats greedy on log-probability", async () => {
  const model = roughModel({ ...tinyConfig, vocabSize: 50 });
  const prompts = [[1, 2, 3], [4]];
  const a = await generate(model, prompts, { maxNew: 10, temperature: 1.5, seed: 11 });
  assertEquals(await generate(model, prompts, { maxNew: 10, temperature: 1.5, seed: 11 }), a);
  notDeepStrictEqual(await generate(model, prompts, { maxNew: 10, temperature: 1.5, seed: 12 }), a);
  const greedy = await generate(model, prompts, { maxNew: 10 });
  assertEquals(
    await generate(model, prompts, { maxNew: 10, temperature: 1, topP: 1e-6, seed: 3 }),
    greedy,
  );
  assertEquals(await generate(model, prompts, { maxNew: 10, beams: 1 }), greedy);
  const beam = await generate(model, prompts, { maxNew: 10, beams: 4 });
  const logProb = (prompt: number[], continuation: number[]) => {
    const sequence = [...prompt, ...continuation];
    const all = logits(model, [sequence]);
    const V = model.config.vocabSize;
    let total = 0;
    for (let t = prompt.length - 1; t + 1 < sequence.length; t++) {
      const row = all.slice(t * V, (t + 1) * V);
      const max = Math.max(...row);
      total += row[sequence[t + 1]] - max -
        Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
    }
    return total;
  };
  for (const [i, prompt] of prompts.entries()) {
    assertEquals(beam[i].length, 10);
    assert(logProb(prompt, beam[i]) >= logProb(prompt, greedy[i]) - 1e-4, `prompt ${i}`);
  }
  dispose(model);
});

Deno.test("generate: rejects out-of-vocabulary ids and too-long requests with a clear error", async () => {
  const model = roughModel();
  await rejects(() => generate(model, [[1, 11]], { maxNew: 2 }), /token id 11 outside \[0, 11\)/);
  await rejects(() => generate(model, [[1, 2]], { maxNew: 30 }), /exceed n_positions 24/);
  await rejects(() => generate(model, [[]], { maxNew: 2 }), /prompt 0 is empty/);
  dispose(model);
});

Deno.test("generate: 16 prompts of different lengths × 32 new tokens, batched, equal one-by-one generation", async () => {
  // Speed is measured by `deno task bench` (the generate case), never here.
  const config = {
    ...tinyConfig,
    nLayer: 4,
    nHead: 4,
    nEmbd: 128,
    vocabSize: 1000,
    nPositions: 128,
  };
  const model = createGPT2(config, 1);
  assert(model.parameterCount > 900_000 && model.parameterCount < 1_100_000);
  const prompts = Array.from(
    { length: 16 },
    (_, i) => Array.from({ length: 20 + i }, (_, j) => (i * 31 + j * 7) % 1000),
  );
  const out = await generate(model, prompts, { maxNew: 32 });
  assert(out.every((row) => row.length === 32));
  for (const index of [0, 15]) {
    const [alone] = await generate(model, [prompts[index]], { maxNew: 32 });
    assertEquals(out[index], alone, `prompt ${index}: batched and alone differ`);
  }
  dispose(model);
});

Deno.test("generate: top-p sampling only draws from the nucleus of the temperature-scaled distribution", async () => {
  const model = roughModel({ ...tinyConfig, vocabSize: 50 });
  const prompt = [3, 1, 4];
  const temperature = 0.7;
  const topP = 0.6;
  const all = logits(model, [prompt]);
  const last = all.slice(all.length - 50).map((x) => x / temperature);
  const max = Math.max(...last);
  const weights = last.map((x) => Math.exp(x - max));
  const total = weights.reduce((a, b) => a + b, 0);
  const order = weights.map((w, id) => ({ id, p: w / total })).sort((a, b) => b.p - a.p);
  const nucleus = new Set<number>();
  let mass = 0;
  for (const { id, p } of order) {
    nucleus.add(id);
    mass += p;
    if (mass >= topP) break;
  }
  assert(nucleus.size > 1 && nucleus.size < 50, `nucleus of ${nucleus.size}`);
  const drawn = new Set<number>();
  for (let seed = 0; seed < 40; seed++) {
    const [[id]] = await generate(model, [prompt], { maxNew: 1, temperature, topP, seed });
    assert(nucleus.has(id), `seed ${seed} drew ${id} outside the nucleus`);
    drawn.add(id);
  }
  assert(drawn.size > 1, "sampling never varied across seeds");
  dispose(model);
});
