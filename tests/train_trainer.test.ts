import * as tf from "@tensorflow/tfjs-core";
import { deepStrictEqual, ok } from "node:assert/strict";
import { initEngine } from "../lib/engine/mod.ts";
import { createGPT2, type GPT2, type GPT2Config, lmLoss } from "../lib/model/gpt2.ts";
import { type AppliedMethod, full, lora, methods, prompt } from "../lib/peft/mod.ts";
import {
  AdamW,
  clipByGlobalNorm,
  collate,
  decays,
  defaultTrainOptions,
  languageModelExamples,
  learningRateAt,
  lossByPosition,
  parseTrainOptions,
  pretrain,
  Rng,
  train,
  type TrainingExample,
  type TrainOptions,
  validationLossOf,
} from "../lib/train/mod.ts";

await initEngine({ backend: "cpu" });

const assert = (condition: unknown, message?: string) => ok(condition, message);
const assertEquals = (actual: unknown, expected: unknown, message?: string) =>
  deepStrictEqual(actual, expected, message);
const assertClose = (actual: number, expected: number, tolerance: number, what = "") =>
  ok(
    Math.abs(actual - expected) <= tolerance,
    `${what} ${actual} not within ${tolerance} of ${expected}`,
  );

function tinyConfig(overrides: Partial<GPT2Config> = {}): GPT2Config {
  return {
    nLayer: 2,
    nHead: 2,
    nEmbd: 16,
    vocabSize: 32,
    nPositions: 32,
    layerNormEpsilon: 1e-5,
    activationFunction: "gelu_new",
    dropout: 0,
    ...overrides,
  };
}

function disposeModel(model: GPT2): void {
  for (const p of model.params.values()) p.dispose();
}

const separator = 31;

/** Documents of 6 random tokens; the "summary" is the first token twice (or a shifted one). */
function examples(count: number, seed: number, shift = 0): TrainingExample[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const doc = Array.from({ length: 6 }, () => 1 + Math.floor(rng.next() * 29));
    const target = (doc[0] + shift) % 30 + 1;
    const ids = [...doc, separator, target, target];
    const labels = ids.map((id, i) => (i > doc.length ? id : -100));
    return { ids, labels };
  });
}

/** Documents whose summary is always the one token `target` (the only scored position). */
function oneTokenSummaries(count: number, seed: number, target: number): TrainingExample[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const doc = Array.from({ length: 6 }, () => 1 + Math.floor(rng.next() * 29));
    const ids = [...doc, separator, target];
    return { ids, labels: ids.map((id, i) => (i === doc.length + 1 ? id : -100)) };
  });
}

function options(overrides: Partial<TrainOptions> = {}): TrainOptions {
  return {
    ...defaultTrainOptions,
    seed: 3,
    batchSize: 4,
    learningRate: 1e-2,
    epochs: 2,
    evalBatchSize: 8,
    ...overrides,
  };
}

function values(vars: Map<string, tf.Variable>): Map<string, Float32Array> {
  return new Map([...vars].map(([n, v]) => [n, new Float32Array(v.dataSync())]));
}

const data = { train: examples(16, 1), validation: examples(8, 2) };

Deno.test("schedule: linear warmup then linear or cosine decay, as in HF transformers", () => {
  const base = { learningRate: 1, warmupSteps: 4, totalSteps: 14 };
  assertEquals(learningRateAt(0, { ...base, decay: "linear" }), 0);
  assertEquals(learningRateAt(2, { ...base, decay: "linear" }), 0.5);
  assertEquals(learningRateAt(4, { ...base, decay: "linear" }), 1);
  assertClose(learningRateAt(9, { ...base, decay: "linear" }), 0.5, 1e-12);
  assertClose(learningRateAt(9, { ...base, decay: "cosine" }), 0.5, 1e-12);
  assertClose(
    learningRateAt(6.5, { ...base, decay: "cosine" }),
    0.5 * (1 + Math.cos(Math.PI / 4)),
    1e-12,
  );
  assertEquals(learningRateAt(14, { ...base, decay: "linear" }), 0);
  assertEquals(learningRateAt(12, { ...base, decay: "constant" }), 1);
});

Deno.test("AdamW: first step matches torch.optim.AdamW; no decay on biases, layer norms, 1-D", async () => {
  const weight = tf.variable(tf.tensor2d([[1, 2]]));
  const bias = tf.variable(tf.tensor1d([1, 2]));
  const optimizer = new AdamW(
    new Map<string, tf.Variable>([["h.0.mlp.c_fc.weight", weight], ["h.0.mlp.c_fc.bias", bias]]),
    {
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-8,
      weightDecay: 0.01,
    },
  );
  const g1 = tf.tensor2d([[0.5, -1]]);
  const g2 = tf.tensor1d([0.5, -1]);
  optimizer.applyGradients(
    new Map<string, tf.Tensor>([["h.0.mlp.c_fc.weight", g1], ["h.0.mlp.c_fc.bias", g2]]),
    0.1,
  );
  // step 1: m̂ = g, v̂ = g², so the update is lr·sign(g); decay multiplies by (1 − lr·wd)
  const w = weight.dataSync();
  assertClose(w[0], 1 * 0.999 - 0.1, 1e-6);
  assertClose(w[1], 2 * 0.999 + 0.1, 1e-6);
  const b = bias.dataSync();
  assertClose(b[0], 0.9, 1e-6);
  assertClose(b[1], 2.1, 1e-6);
  assert(
    !decays("h.0.ln_1.weight", [16]) && !decays("ln_f.bias", [16]) &&
      !decays("h.0.attn.c_attn.bias", [48]),
  );
  assert(decays("h.0.attn.c_attn.weight", [16, 48]) && decays("h.0.attn.c_attn.lora_A", [4, 16]));
  const saved = await optimizer.exportState();
  assertEquals(saved.step, 1);
  assertClose(saved.m.get("h.0.mlp.c_fc.weight")![0], 0.05, 1e-7);
  for (const t of [weight, bias, g1, g2]) t.dispose();
  optimizer.dispose();
});

Deno.test("clipping: the global norm is scaled down to max_grad_norm and left alone below it", async () => {
  const a = tf.tensor1d([3]);
  const b = tf.tensor1d([4]);
  const grads = new Map<string, tf.Tensor>([["a", a], ["b", b]]);
  const clipped = await clipByGlobalNorm(grads, 1);
  assertClose(clipped.norm, 5, 1e-6);
  assertClose(clipped.grads.get("a")!.dataSync()[0], 0.6, 1e-5);
  assertClose(clipped.grads.get("b")!.dataSync()[0], 0.8, 1e-5);
  assert((await clipByGlobalNorm(grads, 10)).grads === grads);
  for (const t of [a, b, ...clipped.grads.values()]) t.dispose();
});

Deno.test("collate: pads to the longest sequence with label -100", () => {
  const batch = collate([{ ids: [1, 2, 3], labels: [-100, 2, 3] }, { ids: [4], labels: [4] }], 0);
  assertEquals(batch.ids, [[1, 2, 3], [4, 0, 0]]);
  assertEquals(batch.labels, [[-100, 2, 3], [4, -100, -100]]);
  assertEquals(batch.tokens, 4);
});

Deno.test("options: parsed from snake_case keys; errors name the key", () => {
  const parsed = parseTrainOptions(
    {
      batch_size: 2,
      gradient_accumulation: 4,
      learning_rate: 5e-5,
      epochs: 3,
      lr_schedule: "cosine",
      method: "lora",
    },
    "stages.train-lora.params",
    ["method"],
  );
  assertEquals([parsed.batchSize, parsed.gradientAccumulation, parsed.epochs, parsed.decay], [
    2,
    4,
    3,
    "cosine",
  ]);
  try {
    parseTrainOptions({ batch_sise: 2 }, "p");
    throw new Error("accepted a typo");
  } catch (error) {
    assertEquals((error as { key?: string }).key, "p.batch_sise");
  }
});

Deno.test("every method: training changes only its trainable weights; frozen ones stay bit-identical", async () => {
  for (const [name, method] of methods) {
    const model = createGPT2(tinyConfig(), 5);
    const raw = smallConfigOf(name);
    const applied = method.apply(model, method.parseConfig(raw, name), 1);
    const before = values(model.params);
    const trainableBefore = values(applied.trainable);
    const result = await train(model, applied, data, options({ maxSteps: 3 }));
    assertEquals(result.steps, 3);
    for (const [n, p] of model.params) {
      if (applied.trainable.has(n)) continue;
      assertEquals(new Float32Array(p.dataSync()), before.get(n), `${name}: ${n} changed`);
    }
    for (const [n, v] of applied.trainable) {
      assert(
        v.dataSync().some((x, i) => x !== trainableBefore.get(n)![i]),
        `${name}: trainable ${n} did not change`,
      );
    }
    assertEquals(
      result.trainableParams,
      method.countTrainable(tinyConfig(), method.parseConfig(raw, name)),
    );
    assertEquals(
      result.totalParams,
      [...model.params.values()].reduce((s, p) => s + p.size, 0) + applied.addedParams,
    );
    applied.dispose();
    disposeModel(model);
  }
});

/** A config each registered method accepts on `tinyConfig()` (prompt needs a short soft prompt). */
function smallConfigOf(name: string): Record<string, unknown> {
  if (name === "prompt") return { init: "vocab", soft_tokens: 3 };
  if (name === "full") return { last_blocks: 1 };
  return {};
}

Deno.test("every method: no tensor leak — the live tensor count is the same after every step and after the run", async () => {
  for (const [name, method] of methods) {
    const model = createGPT2(tinyConfig({ dropout: 0.1 }), 6);
    const applied = method.apply(model, method.parseConfig(smallConfigOf(name), name), 2);
    const tensorsBefore = tf.memory().numTensors;
    const perStep: number[] = [];
    await train(model, applied, data, options({ epochs: 2, gradientAccumulation: 2 }), {
      progress: (update) => {
        if (update.phase === "train") perStep.push(tf.memory().numTensors);
      },
    });
    assertEquals(perStep.length, 4, name);
    assert(perStep.every((n) => n === perStep[0]), `${name}: tensor count grew: ${perStep}`);
    assertEquals(tf.memory().numTensors, tensorsBefore, `${name}: tensors left after training`);
    applied.dispose();
    disposeModel(model);
  }
});

Deno.test("trainer: trainSeconds counts optimisation steps only; validation and checkpoint seconds are apart", async () => {
  const model = createGPT2(tinyConfig(), 7);
  const applied = lora.apply(model, lora.parseConfig({ r: 2 }, "l"), 1);
  const checkpointDir = await Deno.makeTempDir();
  // One step on 4 examples, then a validation over 40 times as many: validation must dominate.
  const slowValidation = { train: examples(4, 1), validation: examples(160, 2) };
  const started = performance.now();
  const result = await train(
    model,
    applied,
    slowValidation,
    options({ epochs: 1, evalBatchSize: 4, checkpointEverySteps: 1 }),
    { checkpointDir },
  );
  const wallSeconds = (performance.now() - started) / 1000;
  assertEquals(result.steps, 1);
  assert(result.validationSeconds > 2 * result.trainSeconds, JSON.stringify(result));
  assert(result.checkpointSeconds > 0, `checkpointSeconds ${result.checkpointSeconds}`);
  assert(result.trainSeconds + result.validationSeconds + result.checkpointSeconds <= wallSeconds);
  assertClose(result.tokensPerSecond, result.trainTokens / result.trainSeconds, 1e-9);
  await Deno.remove(checkpointDir, { recursive: true });
  applied.dispose();
  disposeModel(model);
});

Deno.test("trainer: only summary tokens are scored (loss → 0 on random documents); no tensor leak per step", async () => {
  // Documents are random tokens, the summary is always token 1: if document tokens were scored the
  // loss could never fall below ln(29) ≈ 3.4.
  const learnable = { train: oneTokenSummaries(16, 1, 1), validation: oneTokenSummaries(8, 2, 1) };
  const model = createGPT2(tinyConfig(), 2);
  const applied = full.apply(model, full.parseConfig({ layers: "all" }, "f"), 0);
  const tensorsBefore = tf.memory().numTensors;
  const perStep: number[] = [];
  const result = await train(
    model,
    applied,
    learnable,
    options({ epochs: 8, learningRate: 3e-2 }),
    {
      progress: (update) => {
        if (update.phase === "train") perStep.push(tf.memory().numTensors);
      },
    },
  );
  assertEquals(result.steps, 32);
  assertEquals(result.validationLoss.length, 8);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(result.trainLoss.slice(0, 4));
  const last = mean(result.trainLoss.slice(-4));
  assert(last < first - 0.4, `${first} → ${last}`);
  assert(result.validationLoss[7] < 0.5, `${result.validationLoss}`);
  assert(perStep.every((n) => n === perStep[0]), `tensor count grew: ${perStep}`);
  assertEquals(tf.memory().numTensors, tensorsBefore);
  assert(
    result.tokensPerSecond > 0 && result.trainSeconds > 0 && result.peakMemory.peakTensorBytes > 0,
  );
  assertEquals(result.trainTokens, 8 * 16 * 8);
  applied.dispose();
  disposeModel(model);
});

async function loraRun(
  overrides: Partial<TrainOptions>,
  ctx: Parameters<typeof train>[4] = {},
  dropout = 0.1,
): Promise<{ result: Awaited<ReturnType<typeof train>>; weights: Map<string, Float32Array> }> {
  const model = createGPT2(tinyConfig({ dropout }), 9);
  const applied: AppliedMethod = lora.apply(model, lora.parseConfig({ r: 2, dropout }, "l"), 4);
  try {
    const result = await train(model, applied, data, options(overrides), ctx);
    return { result, weights: values(applied.trainable) };
  } finally {
    applied.dispose();
    disposeModel(model);
  }
}

function withoutTiming(result: Awaited<ReturnType<typeof train>>) {
  const {
    trainSeconds: _s,
    validationSeconds: _v,
    checkpointSeconds: _c,
    tokensPerSecond: _t,
    peakMemory: _p,
    resumedFromStep: _r,
    ...rest
  } = result;
  return rest;
}

Deno.test("trainer: same seed gives an identical loss curve (dropout on); another seed does not", async () => {
  const a = await loraRun({ gradientAccumulation: 2, warmupSteps: 1, decay: "cosine" });
  const b = await loraRun({ gradientAccumulation: 2, warmupSteps: 1, decay: "cosine" });
  assertEquals(a.result.trainLoss, b.result.trainLoss);
  assertEquals(a.result.validationLoss, b.result.validationLoss);
  assertEquals(a.weights, b.weights);
  const c = await loraRun({ gradientAccumulation: 2, warmupSteps: 1, decay: "cosine", seed: 4 });
  assert(c.result.trainLoss.some((loss, i) => loss !== a.result.trainLoss[i]));
});

Deno.test("trainer: gradient accumulation of 2×2 equals one batch of 4", async () => {
  const one = await loraRun({ batchSize: 4, maxSteps: 2 }, {}, 0);
  const accumulated = await loraRun({ batchSize: 2, gradientAccumulation: 2, maxSteps: 2 }, {}, 0);
  for (let i = 0; i < 2; i++) {
    assertClose(accumulated.result.trainLoss[i], one.result.trainLoss[i], 1e-5, "loss");
  }
  for (const [name, w] of one.weights) {
    const other = accumulated.weights.get(name)!;
    for (let i = 0; i < w.length; i++) assertClose(other[i], w[i], 1e-5, name);
  }
});

Deno.test("trainer: interrupted after step 5 and rerun, it resumes from the step-4 checkpoint and ends identically", async () => {
  const checkpointDir = await Deno.makeTempDir();
  const overrides = {
    epochs: 3,
    checkpointEverySteps: 2,
    evalEverySteps: 3,
    gradientAccumulation: 1,
  };
  const uninterrupted = await loraRun(overrides);
  const controller = new AbortController();
  let threw = false;
  try {
    await loraRun(overrides, {
      checkpointDir,
      signal: controller.signal,
      progress: (u) => {
        if (u.step === 5) controller.abort(new Error("interrupted"));
      },
    });
  } catch (error) {
    threw = (error as Error).message === "interrupted";
  }
  assert(threw, "the aborted run must stop with the abort reason");
  const resumed = await loraRun(overrides, { checkpointDir });
  assertEquals(resumed.result.resumedFromStep, 4);
  assertEquals(withoutTiming(resumed.result), withoutTiming(uninterrupted.result));
  assertEquals(resumed.weights, uninterrupted.weights);
  await Deno.remove(checkpointDir, { recursive: true });
});

Deno.test("trainer: a checkpoint from different options is not resumed", async () => {
  const checkpointDir = await Deno.makeTempDir();
  await loraRun({ maxSteps: 2, checkpointEverySteps: 2 }, { checkpointDir });
  const other = await loraRun({ maxSteps: 2, checkpointEverySteps: 2, learningRate: 2e-2 }, {
    checkpointDir,
  });
  assertEquals(other.result.resumedFromStep, 0);
  await Deno.remove(checkpointDir, { recursive: true });
});

Deno.test("early stopping: stops after `patience` worse validations and restores the best epoch's weights", async () => {
  // Worse validation by construction: with a vocabulary of two tokens p(1) = 1 − p(0), and every
  // example is the same document. Training scores token 0 after it, validation scores token 1 after
  // it, so each validation loss is −log(1 − p(0)) exactly where training lowers −log p(0): the
  // better training works, the worse validation gets, from the first step on.
  const config = tinyConfig({ vocabSize: 2 });
  const document = [0, 1, 1, 0, 1, 0, 0, 1];
  const scoredLast = (target: number): TrainingExample => {
    const ids = [...document, target];
    return { ids, labels: ids.map((id, i) => (i === document.length ? id : -100)) };
  };
  const conflicting = {
    train: Array.from({ length: 16 }, () => scoredLast(0)),
    validation: Array.from({ length: 8 }, () => scoredLast(1)),
  };
  const run = async (epochs: number, patience: number) => {
    const model = createGPT2(config, 6);
    const applied = lora.apply(model, lora.parseConfig({ r: 4, alpha: 8 }, "l"), 2);
    const result = await train(
      model,
      applied,
      conflicting,
      options({ epochs, earlyStoppingPatience: patience, decay: "constant", learningRate: 2e-2 }),
    );
    const finalLoss = await validationLossOf(model, applied, conflicting.validation, 8, 0);
    const weights = values(applied.trainable);
    applied.dispose();
    disposeModel(model);
    return { result, finalLoss, weights };
  };
  const stopped = await run(10, 2);
  const losses = stopped.result.validationLoss;
  assert(stopped.result.stoppedEarly, `${losses}`);
  assertEquals(stopped.result.bestEpoch, 1, `${losses}`);
  assertEquals(losses.length, 3);
  assert(losses[1] > losses[0] && losses[2] > losses[0], `${losses}`);
  assertEquals(stopped.finalLoss, losses[0]);
  const oneEpoch = await run(1, 0);
  assertEquals(stopped.weights, oneEpoch.weights);
});

function createSizes(config: GPT2Config): number[] {
  const model = createGPT2(config, 0);
  const sizes = [...model.params.values()].map((p) => p.size);
  disposeModel(model);
  return sizes;
}

Deno.test("memory: LoRA's peak training memory is below full fine-tuning of all layers on the same batch", async () => {
  // Wide and short, as GPT-2 small on short summaries is: weights dominate activations.
  const config = tinyConfig({ nEmbd: 128, nHead: 4, vocabSize: 32 });
  const peak = async (name: string, raw: Record<string, unknown>) => {
    const model = createGPT2(config, 1);
    const method = methods.get(name)!;
    const applied = method.apply(model, method.parseConfig(raw, name), 0);
    const result = await train(model, applied, data, options({ maxSteps: 2, batchSize: 2 }));
    applied.dispose();
    disposeModel(model);
    return result.peakMemory.peakTensorBytes;
  };
  const loraPeak = await peak("lora", { r: 4 });
  const fullPeak = await peak("full", { layers: "all" });
  const weightBytes = 4 * createSizes(config).reduce((a, b) => a + b, 0);
  const ia3Peak = await peak("ia3", {});
  assert(loraPeak < fullPeak, `LoRA ${loraPeak} B vs full ${fullPeak} B`);
  assert(ia3Peak < fullPeak, `IA³ ${ia3Peak} B vs full ${fullPeak} B`);
  // At its optimizer update full fine-tuning holds the weights, their gradients and two AdamW
  // moments at once: the peak must include all four (it is live storage, optimizer state included).
  assert(fullPeak >= 4 * weightBytes, `full ${fullPeak} B vs 4 × weights ${weightBytes} B`);
  // LoRA holds the weights plus activations and, per target, two [in, out] tensors backprop keeps
  // (B·A and the folded weight); here those stay below the weights' size, so the gradients and
  // moments LoRA does not need leave a gap of more than two weight copies.
  assert(
    fullPeak - loraPeak > 2 * weightBytes,
    `${fullPeak} - ${loraPeak} vs weights ${weightBytes}`,
  );
});

/** Long examples with a short scored summary at the end, as the default pipeline's are. */
function longExamples(count: number, length: number, summary: number, vocab: number) {
  const rng = new Rng(11);
  return Array.from({ length: count }, () => {
    const ids = Array.from({ length }, () => 1 + Math.floor(rng.next() * (vocab - 2)));
    return { ids, labels: ids.map((id, i) => (i >= length - summary ? id : -100)) };
  });
}

Deno.test("memory: frozen blocks keep nothing — full tuning of the last block holds ≤ 0.75× LoRA-on-every-block's live tensors", async () => {
  // The default model's proportions, scaled down: 4 blocks, long inputs, a short summary.
  const config = tinyConfig({ nLayer: 4, nHead: 4, nEmbd: 64, vocabSize: 512, nPositions: 128 });
  const longData = { train: longExamples(8, 120, 20, 512), validation: [] };
  const peak = async (name: string, raw: Record<string, unknown>) => {
    const model = createGPT2(config, 1);
    const method = methods.get(name)!;
    const applied = method.apply(model, method.parseConfig(raw, name), 0);
    const result = await train(model, applied, longData, options({ maxSteps: 1, batchSize: 8 }));
    applied.dispose();
    disposeModel(model);
    return result.peakMemory.peakTensorBytes;
  };
  const loraPeak = await peak("lora", { r: 8, alpha: 16, target_modules: ["c_attn"] });
  const lastBlockPeak = await peak("full", { last_blocks: 1 });
  assert(
    lastBlockPeak <= 0.75 * loraPeak,
    `full (last block) ${lastBlockPeak} B vs LoRA ${loraPeak} B`,
  );
});

Deno.test("frozen blocks: running the blocks below the trainable one off the tape changes no loss or gradient bit", () => {
  const model = createGPT2(tinyConfig({ nLayer: 3, dropout: 0.1 }), 12);
  const batch = collate(examples(4, 5), 0);
  const ids = tf.tensor2d(batch.ids, undefined, "int32") as tf.Tensor2D;
  const trainable = [...model.params].filter(([name]) => name.startsWith("h.2.")).map(([, v]) => v);
  const gradientsWith = (frozenBlocks: number) =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(
        () => lmLoss(model, ids, batch.labels, { training: true, seed: 3, frozenBlocks }),
        trainable,
      );
      return [value, ...trainable.map((v) => grads[v.name])].map((t) => Array.from(t.dataSync()));
    });
  assertEquals(gradientsWith(2), gradientsWith(0));
  ids.dispose();
  disposeModel(model);
});

Deno.test("memory limit: a batch that does not fit runs in parts with the same loss and update, and says so", async () => {
  const run = async (memoryLimit: { bytes: number; name: string } | null) => {
    const model = createGPT2(tinyConfig(), 9);
    const applied = lora.apply(model, lora.parseConfig({ r: 2 }, "l"), 4);
    const lines: string[] = [];
    const result = await train(model, applied, data, options({ batchSize: 8, maxSteps: 3 }), {
      memoryLimit,
      log: (line) => lines.push(line),
    });
    const weights = values(applied.trainable);
    applied.dispose();
    disposeModel(model);
    return { result, weights, lines };
  };
  const whole = await run(null);
  const parts = await run({ bytes: 250_000, name: "a test budget" });
  assertEquals(whole.result.splitBatches, 0);
  assertEquals(parts.result.splitBatches, 3, "every step's batch ran in parts");
  assertEquals(parts.lines.length, 1);
  assert(parts.lines[0].includes("a test budget") && parts.lines[0].includes("same loss"));
  parts.result.trainLoss.forEach((loss, i) => assertClose(loss, whole.result.trainLoss[i], 1e-5));
  for (const [name, value] of whole.weights) {
    parts.weights.get(name)!.forEach((x, i) => assertClose(x, value[i], 1e-5, name));
  }
});

Deno.test("memory limit: when one example cannot fit, training fails with one line naming the limit", async () => {
  const model = createGPT2(tinyConfig(), 9);
  const applied = lora.apply(model, lora.parseConfig({ r: 2 }, "l"), 4);
  try {
    await train(model, applied, data, options({ maxSteps: 1 }), {
      memoryLimit: { bytes: 1000, name: "a tiny budget" },
    });
    assert(false, "training should have failed");
  } catch (error) {
    const message = (error as Error).message;
    assert(!message.includes("\n") && message.includes("a tiny budget"), message);
    assert(message.includes("max_input_tokens"), message);
  } finally {
    applied.dispose();
    disposeModel(model);
  }
});

Deno.test("pretrain: every weight trains on plain language modelling and the loss falls", async () => {
  const rng = new Rng(8);
  // A learnable language: each sequence counts upward from a random start.
  const sequences = Array.from({ length: 24 }, () => {
    const start = Math.floor(rng.next() * 20);
    return Array.from({ length: 10 }, (_, i) => (start + i) % 30);
  });
  const blocks = languageModelExamples(sequences, 12, 30);
  assertEquals(blocks[0].ids.length, 12);
  assertEquals(blocks[0].labels, blocks[0].ids);
  assertEquals(blocks.reduce((n, b) => n + b.ids.length, 0), 24 * 11);
  const model = createGPT2(tinyConfig(), 3);
  const result = await pretrain(
    model,
    { train: blocks.slice(0, 18), validation: blocks.slice(18) },
    options({ epochs: 10, learningRate: 2e-2, batchSize: 6 }),
  );
  const losses = result.validationLoss;
  assertEquals(result.trainableParams, [...model.params.values()].reduce((s, p) => s + p.size, 0));
  assert(losses.every((loss, i) => i === 0 || loss < losses[i - 1]), `${losses}`);
  assert(losses[9] < losses[0] - 0.5, `${losses}`);
  disposeModel(model);
});

Deno.test("lossByPosition: bucket losses weighted by their predictions give the loss over all positions", async () => {
  const model = createGPT2(tinyConfig(), 3);
  const blocks = languageModelExamples([Array.from({ length: 40 }, (_, i) => i % 30)], 10, 30);
  const buckets = await lossByPosition(model, blocks, 3, 2); // predictions 9 per block: 3 + 3 + 3
  assertEquals(buckets.length, 3);
  const ids = tf.tensor2d(blocks.map((b) => b.ids), undefined, "int32") as tf.Tensor2D;
  const overall = lmLoss(model, ids, blocks.map((b) => b.ids));
  assertClose(buckets.reduce((a, b) => a + b, 0) / 3, overall.dataSync()[0], 1e-5);
  tf.dispose([ids, overall]);
  disposeModel(model);
});

Deno.test("prompt: the soft prompt trains through the prefix hook and its positions are not scored", async () => {
  const model = createGPT2(tinyConfig(), 4);
  const applied = prompt.apply(
    model,
    prompt.parseConfig({ soft_tokens: 4, init: "vocab" }, "p"),
    0,
  );
  const before = await validationLossOf(model, applied, data.validation, 8, 0);
  const result = await train(model, applied, data, options({ epochs: 4, learningRate: 5e-2 }));
  assert(result.validationLoss[3] < before, `${before} → ${result.validationLoss}`);
  assertEquals(result.trainableParams, 4 * 16);
  applied.dispose();
  disposeModel(model);
});

Deno.test("trainer: max_steps spans epochs; validation every K steps and at the last step", async () => {
  // 16 examples, batch 4 → 4 steps per epoch; 7 steps end in the middle of epoch 2.
  const { result } = await loraRun({ maxSteps: 7, evalEverySteps: 3 }, {}, 0);
  assertEquals(result.steps, 7);
  assertEquals(result.validationSteps, [3, 6, 7]);
  assertEquals(result.epochs, 1.75);
  assertEquals(result.trainLoss.length, 7);
});

Deno.test("trainer: an example longer than the positions left by the soft prompt fails before training", async () => {
  const model = createGPT2(tinyConfig(), 1);
  const applied = prompt.apply(
    model,
    prompt.parseConfig({ soft_tokens: 4, init: "vocab" }, "p"),
    0,
  );
  const long = { ids: new Array(30).fill(3), labels: new Array(30).fill(3) };
  let error: unknown;
  try {
    await train(model, applied, { train: [...data.train, long], validation: [] }, options());
  } catch (caught) {
    error = caught;
  }
  assert(error instanceof Error && error.name === "ConfigError", String(error));
  assert((error as Error).message.startsWith("data.train[16]:"), (error as Error).message);
  applied.dispose();
  disposeModel(model);
});

Deno.test("trainer: each step uses the schedule's learning rate (warmup, then cosine to 0)", async () => {
  const rates: number[] = [];
  const { result } = await loraRun(
    { maxSteps: 6, warmupSteps: 2, decay: "cosine", learningRate: 0.01 },
    { progress: (u) => u.phase === "train" && rates.push(u.learningRate) },
    0,
  );
  assertEquals(result.steps, 6);
  const expected = [0, 1, 2, 3, 4, 5].map((step) =>
    learningRateAt(step, { learningRate: 0.01, warmupSteps: 2, totalSteps: 6, decay: "cosine" })
  );
  assertEquals(rates, expected);
  assertEquals(rates.slice(0, 3), [0, 0.005, 0.01]);
});

Deno.test("training options: validation runs at the training batch size unless eval_batch_size says otherwise", () => {
  deepStrictEqual(parseTrainOptions({ batch_size: 4 }, "params.training").evalBatchSize, 4);
  deepStrictEqual(
    parseTrainOptions({ batch_size: 4, eval_batch_size: 32 }, "params.training").evalBatchSize,
    32,
  );
  deepStrictEqual(parseTrainOptions({}, "params.training").evalBatchSize, 8);
});
