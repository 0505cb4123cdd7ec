import * as tf from "@tensorflow/tfjs-core";
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { initEngine } from "../lib/engine/mod.ts";
import {
  generate,
  type GPT2,
  lmLoss,
  loadCheckpoint,
  readSafetensors,
  readSafetensorsMetadata,
  saveCheckpoint,
  writeSafetensors,
} from "../lib/model/mod.ts";

const fixtureDir = new URL("./fixtures/tiny-gpt2/", import.meta.url).pathname;
const hfSaved = new URL("./fixtures/hf-saved/", import.meta.url).pathname;

interface LogitsCase {
  cmd: "logits";
  ids: string;
  logits_last: number[];
  logits_sum: number;
  loss: number | null;
  argmax_last: number;
}
interface GenerateCase {
  cmd: "generate";
  prompt_ids: number[];
  max_new: number;
  new_ids: number[];
  min_top2_margin: number;
}
const expected: { cases: (LogitsCase | GenerateCase)[] } = JSON.parse(
  await Deno.readTextFile(join(fixtureDir, "expected.json")),
);
const logitsCases = expected.cases.filter((c): c is LogitsCase => c.cmd === "logits");
const generateCases = expected.cases.filter((c): c is GenerateCase => c.cmd === "generate");

/** Largest |actual − expected| relative to the largest |expected| of the row. */
function relativeError(actual: ArrayLike<number>, wanted: number[]): number {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < wanted.length; i++) {
    scale = Math.max(scale, Math.abs(wanted[i]));
    worst = Math.max(worst, Math.abs(actual[i] - wanted[i]));
  }
  return worst / scale;
}

function logitsOf(model: GPT2, ids: number[]): { last: Float32Array; sum: number; loss: number } {
  return tf.tidy(() => {
    const input = tf.tensor2d([ids], [1, ids.length], "int32");
    const logits = model.forward(input); // (1, T, V)
    const V = logits.shape[2];
    const last = tf.slice(logits, [0, ids.length - 1, 0], [1, 1, V]).dataSync() as Float32Array;
    return {
      last,
      sum: tf.sum(logits).dataSync()[0],
      loss: lmLoss(model, input, input).dataSync()[0],
    };
  });
}

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`tiny-gpt2 fixture on ${backend}: logits within 1e-4 relative, loss within 1e-5`, async () => {
    await initEngine({ backend, threads: 1 });
    const model = await loadCheckpoint(fixtureDir);
    for (const c of logitsCases) {
      const ids = c.ids.split(",").map(Number);
      const got = logitsOf(model, ids);
      const error = relativeError(got.last, c.logits_last);
      assert(error < 1e-4, `ids ${c.ids}: logits_last relative error ${error}`);
      assert(
        Math.abs(got.sum - c.logits_sum) <= 1e-4 * Math.abs(c.logits_sum),
        `ids ${c.ids}: logits_sum ${got.sum} vs ${c.logits_sum}`,
      );
      const argmax = got.last.indexOf(Math.max(...got.last));
      assertEquals(argmax, c.argmax_last, `ids ${c.ids}: argmax`);
      if (c.loss !== null) {
        assert(Math.abs(got.loss - c.loss) < 1e-5, `ids ${c.ids}: loss ${got.loss} vs ${c.loss}`);
      }
    }
    disposeModel(model);
  });

  Deno.test(`tiny-gpt2 fixture on ${backend}: greedy continuations identical, alone and batched`, async () => {
    await initEngine({ backend, threads: 1 });
    const model = await loadCheckpoint(fixtureDir);
    for (const c of generateCases) {
      assertEquals(await generate(model, [c.prompt_ids], { maxNew: c.max_new }), [c.new_ids]);
    }
    const batched = await generate(model, generateCases.map((c) => c.prompt_ids), {
      maxNew: Math.max(...generateCases.map((c) => c.max_new)),
    });
    assertEquals(batched, generateCases.map((c) => c.new_ids));
    disposeModel(model);
  });
}

Deno.test("checkpoint: save then load gives identical logits and an HF-loadable layout", async () => {
  await initEngine({ backend: "cpu" });
  const model = await loadCheckpoint(fixtureDir);
  const dir = await Deno.makeTempDir();
  try {
    await saveCheckpoint(model, dir, { eos_token_id: 999 });
    const reloaded = await loadCheckpoint(dir);
    const ids = [5, 17, 400, 3, 999];
    assertEquals(logitsOf(reloaded, ids).last, logitsOf(model, ids).last);
    const config = JSON.parse(await Deno.readTextFile(join(dir, "config.json")));
    assertEquals(config.model_type, "gpt2");
    assertEquals(config.architectures, ["GPT2LMHeadModel"]);
    assertEquals([config.n_layer, config.n_head, config.n_embd], [2, 4, 64]);
    assertEquals([config.vocab_size, config.n_positions, config.eos_token_id], [1000, 128, 999]);
    const bytes = await Deno.readFile(join(dir, "model.safetensors"));
    assertEquals(readSafetensorsMetadata(bytes, "saved"), { format: "pt" });
    const original = readSafetensors(
      await Deno.readFile(join(fixtureDir, "model.safetensors")),
      "fixture",
    );
    assertEquals([...readSafetensors(bytes, "saved").keys()].sort(), [...original.keys()].sort());
    disposeModel(reloaded);
  } finally {
    await Deno.remove(dir, { recursive: true });
    disposeModel(model);
  }
});

Deno.test("checkpoint: transformer.-prefixed keys with attn buffers and a tied lm_head load the same model", async () => {
  await initEngine({ backend: "cpu" });
  const model = await loadCheckpoint(fixtureDir);
  const tensors = readSafetensors(
    await Deno.readFile(join(fixtureDir, "model.safetensors")),
    "fixture",
  );
  const prefixed = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of tensors) prefixed.set(`transformer.${name}`, t);
  for (let i = 0; i < 2; i++) {
    const P = 128;
    prefixed.set(`transformer.h.${i}.attn.bias`, {
      shape: [1, 1, P, P],
      data: new Float32Array(P * P),
    });
    prefixed.set(`transformer.h.${i}.attn.masked_bias`, {
      shape: [],
      data: new Float32Array([-1e4]),
    });
  }
  prefixed.set("lm_head.weight", tensors.get("wte.weight")!);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(join(fixtureDir, "config.json"), join(dir, "config.json"));
    await Deno.writeFile(
      join(dir, "model.safetensors"),
      writeSafetensors(prefixed, { format: "pt" }),
    );
    const reloaded = await loadCheckpoint(dir);
    const ids = [1, 2, 3, 4, 5];
    assertEquals(logitsOf(reloaded, ids).last, logitsOf(model, ids).last);
    disposeModel(reloaded);
  } finally {
    await Deno.remove(dir, { recursive: true });
    disposeModel(model);
  }
});

Deno.test("checkpoint: both Hugging Face saved checkpoints load (prefixed and unprefixed keys)", async () => {
  await initEngine({ backend: "cpu" });
  for (
    const [name, vocab, prefix] of [["fake-gpt2", 50257, "transformer."], [
      "tiny-gpt2-vocab21",
      21,
      "",
    ]] as const
  ) {
    const dir = join(hfSaved, name);
    const model = await loadCheckpoint(dir);
    assertEquals(model.config.vocabSize, vocab);
    assertEquals([model.config.nLayer, model.config.nEmbd, model.config.nHead], [1, 2, 1]);
    const raw = readSafetensors(await Deno.readFile(join(dir, "model.safetensors")), name);
    assertEquals(
      await model.param("h.0.mlp.c_fc.weight").data(),
      raw.get(`${prefix}h.0.mlp.c_fc.weight`)!.data,
    );
    assertEquals(await model.param("wte.weight").data(), raw.get(`${prefix}wte.weight`)!.data);
    const logits = logitsOf(model, [1, 2, 3]);
    assertEquals(logits.last.length, vocab);
    assert(logits.last.every(Number.isFinite));
    disposeModel(model);
  }
});

function disposeModel(model: GPT2): void {
  for (const p of model.params.values()) p.dispose();
}
