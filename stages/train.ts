/**
 * train (roles `tokenized`, `base`): adapts the pretrained base with one tuning method from the registry (prompt,
 * lora, full, ia3, …), trains only what the method selects, and writes the method's result in its
 * native format (PEFT layout for adapters) to `adapter/` with the cost of training as metrics.
 * The stage never branches on the method's name.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { loadCheckpoint } from "../lib/model/mod.ts";
import { defaultPromptInitText, methodNamed } from "../lib/peft/mod.ts";
import { CompactTokenizer, loadTokenizer } from "../lib/tokenizer/mod.ts";
import { parseTrainOptions, train } from "../lib/train/mod.ts";
import { startEngine } from "../lib/stagekit/engine.ts";
import { trainMetrics, trainProgress } from "../lib/stagekit/metrics.ts";
import { Params, underSection } from "../lib/stagekit/params.ts";
import {
  labelsOf,
  readSplit,
  type TokenizedExample,
  tokenizerDir,
} from "../lib/stagekit/tokenized.ts";
import type { StageContext, StageResult } from "../lib/run/types.ts";
import { adapterDirName, modelDirName } from "../lib/stagekit/folders.ts";
import { neededFolder } from "../lib/stagekit/needs.ts";

/**
 * The method's config with any `init_text` tokenized into `init_token_ids`, so a method can start
 * from the embeddings of a phrase without knowing the tokenizer.
 */
function withTokenizedInitText(
  raw: Record<string, unknown>,
  encode: (text: string) => number[],
): Record<string, unknown> {
  if (raw.init !== "text" || raw.init_token_ids !== undefined) return raw;
  const text = typeof raw.init_text === "string" ? raw.init_text : defaultPromptInitText;
  return { ...raw, init_token_ids: encode(text) };
}

/** Runs the stage (see the module doc). */
export async function run(ctx: StageContext): Promise<StageResult> {
  const params = new Params(ctx.params);
  const seed = params.integer("seed", 0);
  const { engine, metrics: engineMetrics } = await startEngine(params);
  const tokenizeDir = neededFolder(ctx, "tokenized", "the tokenized data");
  const pretrainDir = neededFolder(ctx, "base", "the base model");
  const tokenizer = await loadTokenizer(tokenizerDir(tokenizeDir));
  const method = methodNamed(params.string("method"), params.key("method"));
  const config = method.parseConfig(
    withTokenizedInitText(params.section("config").raw(), (text) => tokenizer.encode(text)),
    params.key("config"),
  );
  const options = {
    ...parseTrainOptions(params.section("training").raw(), params.key("training")),
    seed,
    padId: tokenizer.eosId,
  };

  const model = await loadCheckpoint(join(pretrainDir, modelDirName));
  const applied = underSection(params.key("config"), () => method.apply(model, config, seed));
  const toExample = (e: TokenizedExample) => ({ ids: e.ids, labels: labelsOf(e) });
  const data = {
    train: (await readSplit(tokenizeDir, "train")).map(toExample),
    validation: (await readSplit(tokenizeDir, "validation")).map(toExample),
  };
  ctx.log(
    `${method.name}: ${applied.trainable.size} trainable tensors, ${data.train.length} examples`,
  );
  const result = await train(model, applied, data, options, {
    checkpointDir: ctx.checkpointDir,
    progress: trainProgress(ctx.progress),
    threads: engine.threads,
    log: ctx.log,
  });
  // PEFT finds the base by this absolute path. It re-runs a text init with `tokenizer`: a compact
  // vocabulary's ids are peftlab's own, so only a plain BPE (saved beside the base) is named.
  const baseDir = resolve(pretrainDir, modelDirName);
  await applied.save(join(ctx.outDir, adapterDirName), {
    baseModel: baseDir,
    tokenizer: tokenizer instanceof CompactTokenizer ? undefined : baseDir,
  });
  return {
    metrics: {
      method: method.name,
      seed,
      ...engineMetrics,
      ...trainMetrics(result),
    },
  };
}
