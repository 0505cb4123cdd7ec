/**
 * train-<method>: adapts the pretrained base with one tuning method from the registry (prompt,
 * lora, full, ia3, …), trains only what the method selects, and writes the method's result in its
 * native format (PEFT layout for adapters) to `adapter/` with the cost of training as metrics.
 * The stage never branches on the method's name.
 *
 * @module
 */
import { join } from "node:path";
import { loadCheckpoint } from "../lib/model/mod.ts";
import { defaultPromptInitText, methodNamed } from "../lib/peft/mod.ts";
import { loadTokenizer } from "../lib/tokenizer/mod.ts";
import { parseTrainOptions, train } from "../lib/train/mod.ts";
import { startEngine } from "../lib/stagekit/engine.ts";
import { trainMetrics, trainProgress } from "../lib/stagekit/metrics.ts";
import { ParamError, Params } from "../lib/stagekit/params.ts";
import {
  labelsOf,
  readSplit,
  type TokenizedExample,
  tokenizerDir,
} from "../lib/stagekit/tokenized.ts";
import type { StageContext, StageResult } from "../lib/run/types.ts";
import { modelDirName } from "./pretrain.ts";

/** Folder of the trained method inside a train output folder. */
export const adapterDirName = "adapter";

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
  const params = new Params(ctx.stage, ctx.params);
  const seed = params.integer("seed", 0);
  const { engine, metrics: engineMetrics } = await startEngine(params);
  const tokenizeDir = ctx.inputs.tokenize;
  const pretrainDir = ctx.inputs.pretrain;
  if (!tokenizeDir || !pretrainDir) {
    throw new ParamError(ctx.stage, "needs", "must include the tokenize and pretrain stages");
  }
  const tokenizer = await loadTokenizer(tokenizerDir(tokenizeDir));
  const method = methodNamed(params.string("method"), `${ctx.stage}.params.method`);
  const config = method.parseConfig(
    withTokenizedInitText(params.section("config").raw(), (text) => tokenizer.encode(text)),
    `${ctx.stage}.params.config`,
  );
  const options = {
    ...parseTrainOptions(params.section("training").raw(), `${ctx.stage}.params.training`),
    seed,
    padId: tokenizer.eosId,
  };

  const model = await loadCheckpoint(join(pretrainDir, modelDirName));
  const applied = method.apply(model, config, seed);
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
  await applied.save(join(ctx.outDir, adapterDirName), { baseModel: modelDirName });
  return {
    metrics: {
      method: method.name,
      seed,
      ...engineMetrics,
      ...trainMetrics(result),
    },
  };
}
