/**
 * evaluate[method=…] (roles `tokenized`, `base`, `tuned`): scores one method on the test split. For a tuned method it loads the base
 * model and the trained adapter, generates a summary for every test example (batched, with the KV
 * cache; greedy unless `beams` > 1), scores ROUGE as rouge-score does with bootstrap confidence
 * intervals, computes the test loss, and writes `predictions.jsonl` with each example's scores.
 * Two baselines need no training and come from the same stage:
 * - `method: base` — the untuned base model in the same prompt format (its validation loss too);
 * - `method: lead` — the first `lead_words` words of the document (default 10), no model at all.
 *
 * `no_repeat_ngram: n` bans repeating any n-gram of prompt + summary, as Hugging Face's
 * `no_repeat_ngram_size` does (beam search included); `no_repeat_generated_ngram: n` bans only
 * repeats within the summary, so phrases may still be copied from the document.
 *
 * Its metrics carry the training figures too, so the aggregate reads one record per run (the
 * `RunMetrics` fields of lib/report); a baseline's record says `baseline: true` and has no training
 * figures.
 *
 * @module
 */
import { join } from "node:path";
import { MemoryMeter, type PeakMemory } from "../lib/engine/mod.ts";
import { type CorpusRouge, corpusRouge, ROUGE_TYPES } from "../lib/eval/mod.ts";
import { contextProblem, generate, type GPT2, loadCheckpoint } from "../lib/model/mod.ts";
import { type AppliedMethod, loadTunedMethod } from "../lib/peft/mod.ts";
import { loadTokenizer, type Tokenizer } from "../lib/tokenizer/mod.ts";
import { type ForwardHooks, validationLossOf } from "../lib/train/mod.ts";
import { startEngine } from "../lib/stagekit/engine.ts";
import { Params } from "../lib/stagekit/params.ts";
import { ConfigError } from "../lib/config/errors.ts";
import {
  labelsOf,
  readSplit,
  type TokenizedExample,
  tokenizerDir,
} from "../lib/stagekit/tokenized.ts";
import type { MetricValue, StageContext, StageResult } from "../lib/run/types.ts";
import { adapterDirName, modelDirName } from "../lib/stagekit/folders.ts";
import { neededFolder } from "../lib/stagekit/needs.ts";
import { TRAIN_FIELDS } from "../lib/report/run_metrics.ts";

/** Baseline methods: rows that involve no training. */
const baselineMethods = ["lead", "base"] as const;
/** Words of the document the `lead` baseline keeps by default. */
const defaultLeadWords = 10;

/** Training metrics copied from the train stage into this stage's record. */
const carriedTrainMetrics = [
  ...TRAIN_FIELDS,
  "validationLoss",
  "validationLossCurve",
  "steps",
  "epochs",
  "bestEpoch",
  "stoppedEarly",
] as const;

/** The first `words` whitespace-separated words of `document`. */
export function leadWords(document: string, words: number): string {
  return document.trim().split(/\s+/).slice(0, words).join(" ");
}

/** Generation settings read from the params. */
interface GenerationSettings {
  maxOutputTokens: number;
  batchSize: number;
  beams: number;
  /** Hugging Face's `no_repeat_ngram_size`: n-grams of prompt + output never repeat. */
  noRepeatNgramSize: number;
  /** The same ban over the generated tokens only (copying from the document stays possible). */
  noRepeatGeneratedNgramSize: number;
  seed: number;
}

/** Generates a summary for every test example with `model` (+ the method's soft prompt, if any). */
async function generateSummaries(
  ctx: StageContext,
  model: GPT2,
  method: ForwardHooks,
  tokenizer: Tokenizer,
  test: TokenizedExample[],
  settings: GenerationSettings,
  meter: MemoryMeter,
): Promise<string[]> {
  const prefix = method.prefix?.(1);
  const softTokens = prefix ? prefix.shape[1] : 0;
  const longest = Math.max(...test.map((e) => e.promptLength)) + settings.maxOutputTokens + 1;
  const problem = contextProblem(model.config, longest + softTokens);
  if (problem) {
    prefix?.dispose();
    throw new ConfigError(
      "params.max_output_tokens",
      `the longest prompt (${longest - settings.maxOutputTokens - 1} tokens) + ` +
        `${settings.maxOutputTokens + 1} generated + ${softTokens} soft tokens: ${problem}`,
    );
  }
  // Batches of similar prompt length waste the least padding.
  const order = test.map((_, i) => i).sort((a, b) =>
    test[a].promptLength - test[b].promptLength || a - b
  );
  const predictions = new Array<string>(test.length);
  for (let start = 0; start < order.length; start += settings.batchSize) {
    const batch = order.slice(start, start + settings.batchSize);
    const newIds = await generate(
      model,
      batch.map((i) => test[i].ids.slice(0, test[i].promptLength)),
      {
        maxNew: settings.maxOutputTokens + 1,
        eosId: tokenizer.eosId,
        beams: settings.beams,
        prefix,
        seed: settings.seed,
        noRepeatNgramSize: settings.noRepeatNgramSize,
        noRepeatGeneratedNgramSize: settings.noRepeatGeneratedNgramSize,
      },
    );
    batch.forEach((i, row) => predictions[i] = tokenizer.decode(newIds[row]).trim());
    meter.sample();
    ctx.progress(Math.min(start + settings.batchSize, order.length), order.length, "generating");
  }
  prefix?.dispose();
  return predictions;
}

/** Token-weighted loss of `examples` on their summary tokens. */
function summaryLoss(
  model: GPT2,
  method: ForwardHooks,
  examples: TokenizedExample[],
  batchSize: number,
  padId: number,
): Promise<number> {
  return validationLossOf(
    model,
    method,
    examples.map((e) => ({ ids: e.ids, labels: labelsOf(e) })),
    batchSize,
    padId,
  );
}

/** Writes `predictions.jsonl`: each example, its prediction and its ROUGE F-measures. */
async function writePredictions(
  dir: string,
  test: TokenizedExample[],
  predictions: string[],
  rouge: CorpusRouge,
): Promise<void> {
  const lines = test.map((e, i) => {
    const scores = Object.fromEntries(
      ROUGE_TYPES.filter((type) => type !== "rougeLsum").map((
        type,
      ) => [type, rouge.pairScores[i][type].fmeasure]),
    );
    return JSON.stringify({
      id: e.id,
      document: e.document,
      reference: e.summary,
      prediction: predictions[i],
      ...scores,
    });
  });
  await Deno.writeTextFile(join(dir, "predictions.jsonl"), lines.join("\n") + "\n");
}

/** Runs the stage (see the module doc). */
export async function run(ctx: StageContext): Promise<StageResult> {
  const params = new Params(ctx.params);
  const methodName = params.string("method");
  const baseline = (baselineMethods as readonly string[]).includes(methodName);
  const tokenizeDir = neededFolder(ctx, "tokenized", "the tokenized data");
  const pretrainDir = methodName === "lead"
    ? undefined
    : neededFolder(ctx, "base", "the base model");
  const trainDir = baseline ? undefined : neededFolder(ctx, "tuned", `the trained ${methodName}`);
  const settings: GenerationSettings = {
    maxOutputTokens: params.integer("max_output_tokens", undefined, 1),
    batchSize: params.integer("batch_size", 32, 1),
    beams: params.integer("beams", 1, 1),
    noRepeatNgramSize: params.integer("no_repeat_ngram", 0),
    noRepeatGeneratedNgramSize: params.integer("no_repeat_generated_ngram", 0),
    seed: params.integer("seed", 0),
  };
  const limit = params.has("limit") ? params.integer("limit", undefined, 1) : undefined;
  const leadWordCount = params.integer("lead_words", defaultLeadWords, 1);
  const stem = params.boolean("stem", true);
  const bootstrapSamples = params.integer("bootstrap_samples", 1000, 1);
  const test = await readSplit(tokenizeDir, "test", limit);
  const metrics: Record<string, MetricValue> = {
    method: methodName,
    seed: settings.seed,
    testExamples: test.length,
  };
  if (baseline) Object.assign(metrics, { baseline: true, trainableParams: 0 });

  const started = performance.now();
  let predictions: string[];
  if (methodName === "lead") {
    predictions = test.map((e) => leadWords(e.document, leadWordCount));
    metrics.leadWords = leadWordCount;
    metrics.validationLossCurve = [];
  } else {
    const { metrics: engineMetrics } = await startEngine(params);
    Object.assign(metrics, engineMetrics);
    const tokenizer = await loadTokenizer(tokenizerDir(tokenizeDir));
    const model = await loadCheckpoint(join(pretrainDir!, modelDirName));
    let applied: AppliedMethod | null = null;
    if (!baseline) {
      const trained = JSON.parse(await Deno.readTextFile(join(trainDir!, "metrics.json")));
      const trainedMetrics: Record<string, MetricValue> = trained.metrics ?? trained;
      if (typeof trainedMetrics.seed === "number") metrics.seed = trainedMetrics.seed;
      for (const name of carriedTrainMetrics) {
        if (trainedMetrics[name] !== undefined) metrics[name] = trainedMetrics[name];
      }
      applied = await loadTunedMethod(model, join(trainDir!, adapterDirName));
      applied.merge?.();
    } else {
      metrics.totalParams = model.parameterCount;
      const validation = await readSplit(tokenizeDir, "validation");
      const validationLoss = await summaryLoss(
        model,
        {},
        validation,
        settings.batchSize,
        tokenizer.eosId,
      );
      metrics.validationLoss = validationLoss;
      metrics.validationLossCurve = [validationLoss];
    }
    const hooks: ForwardHooks = applied ?? {};
    // The same meter as training's, over the test-loss pass and generation (weights included).
    const meter = new MemoryMeter();
    let peak: PeakMemory;
    try {
      metrics.testLoss = await summaryLoss(model, hooks, test, settings.batchSize, tokenizer.eosId);
      meter.sample();
      predictions = await generateSummaries(ctx, model, hooks, tokenizer, test, settings, meter);
    } finally {
      peak = meter.stop();
    }
    metrics.peakEvalRssBytes = peak.peakRssBytes;
    metrics.peakEvalTensorBytes = peak.peakTensorBytes;
    if (peak.peakDeviceBytes !== undefined) metrics.peakEvalDeviceBytes = peak.peakDeviceBytes;
  }

  const rouge = corpusRouge(
    test.map((e, i) => ({ prediction: predictions[i], reference: e.summary })),
    { stem, bootstrap: { samples: bootstrapSamples, seed: settings.seed } },
  );
  metrics.evalSeconds = (performance.now() - started) / 1000;
  await writePredictions(ctx.outDir, test, predictions, rouge);
  for (const type of ["rouge1", "rouge2", "rougeL", "rougeLsum"] as const) {
    const score = rouge[type];
    metrics[type] = score.fmeasure;
    if (score.confidenceInterval) {
      metrics[`${type}Ci`] = [score.confidenceInterval.low, score.confidenceInterval.high];
    }
  }
  return { metrics };
}
