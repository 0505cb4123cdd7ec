/**
 * The trainer: one loop for every tuning method. It only sees `AppliedMethod.trainable` (the
 * variables to update) and the optional `prefix`/`setTraining` hooks, never a method name.
 *
 * Loss is next-token cross-entropy on positions whose label is not -100 (the summary tokens),
 * gradients are taken only for the trainable variables, AdamW updates them after `gradientAccumulation`
 * micro-batches with global-norm clipping and a warmup/decay schedule. Shuffling and dropout are
 * derived from (seed, epoch) and (seed, step, micro-batch), so a run is reproducible and a resumed
 * run continues exactly where its checkpoint left off.
 */
import * as tf from "@tensorflow/tfjs-core";
import { MemoryMeter, type PeakMemory } from "../engine/mod.ts";
import { contextProblem, type LanguageModel, lmLoss } from "../model/gpt2.ts";
import { ConfigError } from "../peft/errors.ts";
import type { AppliedMethod, TunableModel } from "../peft/types.ts";
import {
  type CheckpointTensors,
  readCheckpoint,
  type TrainState,
  writeCheckpoint,
} from "./checkpoint.ts";
import { AdamW, assignSaved, clipByGlobalNorm } from "./optimizer.ts";
import type { TrainOptions } from "./options.ts";
import { mixSeed, Rng } from "../util/random.ts";
import { learningRateAt } from "./schedule.ts";

import { ignoreLabel } from "../util/labels.ts";
export { ignoreLabel };

/**
 * A model the trainer can run: the tunable slice plus hidden states `[B, P+T, C]` and the LM head
 * (`GPT2` fits), so that only the positions with a scored label get logits.
 */
export type TrainableModel = TunableModel & LanguageModel;

/**
 * One training example (ids and labels; the tokenize stage stores `TokenizedExample`s, whose labels
 * `labelsOf` derives): `labels` is aligned with `ids` (not shifted) and is -100 wherever the
 * token is not scored, e.g. on the document and the prompt; `formatPrompt`'s output fits.
 */
export interface TrainingExample {
  /** Token ids. */
  ids: number[];
  /** Same length as `ids`; -100 where not scored. */
  labels: number[];
}

/** A padded batch: every row has the batch's longest length; padding has label -100. */
export interface Batch {
  /** Token ids `[B, T]`. */
  ids: number[][];
  /** Labels `[B, T]`. */
  labels: number[][];
  /** Real (non-padding) tokens in the batch. */
  tokens: number;
}

/** Reported after every optimizer step and every validation. */
export interface TrainProgress {
  /** What just finished. */
  phase: "train" | "validate";
  /** Optimizer steps done. */
  step: number;
  /** Optimizer steps the run will take (unless it stops early). */
  totalSteps: number;
  /** 1-based epoch being run. */
  epoch: number;
  /** Mean training loss of the last step. */
  loss: number;
  /** Learning rate used by the last step. */
  learningRate: number;
  /** Training tokens per wall second so far. */
  tokensPerSecond: number;
  /** Estimated seconds to the last step. */
  etaSeconds: number;
  /** The validation loss, for `phase: "validate"`. */
  validationLoss?: number;
}

/** Where a run keeps checkpoints and whom it tells about progress. */
export interface TrainContext {
  /** Directory for resumable checkpoints (must survive a killed process); none = no resume. */
  checkpointDir?: string;
  /** Called after every step and validation. */
  progress?: (update: TrainProgress) => void;
  /** Aborting stops the run after the current step, throwing the signal's reason. */
  signal?: AbortSignal;
  /** Backend threads, as reported by `initEngine`, copied into the result. */
  threads?: number;
}

/** What training cost and achieved; every figure is measured in this run. */
export interface TrainResult {
  /** Optimizer steps taken. */
  steps: number;
  /** Epochs run (fractional when stopped mid-epoch). */
  epochs: number;
  /** Mean training loss of every optimizer step. */
  trainLoss: number[];
  /** Validation loss of every validation (per epoch unless `evalEverySteps`). */
  validationLoss: number[];
  /** Optimizer step of each validation. */
  validationSteps: number[];
  /** 1-based epoch of the best validation (whose weights the model ends with when `restoreBest`); 0 if none. */
  bestEpoch: number;
  /** Optimizer step of the best validation; 0 if none. */
  bestStep: number;
  /** Best validation loss; NaN if none. */
  bestValidationLoss: number;
  /** True when early stopping ended the run. */
  stoppedEarly: boolean;
  /** Wall seconds of training including validation, summed over resumed sessions. */
  trainSeconds: number;
  /** Real input tokens processed in training (padding excluded). */
  trainTokens: number;
  /** trainTokens / trainSeconds. */
  tokensPerSecond: number;
  /**
   * Peak memory of this session's training (steps, optimizer updates and validations): tensor
   * bytes are the exact peak of live tensor storage, tracked at every allocation and free and
   * including the model, the optimizer moments and everything back-propagation keeps; RSS and
   * device bytes are sampled.
   */
  peakMemory: PeakMemory;
  /** Exact number of parameters the optimizer updated. */
  trainableParams: number;
  /** Base model parameters plus the method's added parameters. */
  totalParams: number;
  /** tfjs backend name. */
  backend: string;
  /** Backend threads (from the context). */
  threads: number;
  /** The step a checkpoint resumed from (0 = fresh start). */
  resumedFromStep: number;
}

/** The parts of tfjs's engine that account for tensor storage. */
interface EngineAccounting {
  state: { numBytes: number; tensorInfo: WeakMap<object, { bytes: number }> };
  trackTensor(tensor: tf.Tensor, backend: unknown): void;
  disposeTensor(tensor: tf.Tensor): void;
}

const runningPeaks = new Set<LiveStoragePeak>();
let stockAccounting: Pick<EngineAccounting, "trackTensor" | "disposeTensor"> | undefined;

/**
 * Exact peak of live tensor storage from construction to `stop()`. tfjs's `numBytes` counts every
 * tensor handle, so a buffer shared by a reshape, an `Identity` or a tensor saved for backprop
 * (every matmul saves its weight this way) is counted once per handle — about twice the storage
 * inside back-propagation — and a timer cannot sample inside a synchronous step. This counts each
 * buffer once, when it is allocated and when its last handle goes, so peaks inside backprop and
 * the optimizer update are seen. Tensors alive at the start enter with the engine's figure.
 */
class LiveStoragePeak {
  live: number;
  peak: number;

  constructor() {
    const engine = tf.engine() as unknown as EngineAccounting;
    this.live = engine.state.numBytes;
    this.peak = this.live;
    if (runningPeaks.size === 0) {
      const stock = { trackTensor: engine.trackTensor, disposeTensor: engine.disposeTensor };
      stockAccounting = stock;
      engine.trackTensor = function (this: EngineAccounting, tensor, backend) {
        const isNewBuffer = !this.state.tensorInfo.has(tensor.dataId);
        stock.trackTensor.call(this, tensor, backend);
        if (!isNewBuffer) return;
        const bytes = this.state.tensorInfo.get(tensor.dataId)?.bytes ?? 0;
        for (const meter of runningPeaks) {
          meter.live += bytes;
          if (meter.live > meter.peak) meter.peak = meter.live;
        }
      };
      engine.disposeTensor = function (this: EngineAccounting, tensor) {
        const info = this.state.tensorInfo.get(tensor.dataId);
        stock.disposeTensor.call(this, tensor);
        if (info && !this.state.tensorInfo.has(tensor.dataId)) {
          for (const meter of runningPeaks) meter.live -= info.bytes;
        }
      };
    }
    runningPeaks.add(this);
  }

  /** Stops tracking (the engine is restored when no tracker runs) and returns the peak bytes. */
  stop(): number {
    runningPeaks.delete(this);
    if (runningPeaks.size === 0 && stockAccounting) {
      Object.assign(tf.engine(), stockAccounting);
      stockAccounting = undefined;
    }
    return this.peak;
  }
}

/** Pads `examples` to the longest with `padId` (label -100) into one batch. */
export function collate(examples: TrainingExample[], padId: number): Batch {
  const length = Math.max(...examples.map((e) => e.ids.length));
  let tokens = 0;
  const ids: number[][] = [];
  const labels: number[][] = [];
  for (const e of examples) {
    tokens += e.ids.length;
    const pad = length - e.ids.length;
    ids.push([...e.ids, ...new Array(pad).fill(padId)]);
    labels.push([...e.labels, ...new Array(pad).fill(ignoreLabel)]);
  }
  return { ids, labels, tokens };
}

/** Scored positions of a batch: labels after the first position that are not -100. */
function scoredTokens(batch: Batch): number {
  let count = 0;
  for (const row of batch.labels) {
    for (let t = 1; t < row.length; t++) if (row[t] !== ignoreLabel) count++;
  }
  return count;
}

/** Mean next-token loss of a batch on scored positions; the soft prompt, if any, is never scored. */
/** What a forward pass needs from a tuning method (nothing, for the untuned base). */
export type ForwardHooks = Pick<AppliedMethod, "prefix" | "setTraining">;

function batchLoss(
  model: TrainableModel,
  method: ForwardHooks,
  batch: Batch,
  training: boolean,
  seed: number,
): tf.Scalar {
  const B = batch.ids.length;
  const T = batch.ids[0].length;
  method.setTraining?.(training, seed);
  const ids = tf.tensor2d(batch.ids, [B, T], "int32");
  const prefix = method.prefix?.(B); // (B, P, C)
  return lmLoss(model, ids, batch.labels, { prefix, training, seed });
}

/** Token-weighted mean validation loss over `examples` (NaN when nothing is scored). */
export function validationLossOf(
  model: TrainableModel,
  method: ForwardHooks,
  examples: TrainingExample[],
  batchSize: number,
  padId: number,
): number {
  let total = 0;
  let count = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const batch = collate(examples.slice(i, i + batchSize), padId);
    const scored = scoredTokens(batch);
    if (scored === 0 || batch.ids[0].length < 2) continue;
    const loss = tf.tidy(() => batchLoss(model, method, batch, false, 0));
    total += loss.dataSync()[0] * scored;
    count += scored;
    loss.dispose();
  }
  return count > 0 ? total / count : Number.NaN;
}

/**
 * Fails before any work when an example cannot run: labels not aligned with ids, or a sequence
 * that with the soft prompt would not fit the model's positions.
 */
function checkExamples(
  model: TrainableModel,
  method: AppliedMethod,
  data: { train: TrainingExample[]; validation: TrainingExample[] },
): void {
  const prefix = method.prefix?.(1);
  const softTokens = prefix ? prefix.shape[1] : 0;
  prefix?.dispose();
  for (const [split, examples] of Object.entries(data)) {
    examples.forEach((example: TrainingExample, index: number) => {
      if (example.ids.length !== example.labels.length || example.ids.length === 0) {
        throw new ConfigError(
          `data.${split}[${index}]`,
          `has ${example.ids.length} ids and ${example.labels.length} labels; they must be equal and non-zero`,
        );
      }
      const problem = contextProblem(model.config, example.ids.length + softTokens);
      if (problem) {
        throw new ConfigError(
          `data.${split}[${index}]`,
          `${example.ids.length} tokens + ${softTokens} soft tokens: ${problem}; ` +
            `lower max_input_tokens or max_output_tokens`,
        );
      }
    });
  }
}

/** FNV-1a over the examples, so a checkpoint is only resumed on the same data. */
function hashExamples(hash: number, examples: TrainingExample[]): number {
  const mix = (value: number) => {
    hash ^= value & 0xffffffff;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  };
  for (const e of examples) {
    mix(e.ids.length);
    for (const id of e.ids) mix(id);
    for (const label of e.labels) mix(label);
  }
  return hash;
}

function fingerprintOf(
  method: AppliedMethod,
  data: { train: TrainingExample[]; validation: TrainingExample[] },
  opts: TrainOptions,
): string {
  const shapes = [...method.trainable].map(([name, v]) => [name, v.shape]);
  const dataHash = hashExamples(hashExamples(0x811c9dc5, data.train), data.validation);
  return JSON.stringify({ method: method.method, opts, shapes, dataHash });
}

function snapshot(trainable: Map<string, tf.Variable>): Map<string, Float32Array> {
  return new Map([...trainable].map(([name, v]) => [name, new Float32Array(v.dataSync())]));
}

function restore(trainable: Map<string, tf.Variable>, values: Map<string, Float32Array>): void {
  assignSaved(
    trainable,
    values,
    (name) => `saved weights for "${name}" are missing or have the wrong size`,
  );
}

/**
 * Trains `method.trainable` on `data.train`, validating on `data.validation`, and returns the
 * cost and curves. With `ctx.checkpointDir`, writes a checkpoint every `checkpointEverySteps` and
 * resumes from one written by an identical run (same options, data and trainable shapes) — the
 * resumed run ends with the same weights and metrics as an uninterrupted one. The model ends with
 * the best validation's weights when `restoreBest`. Throws ConfigError for empty training data or
 * an example that does not fit (see `checkExamples`), and the abort reason when `ctx.signal` aborts.
 */
export async function train(
  model: TrainableModel,
  method: AppliedMethod,
  data: { train: TrainingExample[]; validation: TrainingExample[] },
  opts: TrainOptions,
  ctx: TrainContext = {},
): Promise<TrainResult> {
  if (data.train.length === 0) throw new ConfigError("data.train", "has no examples");
  if (method.trainable.size === 0) throw new ConfigError("method", "selects no trainable weights");
  checkExamples(model, method, data);
  const meter = new MemoryMeter();
  const storage = new LiveStoragePeak();
  const started = performance.now();
  const trainable = method.trainable;
  const keyOfVariable = new Map([...trainable].map(([key, v]) => [v.name, key]));
  const variables = [...trainable.values()];
  const shapes = new Map([...trainable].map(([key, v]) => [key, v.shape]));
  const microPerEpoch = Math.ceil(data.train.length / opts.batchSize);
  const stepsPerEpoch = Math.ceil(microPerEpoch / opts.gradientAccumulation);
  const totalSteps = opts.maxSteps > 0 ? opts.maxSteps : opts.epochs * stepsPerEpoch;
  const hasValidation = data.validation.length > 0;
  const optimizer = new AdamW(trainable, {
    beta1: opts.beta1,
    beta2: opts.beta2,
    epsilon: opts.epsilon,
    weightDecay: opts.weightDecay,
  });
  const fingerprint = fingerprintOf(method, data, opts);

  let state: TrainState = {
    version: 1,
    fingerprint,
    step: 0,
    epoch: 0,
    batchInEpoch: 0,
    trainTokens: 0,
    elapsedSeconds: 0,
    trainLoss: [],
    validationLoss: [],
    validationSteps: [],
    validationEpochs: [],
    bestIndex: -1,
    validationsWithoutImprovement: 0,
    stoppedEarly: false,
  };
  let best: Map<string, Float32Array> | null = null;
  if (ctx.checkpointDir) {
    try {
      const saved = await readCheckpoint(ctx.checkpointDir);
      if (saved && saved.state.fingerprint === fingerprint) {
        state = saved.state;
        restore(trainable, saved.tensors.trainable);
        optimizer.importState({ step: state.step, m: saved.tensors.m, v: saved.tensors.v });
        best = saved.tensors.best;
      }
    } catch (error) {
      optimizer.dispose();
      storage.stop();
      meter.stop();
      throw error;
    }
  }
  const resumedFromStep = state.step;
  const elapsed = () => state.elapsedSeconds + (performance.now() - started) / 1000;
  const report = (
    update: Omit<TrainProgress, "step" | "totalSteps" | "tokensPerSecond" | "etaSeconds">,
  ) => {
    const seconds = elapsed();
    const sessionSteps = state.step - resumedFromStep;
    const perStep = sessionSteps > 0 ? (performance.now() - started) / 1000 / sessionSteps : 0;
    ctx.progress?.({
      ...update,
      step: state.step,
      totalSteps,
      tokensPerSecond: seconds > 0 ? state.trainTokens / seconds : 0,
      etaSeconds: perStep * (totalSteps - state.step),
    });
  };

  try {
    while (state.step < totalSteps && !state.stoppedEarly) {
      const epoch = state.epoch;
      const order = new Rng(mixSeed(opts.seed, epoch)).permutation(data.train.length);
      while (state.epoch === epoch && state.step < totalSteps && !state.stoppedEarly) {
        const group = Math.min(opts.gradientAccumulation, microPerEpoch - state.batchInEpoch);
        let summed = new Map<string, tf.Tensor>();
        let loss = 0;
        for (let micro = 0; micro < group; micro++) {
          const first = (state.batchInEpoch + micro) * opts.batchSize;
          const batch = collate(
            order.slice(first, first + opts.batchSize).map((i) => data.train[i]),
            opts.padId,
          );
          const seed = mixSeed(opts.seed, state.step, micro);
          const { value, grads } = tf.variableGrads(() => {
            const mean = batchLoss(model, method, batch, true, seed);
            meter.sample(); // activations are alive now (RSS)
            return tf.div(mean, group) as tf.Scalar;
          }, variables);
          meter.sample(); // gradients are alive now (RSS)
          loss += value.dataSync()[0];
          value.dispose();
          for (const [name, g] of Object.entries(grads)) {
            const key = keyOfVariable.get(name)!;
            const previous = summed.get(key);
            if (previous) {
              summed.set(key, tf.add(previous, g));
              previous.dispose();
              g.dispose();
            } else summed.set(key, g);
          }
          state.trainTokens += batch.tokens;
        }
        state.batchInEpoch += group;
        const learningRate = learningRateAt(state.step, {
          learningRate: opts.learningRate,
          warmupSteps: opts.warmupSteps,
          totalSteps,
          decay: opts.decay,
        });
        const clipped = clipByGlobalNorm(summed, opts.maxGradNorm).grads;
        optimizer.applyGradients(clipped, learningRate);
        meter.sample();
        if (clipped !== summed) { for (const g of clipped.values()) g.dispose(); }
        for (const g of summed.values()) g.dispose();
        summed = new Map();
        state.step++;
        state.trainLoss.push(loss);
        const epochEnded = state.batchInEpoch >= microPerEpoch;
        if (epochEnded) {
          state.epoch++;
          state.batchInEpoch = 0;
        }
        report({ phase: "train", epoch: epoch + 1, loss, learningRate });

        const lastStep = state.step === totalSteps;
        const due = opts.evalEverySteps > 0 ? state.step % opts.evalEverySteps === 0 : epochEnded;
        if (hasValidation && (due || lastStep)) {
          const validationLoss = validationLossOf(
            model,
            method,
            data.validation,
            opts.evalBatchSize,
            opts.padId,
          );
          state.validationLoss.push(validationLoss);
          state.validationSteps.push(state.step);
          state.validationEpochs.push(epoch + 1);
          const bestLoss = state.bestIndex >= 0 ? state.validationLoss[state.bestIndex] : Infinity;
          if (validationLoss < bestLoss) {
            state.bestIndex = state.validationLoss.length - 1;
            state.validationsWithoutImprovement = 0;
            if (opts.restoreBest) best = snapshot(trainable);
          } else {
            state.validationsWithoutImprovement++;
            if (
              opts.earlyStoppingPatience > 0 &&
              state.validationsWithoutImprovement >= opts.earlyStoppingPatience
            ) state.stoppedEarly = true;
          }
          report({ phase: "validate", epoch: epoch + 1, loss, learningRate, validationLoss });
        }
        if (
          ctx.checkpointDir && opts.checkpointEverySteps > 0 &&
          (state.step % opts.checkpointEverySteps === 0 || state.stoppedEarly)
        ) {
          const moments = optimizer.exportState();
          const tensors: CheckpointTensors = {
            trainable: snapshot(trainable),
            m: moments.m,
            v: moments.v,
            best,
          };
          await writeCheckpoint(
            ctx.checkpointDir,
            { ...state, elapsedSeconds: elapsed() },
            tensors,
            shapes,
          );
        }
        // Let timers (the memory meter) and abort signals run between steps.
        await new Promise((resolve) => setTimeout(resolve, 0));
        ctx.signal?.throwIfAborted();
      }
    }
    if (opts.restoreBest && best && state.bestIndex !== state.validationLoss.length - 1) {
      restore(trainable, best);
    }
  } finally {
    method.setTraining?.(false, 0);
    optimizer.dispose();
    storage.stop();
  }

  const trainSeconds = elapsed();
  const peakMemory: PeakMemory = { ...meter.stop(), peakTensorBytes: storage.peak };
  let trainableParams = 0;
  for (const v of variables) trainableParams += v.size;
  let baseParams = 0;
  for (const p of model.params.values()) baseParams += p.size;
  const bestIndex = state.bestIndex;
  return {
    steps: state.step,
    epochs: state.epoch + state.batchInEpoch / microPerEpoch,
    trainLoss: state.trainLoss,
    validationLoss: state.validationLoss,
    validationSteps: state.validationSteps,
    bestEpoch: bestIndex >= 0 ? state.validationEpochs[bestIndex] : 0,
    bestStep: bestIndex >= 0 ? state.validationSteps[bestIndex] : 0,
    bestValidationLoss: bestIndex >= 0 ? state.validationLoss[bestIndex] : Number.NaN,
    stoppedEarly: state.stoppedEarly,
    trainSeconds,
    trainTokens: state.trainTokens,
    tokensPerSecond: trainSeconds > 0 ? state.trainTokens / trainSeconds : 0,
    peakMemory,
    trainableParams,
    totalParams: baseParams + method.addedParams,
    backend: tf.getBackend(),
    threads: ctx.threads ?? 1,
    resumedFromStep,
  };
}

/** One line for a progress bar: `step 12/300 · loss 2.314 · 1,234 tok/s · ETA 4m05s`. */
export function formatProgress(update: TrainProgress): string {
  const eta = Math.round(update.etaSeconds);
  const clock = eta >= 60
    ? `${Math.floor(eta / 60)}m${String(eta % 60).padStart(2, "0")}s`
    : `${eta}s`;
  const parts = [
    `step ${update.step}/${update.totalSteps}`,
    `epoch ${update.epoch}`,
    update.phase === "validate"
      ? `validation loss ${update.validationLoss?.toFixed(3)}`
      : `loss ${update.loss.toFixed(3)}`,
    `${Math.round(update.tokensPerSecond).toLocaleString("en-US")} tok/s`,
    `ETA ${clock}`,
  ];
  return parts.join(" · ");
}
