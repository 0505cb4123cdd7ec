/**
 * evaluate[method=…]: loads the base model and one trained method, generates a summary for every
 * test example (batched, with the KV cache; greedy unless `beams` > 1), scores ROUGE as
 * rouge-score does with bootstrap confidence intervals, computes the test loss, and writes
 * `predictions.jsonl`. Its metrics carry the training figures too, so the aggregate reads one
 * record per run (the `RunMetrics` fields of lib/report).
 *
 * @module
 */
import { join } from "node:path";
import { MemoryMeter } from "../lib/engine/mod.ts";
import { corpusRouge } from "../lib/eval/mod.ts";
import { generate, loadCheckpoint } from "../lib/model/mod.ts";
import { loadTunedMethod } from "../lib/peft/mod.ts";
import { loadTokenizer } from "../lib/tokenizer/mod.ts";
import { validationLossOf } from "../lib/train/mod.ts";
import { startEngine } from "../lib/stagekit/engine.ts";
import { ParamError, Params } from "../lib/stagekit/params.ts";
import { labelsOf, readSplit, tokenizerDir } from "../lib/stagekit/tokenized.ts";
import type { MetricValue, StageContext, StageResult } from "../lib/run/types.ts";
import { modelDirName } from "./pretrain.ts";
import { adapterDirName } from "./train.ts";

/** Training metrics copied from the train stage into this stage's record. */
const carriedTrainMetrics = [
  "trainableParams",
  "totalParams",
  "trainSeconds",
  "tokensPerSecond",
  "peakTrainRssBytes",
  "peakTrainTensorBytes",
  "peakTrainDeviceBytes",
  "validationLoss",
  "validationLossCurve",
  "steps",
  "epochs",
  "bestEpoch",
  "stoppedEarly",
] as const;

/** Runs the stage (see the module doc). */
export async function run(ctx: StageContext): Promise<StageResult> {
  const params = new Params(ctx.stage, ctx.params);
  const methodName = params.string("method");
  // `train-lora`, or one cell of it such as `train-lora[seed=1]` when training is a seed matrix.
  const trainStage = `train-${methodName}`;
  const trainKey = Object.keys(ctx.inputs).find((name) =>
    name === trainStage || name.startsWith(`${trainStage}[`)
  );
  const tokenizeDir = ctx.inputs.tokenize;
  const pretrainDir = ctx.inputs.pretrain;
  if (!tokenizeDir || !pretrainDir || !trainKey) {
    throw new ParamError(
      ctx.stage,
      "needs",
      `must include tokenize, pretrain and train-${methodName}`,
    );
  }
  const trainDir = ctx.inputs[trainKey];
  const trained = JSON.parse(await Deno.readTextFile(join(trainDir, "metrics.json")));
  const trainedMetrics: Record<string, MetricValue> = trained.metrics ?? trained;
  const { metrics: engineMetrics } = await startEngine(params);
  const maxOutputTokens = params.integer("max_output_tokens", undefined, 1);
  const batchSize = params.integer("batch_size", 32, 1);
  const beams = params.integer("beams", 1, 1);
  const noRepeatNgramSize = params.integer("no_repeat_ngram", 0);
  const seed = params.integer("seed", 0);
  const limit = params.has("limit") ? params.integer("limit", undefined, 1) : undefined;

  const tokenizer = await loadTokenizer(tokenizerDir(tokenizeDir));
  const test = await readSplit(tokenizeDir, "test", limit);
  const meter = new MemoryMeter();
  const started = performance.now();
  const model = await loadCheckpoint(join(pretrainDir, modelDirName));
  const applied = await loadTunedMethod(model, join(trainDir, adapterDirName));
  applied.merge?.();

  const testLoss = validationLossOf(
    model,
    applied,
    test.map((e) => ({ ids: e.ids, labels: labelsOf(e) })),
    batchSize,
    tokenizer.eosId,
  );
  meter.sample();

  // Batches of similar prompt length waste the least padding.
  const order = test.map((_, i) => i).sort((a, b) =>
    test[a].promptLength - test[b].promptLength || a - b
  );
  const predictions = new Array<string>(test.length);
  const prefix = applied.prefix?.(1);
  for (let start = 0; start < order.length; start += batchSize) {
    const batch = order.slice(start, start + batchSize);
    const newIds = generate(model, batch.map((i) => test[i].ids.slice(0, test[i].promptLength)), {
      maxNew: maxOutputTokens + 1,
      eosId: tokenizer.eosId,
      beams,
      prefix,
      seed,
      noRepeatNgramSize,
    });
    batch.forEach((i, row) => predictions[i] = tokenizer.decode(newIds[row]).trim());
    meter.sample();
    ctx.progress(Math.min(start + batchSize, order.length), order.length, "generating");
  }
  prefix?.dispose();

  const pairs = test.map((e, i) => ({ prediction: predictions[i], reference: e.summary }));
  const rouge = corpusRouge(pairs, {
    stem: params.boolean("stem", true),
    bootstrap: { samples: params.integer("bootstrap_samples", 1000, 1), seed },
  });
  const peak = meter.stop();
  const evalSeconds = (performance.now() - started) / 1000;
  await Deno.writeTextFile(
    join(ctx.outDir, "predictions.jsonl"),
    test.map((e, i) =>
      JSON.stringify({
        id: e.id,
        document: e.document,
        reference: e.summary,
        prediction: predictions[i],
      })
    ).join("\n") + "\n",
  );

  const metrics: Record<string, MetricValue> = {
    method: methodName,
    seed: typeof trainedMetrics.seed === "number" ? trainedMetrics.seed : seed,
    ...engineMetrics,
    testExamples: test.length,
    testLoss,
    evalSeconds,
    peakEvalRssBytes: peak.peakRssBytes,
    peakEvalTensorBytes: peak.peakTensorBytes,
  };
  if (peak.peakDeviceBytes !== undefined) metrics.peakEvalDeviceBytes = peak.peakDeviceBytes;
  for (const type of ["rouge1", "rouge2", "rougeL", "rougeLsum"] as const) {
    const score = rouge[type];
    metrics[type] = score.fmeasure;
    if (score.confidenceInterval) {
      metrics[`${type}Ci`] = [score.confidenceInterval.low, score.confidenceInterval.high];
    }
  }
  for (const name of carriedTrainMetrics) {
    if (trainedMetrics[name] !== undefined) metrics[name] = trainedMetrics[name];
  }
  return { metrics };
}
