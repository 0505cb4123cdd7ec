import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { initEngine } from "../lib/engine/mod.ts";
import {
  configFromJson,
  configToJson,
  contextProblem,
  createGPT2,
  type GPT2Config,
  loadCheckpoint,
  usableContext,
} from "../lib/model/mod.ts";
import { methods } from "../lib/peft/mod.ts";
import { loadTokenizer } from "../lib/tokenizer/mod.ts";
import { defaultTrainOptions, lossByPosition, streamBlocks, train } from "../lib/train/mod.ts";
import { readLock } from "../lib/cache/mod.ts";

await initEngine({ backend: "auto" });

const shippedBase = "models/arxiv-gpt2-5m";

function tinyConfig(overrides: Partial<GPT2Config> = {}): GPT2Config {
  return {
    nLayer: 1,
    nHead: 2,
    nEmbd: 8,
    vocabSize: 16,
    nPositions: 32,
    layerNormEpsilon: 1e-5,
    activationFunction: "gelu_new",
    dropout: 0,
    ...overrides,
  };
}

Deno.test("trained context: recorded in config.json and read back; absent means n_positions", () => {
  const json = configToJson(tinyConfig({ trainedContext: 24 }));
  assertEquals(json.peftlab_trained_context, 24);
  assertEquals(configFromJson(json, "config.json").trainedContext, 24);
  assertEquals(usableContext(tinyConfig()), 32);
  assertEquals(usableContext(tinyConfig({ trainedContext: 24 })), 24);
  assert(contextProblem(tinyConfig({ trainedContext: 24 }), 24) === null);
  try {
    configFromJson({ ...json, peftlab_trained_context: 64 }, "config.json");
    throw new Error("expected a CheckpointError");
  } catch (error) {
    assert(String(error).includes("exceeds n_positions 32"), String(error));
  }
});

Deno.test("trained context: tuning on a longer sequence is a configuration error naming both numbers", async () => {
  const model = createGPT2(tinyConfig({ trainedContext: 8 }), 1);
  const method = methods.get("lora")!;
  const applied = method.apply(model, method.parseConfig({ r: 2 }, "config"), 2);
  const ids = Array.from({ length: 10 }, (_, i) => i + 1);
  try {
    await train(model, applied, { train: [{ ids, labels: ids }], validation: [] }, {
      ...defaultTrainOptions,
      maxSteps: 1,
    });
    throw new Error("expected a ConfigError");
  } catch (error) {
    const message = String(error);
    assert(message.includes("10 positions exceed the 8 the base was trained on"), message);
    assert(message.includes("n_positions is 32"), message);
  } finally {
    applied.dispose();
  }
});

Deno.test("shipped base: positions beyond 128 are as well trained as the first 128 (loss by position)", async () => {
  const model = await loadCheckpoint(shippedBase);
  const tokenizer = await loadTokenizer(shippedBase);
  assertEquals(model.config.trainedContext, 256);
  // Held-out text (validation split, never trained on) in the pretraining form: title, abstract.
  const lines = (await Deno.readTextFile("data/arxiv-cs-abstract-title/validation.jsonl"))
    .split("\n").filter(Boolean).slice(300, 340).map((line) => JSON.parse(line));
  const stream = lines.flatMap((row) => [
    ...tokenizer.encode(`${row.summary}\n${row.document}`),
    tokenizer.eosId,
  ]);
  const blocks = streamBlocks(stream, 256).slice(0, 24);
  const [first, second, third, fourth] = await lossByPosition(model, blocks, 64);
  const early = (first + second) / 2;
  const late = (third + fourth) / 2;
  assert(late <= early + 0.05, `late positions ${late.toFixed(3)} vs early ${early.toFixed(3)}`);
  assert(fourth < 5, `the last bucket's loss ${fourth.toFixed(3)} is not that of a trained model`);
});

Deno.test("shipped base: its files are the ones its model card lists, from the output base.lock records", async () => {
  const card = await Deno.readTextFile(join(shippedBase, "README.md"));
  const listed = [...card.matchAll(/^\| `([^`]+)` \| `([0-9a-f]{64})` \|$/gm)];
  assert(listed.length >= 4, "the card lists the files with their sha256");
  for (const [, file, sha] of listed) {
    const actual = createHash("sha256").update(await Deno.readFile(join(shippedBase, file)))
      .digest("hex");
    assertEquals(actual, sha, `${file} differs from the model card`);
  }
  const lock = await readLock("pipelines/base.lock");
  assert(
    card.includes(`output \`${lock.stages.pretrain.output}\``),
    "card cites the lock's output",
  );
});
