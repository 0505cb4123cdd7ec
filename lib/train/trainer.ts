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
import { MemoryMeter, type PeakMemory, tensorStorageLimit } from "../engine/mod.ts";
import { contextProblem } from "../model/gpt2.ts";
import { ConfigError } from "../config/errors.ts";
import type { AppliedMethod } from "../peft/types.ts";
import { mixSeed, Rng } from "../util/random.ts";
import { type Batch, collate, type TrainingExample } from "./batch.ts";
import { BatchFit } from "./fit.ts";
import { frozenBlocksOf } from "./frozen.ts";
import { type TrainableModel, validationLossOf } from "./loss.ts";
import { AdamW, readValues } from "./optimizer.ts";
import type { TrainOptions } from "./options.ts";
import {
  restoreWeights,
  saveSession,
  type Session,
  startSession,
  type TrainData,
} from "./session.ts";
import { optimisationStep, type StepOutcome, type StepSetup } from "./step.ts";

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
  /** Told about decisions a user should know of (a batch split to fit memory). */
  log?: (line: string) => void;
  /**
   * Most tensor storage training may use, with its name for messages; default: the engine's own
   * limit (`tensorStorageLimit`: the wasm heap of `blas`/`wasm`), none on other backends.
   */
  memoryLimit?: { bytes: number; name: string } | null;
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
  /**
   * Wall seconds of the optimisation steps only (forward, backward, gradient accumulation,
   * clipping, update), summed over resumed sessions; validation and checkpoints are counted apart.
   */
  trainSeconds: number;
  /** Wall seconds spent computing validation losses, summed over resumed sessions. */
  validationSeconds: number;
  /** Wall seconds spent writing resumable checkpoints, summed over resumed sessions. */
  checkpointSeconds: number;
  /** Real input tokens processed in training (padding excluded). */
  trainTokens: number;
  /** trainTokens / trainSeconds: tokens per second of optimisation. */
  tokensPerSecond: number;
  /**
   * Peak memory of this session's training (steps, optimizer updates, validations and
   * checkpoints), from lib/engine's meter: tensor bytes include the model, the optimizer moments
   * and everything back-propagation keeps.
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
  /**
   * Micro-batches of this session that would not fit the engine's tensor storage and ran in
   * parts (same loss and update); 0 when every batch fit.
   */
  splitBatches: number;
}

/**
 * Fails before any work when an example cannot run: labels not aligned with ids, or a sequence
 * that with the soft prompt would not fit the model's positions.
 */
function checkExamples(
  model: TrainableModel,
  method: AppliedMethod,
  data: TrainData,
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

/** How many micro-batches and optimizer steps a run takes. */
interface TrainPlan {
  /** Micro-batches in one pass over the training examples. */
  microPerEpoch: number;
  /** Optimizer steps the run will take (unless it stops early). */
  totalSteps: number;
}

function planOf(trainExamples: number, opts: TrainOptions): TrainPlan {
  const microPerEpoch = Math.ceil(trainExamples / opts.batchSize);
  const stepsPerEpoch = Math.ceil(microPerEpoch / opts.gradientAccumulation);
  return {
    microPerEpoch,
    totalSteps: opts.maxSteps > 0 ? opts.maxSteps : opts.epochs * stepsPerEpoch,
  };
}

/** The micro-batches of the next step: up to `gradientAccumulation` of them, within the epoch. */
function nextBatches(
  session: Session,
  order: number[],
  examples: TrainingExample[],
  plan: TrainPlan,
  opts: TrainOptions,
): Batch[] {
  const { batchInEpoch } = session.state;
  const count = Math.min(opts.gradientAccumulation, plan.microPerEpoch - batchInEpoch);
  return Array.from({ length: count }, (_, micro) => {
    const first = (batchInEpoch + micro) * opts.batchSize;
    return collate(order.slice(first, first + opts.batchSize).map((i) => examples[i]), opts.padId);
  });
}

/** Records a finished step; returns whether it ended the epoch. */
function recordStep(
  session: Session,
  batches: Batch[],
  outcome: StepOutcome,
  plan: TrainPlan,
): boolean {
  const { state } = session;
  for (const batch of batches) state.trainTokens += batch.tokens;
  state.batchInEpoch += batches.length;
  state.step++;
  state.trainLoss.push(outcome.loss);
  const epochEnded = state.batchInEpoch >= plan.microPerEpoch;
  if (epochEnded) {
    state.epoch++;
    state.batchInEpoch = 0;
  }
  return epochEnded;
}

/** Validation runs every `evalEverySteps` (else at each epoch's end) and after the last step. */
function validationDue(
  session: Session,
  epochEnded: boolean,
  plan: TrainPlan,
  opts: TrainOptions,
): boolean {
  const { step } = session.state;
  const due = opts.evalEverySteps > 0 ? step % opts.evalEverySteps === 0 : epochEnded;
  return due || step === plan.totalSteps;
}

/**
 * Records a validation loss and decides early stopping: a new best resets the patience count (and
 * keeps the weights when `restoreBest`); `earlyStoppingPatience` validations without one stop the run.
 */
async function recordValidation(
  session: Session,
  validationLoss: number,
  epoch: number,
  trainable: Map<string, tf.Variable>,
  opts: TrainOptions,
): Promise<void> {
  const { state } = session;
  state.validationLoss.push(validationLoss);
  state.validationSteps.push(state.step);
  state.validationEpochs.push(epoch);
  const bestLoss = state.bestIndex >= 0 ? state.validationLoss[state.bestIndex] : Infinity;
  if (validationLoss < bestLoss) {
    state.bestIndex = state.validationLoss.length - 1;
    state.validationsWithoutImprovement = 0;
    if (opts.restoreBest) session.best = await readValues(trainable);
    return;
  }
  state.validationsWithoutImprovement++;
  if (
    opts.earlyStoppingPatience > 0 &&
    state.validationsWithoutImprovement >= opts.earlyStoppingPatience
  ) state.stoppedEarly = true;
}

/** A checkpoint is written every `checkpointEverySteps` and when early stopping fires. */
function checkpointDue(session: Session, opts: TrainOptions): boolean {
  const { step, stoppedEarly } = session.state;
  return opts.checkpointEverySteps > 0 &&
    (step % opts.checkpointEverySteps === 0 || stoppedEarly);
}

/** The parts of a run whose seconds are counted apart. */
type TimedPart = "trainSeconds" | "validationSeconds" | "checkpointSeconds";

/** Runs `work` and adds its wall seconds to `part` of the session's state. */
async function timed<T>(
  session: Session,
  part: TimedPart,
  work: () => T | Promise<T>,
): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    session.state[part] += (performance.now() - started) / 1000;
  }
}

/** Where this session started, for the progress ETA. */
interface SessionStart {
  /** `performance.now()` at the start. */
  startedMs: number;
  /** The step a checkpoint resumed from (0 = fresh start). */
  resumedFromStep: number;
}

/** Tells `ctx.progress` where the run stands. */
function reportProgress(
  ctx: TrainContext,
  session: Session,
  start: SessionStart,
  plan: TrainPlan,
  update: Omit<TrainProgress, "step" | "totalSteps" | "tokensPerSecond" | "etaSeconds">,
): void {
  if (!ctx.progress) return;
  const { step, trainTokens, trainSeconds } = session.state;
  const sessionSteps = step - start.resumedFromStep;
  const wallSeconds = (performance.now() - start.startedMs) / 1000;
  const perStep = sessionSteps > 0 ? wallSeconds / sessionSteps : 0;
  ctx.progress({
    ...update,
    step,
    totalSteps: plan.totalSteps,
    tokensPerSecond: trainSeconds > 0 ? trainTokens / trainSeconds : 0,
    etaSeconds: perStep * (plan.totalSteps - step),
  });
}

/** The result of a finished run, with the meter's peaks. */
function resultOf(run: Run, peakMemory: PeakMemory): TrainResult {
  const { model, method, session, plan, start } = run;
  const { state } = session;
  const { trainSeconds } = state;
  let trainableParams = 0;
  for (const v of method.trainable.values()) trainableParams += v.size;
  let baseParams = 0;
  for (const p of model.params.values()) baseParams += p.size;
  const bestIndex = state.bestIndex;
  return {
    steps: state.step,
    epochs: state.epoch + state.batchInEpoch / plan.microPerEpoch,
    trainLoss: state.trainLoss,
    validationLoss: state.validationLoss,
    validationSteps: state.validationSteps,
    bestEpoch: bestIndex >= 0 ? state.validationEpochs[bestIndex] : 0,
    bestStep: bestIndex >= 0 ? state.validationSteps[bestIndex] : 0,
    bestValidationLoss: bestIndex >= 0 ? state.validationLoss[bestIndex] : Number.NaN,
    stoppedEarly: state.stoppedEarly,
    trainSeconds,
    validationSeconds: state.validationSeconds,
    checkpointSeconds: state.checkpointSeconds,
    trainTokens: state.trainTokens,
    tokensPerSecond: trainSeconds > 0 ? state.trainTokens / trainSeconds : 0,
    peakMemory,
    trainableParams,
    totalParams: baseParams + method.addedParams,
    backend: tf.getBackend(),
    threads: run.ctx.threads ?? 1,
    resumedFromStep: start.resumedFromStep,
    splitBatches: run.setup.fit.splitBatches,
  };
}

/** Everything one training session works with. */
interface Run {
  model: TrainableModel;
  method: AppliedMethod;
  data: TrainData;
  opts: TrainOptions;
  ctx: TrainContext;
  plan: TrainPlan;
  /** What every optimisation step shares (optimizer, meter, frozen blocks, memory fit). */
  setup: StepSetup;
  session: Session;
  start: SessionStart;
}

/**
 * Sets a session up: the meter, the optimizer and the session (resumed from a checkpoint when one
 * of an identical run exists). Frees what it made when resuming fails.
 */
async function startRun(
  model: TrainableModel,
  method: AppliedMethod,
  data: TrainData,
  opts: TrainOptions,
  ctx: TrainContext,
): Promise<Run> {
  const plan = planOf(data.train.length, opts);
  const meter = new MemoryMeter();
  const optimizer = new AdamW(method.trainable, {
    beta1: opts.beta1,
    beta2: opts.beta2,
    epsilon: opts.epsilon,
    weightDecay: opts.weightDecay,
  });
  let session: Session;
  try {
    session = await startSession(method, data, opts, optimizer, ctx.checkpointDir);
  } catch (error) {
    optimizer.dispose();
    meter.stop();
    throw error;
  }
  const frozenBlocks = frozenBlocksOf(method, model.config.nLayer);
  const limit = ctx.memoryLimit === undefined ? tensorStorageLimit() : ctx.memoryLimit;
  const setup: StepSetup = {
    model,
    method,
    opts,
    optimizer,
    totalSteps: plan.totalSteps,
    meter,
    frozenBlocks,
    fit: new BatchFit(limit, model.config, model.config.nLayer - frozenBlocks),
    log: ctx.log,
  };
  const start = { startedMs: performance.now(), resumedFromStep: session.state.step };
  return { model, method, data, opts, ctx, plan, setup, session, start };
}

/** One optimisation step on the next micro-batches of `order`, recorded and reported. */
async function trainStep(
  run: Run,
  order: number[],
): Promise<{ outcome: StepOutcome; epochEnded: boolean }> {
  const { session, plan, opts } = run;
  const epoch = session.state.epoch + 1;
  const batches = nextBatches(session, order, run.data.train, plan, opts);
  const outcome = await timed(
    session,
    "trainSeconds",
    () => optimisationStep(run.setup, batches, session.state.step),
  );
  const epochEnded = recordStep(session, batches, outcome, plan);
  reportProgress(run.ctx, session, run.start, plan, { phase: "train", epoch, ...outcome });
  return { outcome, epochEnded };
}

/** Measures the validation loss, records it (best weights, early stopping) and reports it. */
async function validate(run: Run, outcome: StepOutcome, epoch: number): Promise<void> {
  const { model, method, data, opts, session } = run;
  const validationLoss = await timed(
    session,
    "validationSeconds",
    () => validationLossOf(model, method, data.validation, opts.evalBatchSize, opts.padId),
  );
  await recordValidation(session, validationLoss, epoch, method.trainable, opts);
  reportProgress(run.ctx, session, run.start, run.plan, {
    phase: "validate",
    epoch,
    ...outcome,
    validationLoss,
  });
}

/** Writes a resumable checkpoint of the session into `dir`. */
async function checkpoint(run: Run, dir: string): Promise<void> {
  await timed(
    run.session,
    "checkpointSeconds",
    () => saveSession(dir, run.session, run.method.trainable, run.setup.optimizer),
  );
}

/** Lets timers (the memory meter) and abort signals run between steps. */
async function yieldBetweenSteps(signal: AbortSignal | undefined): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 0));
  signal?.throwIfAborted();
}

/** Puts the best validation's weights back when `restoreBest` and the last one was not the best. */
function restoreBestWeights(run: Run): void {
  const { state, best } = run.session;
  if (run.opts.restoreBest && best && state.bestIndex !== state.validationLoss.length - 1) {
    restoreWeights(run.method.trainable, best);
  }
}

/**
 * Trains `method.trainable` on `data.train`, validating on `data.validation`, and returns the
 * cost and curves. With `ctx.checkpointDir`, writes a checkpoint every `checkpointEverySteps` and
 * resumes from one written by an identical run (same options, data and trainable shapes) — the
 * resumed run ends with the same weights and metrics as an uninterrupted one. The model ends with
 * the best validation's weights when `restoreBest`. Throws ConfigError for empty training data, an
 * example that does not fit (see `checkExamples`) or one that cannot fit the engine's memory, and
 * the abort reason when `ctx.signal` aborts.
 */
export async function train(
  model: TrainableModel,
  method: AppliedMethod,
  data: TrainData,
  opts: TrainOptions,
  ctx: TrainContext = {},
): Promise<TrainResult> {
  if (data.train.length === 0) throw new ConfigError("data.train", "has no examples");
  if (method.trainable.size === 0) throw new ConfigError("method", "selects no trainable weights");
  checkExamples(model, method, data);
  const run = await startRun(model, method, data, opts, ctx);
  const { state } = run.session;
  const running = () => state.step < run.plan.totalSteps && !state.stoppedEarly;
  try {
    while (running()) {
      const epoch = state.epoch;
      const order = new Rng(mixSeed(opts.seed, epoch)).permutation(data.train.length);
      while (state.epoch === epoch && running()) {
        const { outcome, epochEnded } = await trainStep(run, order);
        if (data.validation.length > 0 && validationDue(run.session, epochEnded, run.plan, opts)) {
          await validate(run, outcome, epoch + 1);
        }
        if (ctx.checkpointDir && checkpointDue(run.session, opts)) {
          await checkpoint(run, ctx.checkpointDir);
        }
        await yieldBetweenSteps(ctx.signal);
      }
    }
    restoreBestWeights(run);
  } finally {
    method.setTraining?.(false, 0);
    run.setup.optimizer.dispose();
    run.setup.meter.stop();
  }
  return resultOf(run, run.setup.meter.stop());
}
