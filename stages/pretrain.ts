/**
 * pretrain: the base model every method adapts. With `model.path` it loads that Hugging Face
 * GPT-2 checkpoint; otherwise it trains a small GPT-2 from scratch on plain language modelling of
 * the training abstracts and titles (not in the summarization format, so the methods still have
 * the task to learn). Writes a Hugging Face directory (config, weights, tokenizer) to `model/`.
 *
 * @module
 */
import { join } from "node:path";
import {
  createGPT2,
  type GPT2,
  gpt2Defaults,
  loadCheckpoint,
  saveCheckpoint,
} from "../lib/model/mod.ts";
import { loadTokenizer, type Tokenizer } from "../lib/tokenizer/mod.ts";
import {
  languageModelExamples,
  lossByPosition,
  parseTrainOptions,
  pretrain,
  streamBlocks,
  type TrainingExample,
} from "../lib/train/mod.ts";
import { readTokenStream, streamFile } from "../lib/stagekit/token_stream.ts";
import { startEngine } from "../lib/stagekit/engine.ts";
import { trainMetrics, trainProgress } from "../lib/stagekit/metrics.ts";
import { Params } from "../lib/stagekit/params.ts";
import { ConfigError } from "../lib/config/errors.ts";
import { readSplit, tokenizerDir } from "../lib/stagekit/tokenized.ts";
import type { MetricValue, StageContext, StageResult } from "../lib/run/types.ts";
import { modelDirName } from "../lib/stagekit/folders.ts";
import { optionalNeededFolder } from "../lib/stagekit/needs.ts";

/** Width of the position buckets of `validationLossByPosition`. */
const positionBucketTokens = 64;

/** Blocks of the corpus stage's token streams; `validationBlocks` > 0 keeps only the first N. */
async function corpusBlocks(
  dir: string,
  blockSize: number,
  validationBlocks: number,
): Promise<{ train: TrainingExample[]; validation: TrainingExample[] }> {
  const train = streamBlocks(await readTokenStream(streamFile(dir, "train")), blockSize);
  const validation = streamBlocks(await readTokenStream(streamFile(dir, "validation")), blockSize);
  return {
    train,
    validation: validationBlocks > 0 ? validation.slice(0, validationBlocks) : validation,
  };
}

/** The task data's abstracts and titles as plain text, cut into blocks. */
async function taskTextBlocks(
  dir: string,
  tokenizer: Tokenizer,
  blockSize: number,
): Promise<{ train: TrainingExample[]; validation: TrainingExample[] }> {
  const textOf = async (split: "train" | "validation") =>
    (await readSplit(dir, split)).flatMap((e) => [
      tokenizer.encode(e.document),
      tokenizer.encode(" " + e.summary),
    ]);
  return {
    train: languageModelExamples(await textOf("train"), blockSize, tokenizer.eosId),
    validation: languageModelExamples(await textOf("validation"), blockSize, tokenizer.eosId),
  };
}

/** Runs the stage (see the module doc). */
export async function run(ctx: StageContext): Promise<StageResult> {
  const params = new Params(ctx.params);
  const modelParams = params.section("model");
  const seed = params.integer("seed", 0);
  const { engine, metrics: engineMetrics } = await startEngine(params);
  const tokenizeDir = optionalNeededFolder(ctx, "tokenized");
  const corpusDir = optionalNeededFolder(ctx, "corpus");
  if (!tokenizeDir && !corpusDir) {
    throw new ConfigError("needs", "must give the role tokenized (task data) or corpus");
  }
  const tokenizer = await loadTokenizer(tokenizerDir((corpusDir ?? tokenizeDir)!));
  const outModel = join(ctx.outDir, modelDirName);
  const metrics: Record<string, MetricValue> = { ...engineMetrics };

  const path = modelParams.optionalString("path");
  let model: GPT2;
  if (path) {
    model = await loadCheckpoint(ctx.path(path));
    if (model.config.vocabSize < tokenizer.vocabSize) {
      throw new ConfigError(
        params.key("model.path"),
        `${path} has vocab_size ${model.config.vocabSize} but the tokenizer has ${tokenizer.vocabSize} tokens`,
      );
    }
    metrics.pretrained = false;
    ctx.log(`loaded ${path}`);
  } else {
    model = createGPT2({
      nLayer: modelParams.integer("n_layer", undefined, 1),
      nHead: modelParams.integer("n_head", undefined, 1),
      nEmbd: modelParams.integer("n_embd", undefined, 1),
      nPositions: modelParams.integer("n_positions", undefined, 2),
      vocabSize: tokenizer.vocabSize,
      layerNormEpsilon: modelParams.number("layer_norm_epsilon", gpt2Defaults.layerNormEpsilon),
      activationFunction: modelParams.string(
        "activation_function",
        gpt2Defaults.activationFunction,
      ),
      dropout: modelParams.number("dropout", gpt2Defaults.dropout),
    }, seed);
    const blockSize = params.integer("block_size", undefined, 2);
    if (blockSize > model.config.nPositions) {
      throw new ConfigError(
        params.key("block_size"),
        `${blockSize} exceeds the model's n_positions ${model.config.nPositions}`,
      );
    }
    const { train, validation } = corpusDir
      ? await corpusBlocks(corpusDir, blockSize, params.integer("validation_blocks", 0))
      : await taskTextBlocks(tokenizeDir!, tokenizer, blockSize);
    const options = {
      ...parseTrainOptions(params.section("training").raw(), params.key("training")),
      seed,
      padId: tokenizer.eosId,
    };
    ctx.log(
      `pretraining on ${train.length} blocks of ${blockSize} tokens, ` +
        `validating on ${validation.length}`,
    );
    const result = await pretrain(model, { train, validation }, options, {
      checkpointDir: ctx.checkpointDir,
      progress: trainProgress(ctx.progress),
      threads: engine.threads,
      log: ctx.log,
    });
    model.config.trainedContext = blockSize;
    const fullBlocks = validation.filter((e) => e.ids.length === blockSize);
    if (fullBlocks.length > 0) {
      metrics.validationLossByPosition = await lossByPosition(
        model,
        fullBlocks,
        positionBucketTokens,
      );
      metrics.positionBucketTokens = positionBucketTokens;
    }
    metrics.trainTokenCurve = result.validationSteps.map((step) =>
      step * options.batchSize * options.gradientAccumulation * blockSize
    );
    metrics.validationSteps = result.validationSteps;
    metrics.trainLossCurve = result.trainLoss;
    Object.assign(metrics, trainMetrics(result), { pretrained: true });
  }
  await saveCheckpoint(model, outModel);
  // The model folder is a complete Hugging Face directory: its tokenizer travels with it.
  const savedTokenizer = tokenizerDir((corpusDir ?? tokenizeDir)!);
  for await (const entry of Deno.readDir(savedTokenizer)) {
    if (entry.isFile) {
      await Deno.copyFile(join(savedTokenizer, entry.name), join(outModel, entry.name));
    }
  }
  metrics.totalParams = model.parameterCount;
  metrics.nLayer = model.config.nLayer;
  metrics.nEmbd = model.config.nEmbd;
  metrics.vocabSize = model.config.vocabSize;
  return { metrics };
}
