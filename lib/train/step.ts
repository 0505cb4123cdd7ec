/**
 * One optimisation step: forward and backward over each micro-batch, gradients summed across
 * them, clipped by global norm and applied by AdamW at the schedule's learning rate.
 */
import * as tf from "@tensorflow/tfjs-core";
import { concatScalars, type MemoryMeter } from "../engine/mod.ts";
import type { AppliedMethod } from "../peft/types.ts";
import { mixSeed } from "../util/random.ts";
import { type Batch, batchRows, scoredTokens } from "./batch.ts";
import type { BatchFit } from "./fit.ts";
import { batchLoss, type TrainableModel } from "./loss.ts";
import { type AdamW, clipToNorm, squaredGlobalNorm } from "./optimizer.ts";
import type { TrainOptions } from "./options.ts";
import { learningRateAt } from "./schedule.ts";

/** What every step of a run shares. */
export interface StepSetup {
  /** The model being tuned. */
  model: TrainableModel;
  /** The tuning method (its trainable variables and forward hooks). */
  method: AppliedMethod;
  /** The run's options. */
  opts: TrainOptions;
  /** The optimizer over `method.trainable`. */
  optimizer: AdamW;
  /** Optimizer steps the run will take, for the schedule. */
  totalSteps: number;
  /** Sampled where activations and gradients are alive (process RSS). */
  meter: MemoryMeter;
  /** Leading blocks below every trainable variable, run off the gradient tape. */
  frozenBlocks: number;
  /** Splits micro-batches that would not fit the engine's tensor storage. */
  fit: BatchFit;
  /** Told once when a micro-batch first has to be split. */
  log?: (line: string) => void;
}

/** What one step did. */
export interface StepOutcome {
  /** Mean training loss over the step's micro-batches. */
  loss: number;
  /** Learning rate the update used. */
  learningRate: number;
}

/** Gradients of the trainable variables summed over micro-batches, by trainable key. */
class GradientSum {
  readonly byKey = new Map<string, tf.Tensor>();
  readonly #keyOfVariable: Map<string, string>;

  constructor(trainable: Map<string, tf.Variable>) {
    this.#keyOfVariable = new Map([...trainable].map(([key, v]) => [v.name, key]));
  }

  /** Adds gradients keyed by variable name; takes ownership of them. */
  add(grads: tf.NamedTensorMap): void {
    for (const [name, g] of Object.entries(grads)) {
      const key = this.#keyOfVariable.get(name)!;
      const previous = this.byKey.get(key);
      if (previous) {
        this.byKey.set(key, tf.add(previous, g));
        previous.dispose();
        g.dispose();
      } else this.byKey.set(key, g);
    }
  }

  dispose(): void {
    for (const g of this.byKey.values()) g.dispose();
    this.byKey.clear();
  }
}

/**
 * Forward and backward of `batch` with its mean loss passed through `scale`; adds the gradients to
 * `sum` and returns the scaled loss as a scalar still on the device (the step reads every figure
 * back at once). Teaches `setup.fit` what the batch cost when it has a limit.
 */
function backwardPart(
  setup: StepSetup,
  batch: Batch,
  seed: number,
  scale: (mean: tf.Scalar) => tf.Scalar,
  sum: GradientSum,
): tf.Scalar {
  const { model, method, meter, fit } = setup;
  const liveBefore = meter.liveTensorBytes;
  const { result, peakBytes } = meter.peakDuring(() =>
    tf.variableGrads(() => {
      const mean = batchLoss(model, method, batch, true, seed, setup.frozenBlocks);
      meter.sample(); // activations are alive now (RSS)
      return scale(mean);
    }, [...method.trainable.values()])
  );
  meter.sample(); // gradients are alive now (RSS)
  if (fit.limit) fit.measured(batch.ids.length, batch.ids[0].length, peakBytes - liveBefore);
  sum.add(result.grads);
  return result.value;
}

/**
 * Forward and backward of one micro-batch, its loss scaled by 1/`microBatches` so that the summed
 * gradients are those of the step's mean loss; returns the scaled losses (on the device, one per
 * part). A micro-batch that would
 * not fit the engine's tensor storage runs in parts, each weighted by its share of the scored
 * tokens: the same loss and gradients (up to rounding; dropout masks differ).
 */
function backward(
  setup: StepSetup,
  batch: Batch,
  seed: number,
  microBatches: number,
  sum: GradientSum,
): tf.Scalar[] {
  const rows = batch.ids.length;
  const positions = batch.ids[0].length;
  const scored = scoredTokens(batch);
  const perPart = setup.fit.rowsPerPart(rows, positions, setup.meter.liveTensorBytes);
  if (perPart >= rows || scored === 0) {
    return [backwardPart(setup, batch, seed, (mean) => tf.div(mean, microBatches), sum)];
  }
  if (setup.fit.splitBatches === 1) {
    setup.log?.(
      `a micro-batch of ${rows} × ${positions} positions would not fit ${setup.fit.limit!.name}: ` +
        `running it in parts of ${perPart} rows, gradients summed (same loss and update)`,
    );
  }
  const losses: tf.Scalar[] = [];
  for (let first = 0; first < rows; first += perPart) {
    const part = batchRows(batch, first, perPart);
    const weight = scoredTokens(part) / scored / microBatches;
    if (weight === 0) continue;
    const partSeed = mixSeed(seed, first);
    losses.push(backwardPart(setup, part, partSeed, (mean) => tf.mul(mean, weight), sum));
  }
  return losses;
}

/**
 * Reads back the step's losses and, when clipping, the squared gradient norm — the step's one
 * read-back — and frees the losses. Resolves to the step's loss (summed in order, as numbers)
 * and the global gradient norm (0 when not clipping).
 */
async function readStepFigures(
  losses: tf.Scalar[],
  sum: GradientSum,
  clipping: boolean,
): Promise<{ loss: number; norm: number }> {
  const squaredNorm = clipping ? squaredGlobalNorm(sum.byKey) : null;
  const figures = concatScalars(squaredNorm ? [...losses, squaredNorm] : losses);
  tf.dispose([...losses, ...(squaredNorm ? [squaredNorm] : [])]);
  const values = await figures.data();
  figures.dispose();
  let loss = 0;
  for (let i = 0; i < losses.length; i++) loss += values[i];
  return { loss, norm: squaredNorm ? Math.sqrt(values[losses.length]) : 0 };
}

/**
 * Runs optimizer step number `step` (0-based) over `batches`, its micro-batches: dropout is seeded
 * by (seed, step, micro-batch), so a resumed run repeats it exactly. Reads back from the device
 * once (the losses and the gradient norm).
 */
export async function optimisationStep(
  setup: StepSetup,
  batches: Batch[],
  step: number,
): Promise<StepOutcome> {
  const { opts } = setup;
  const sum = new GradientSum(setup.method.trainable);
  const losses: tf.Scalar[] = [];
  let figures: { loss: number; norm: number };
  try {
    batches.forEach((batch, micro) => {
      const seed = mixSeed(opts.seed, step, micro);
      losses.push(...backward(setup, batch, seed, batches.length, sum));
    });
    figures = await readStepFigures(losses, sum, opts.maxGradNorm > 0);
  } catch (error) {
    tf.dispose(losses);
    sum.dispose();
    throw error;
  }
  const learningRate = learningRateAt(step, {
    learningRate: opts.learningRate,
    warmupSteps: opts.warmupSteps,
    totalSteps: setup.totalSteps,
    decay: opts.decay,
  });
  const clipped = clipToNorm(sum.byKey, figures.norm, opts.maxGradNorm);
  setup.optimizer.applyGradients(clipped, learningRate);
  setup.meter.sample();
  if (clipped !== sum.byKey) { for (const g of clipped.values()) g.dispose(); }
  sum.dispose();
  return { loss: figures.loss, learningRate };
}
