/**
 * One optimisation step: forward and backward over each micro-batch, gradients summed across
 * them, clipped by global norm and applied by AdamW at the schedule's learning rate.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { MemoryMeter } from "../engine/mod.ts";
import type { AppliedMethod } from "../peft/types.ts";
import { mixSeed } from "../util/random.ts";
import { type Batch, batchRows, scoredTokens } from "./batch.ts";
import type { BatchFit } from "./fit.ts";
import { batchLoss, type TrainableModel } from "./loss.ts";
import { type AdamW, clipByGlobalNorm } from "./optimizer.ts";
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
 * `sum` and returns the scaled loss. Teaches `setup.fit` what the batch cost when it has a limit.
 */
function backwardPart(
  setup: StepSetup,
  batch: Batch,
  seed: number,
  scale: (mean: tf.Scalar) => tf.Scalar,
  sum: GradientSum,
): number {
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
  const loss = result.value.dataSync()[0];
  result.value.dispose();
  sum.add(result.grads);
  return loss;
}

/**
 * Forward and backward of one micro-batch, its loss scaled by 1/`microBatches` so that the summed
 * gradients are those of the step's mean loss; returns the scaled loss. A micro-batch that would
 * not fit the engine's tensor storage runs in parts, each weighted by its share of the scored
 * tokens: the same loss and gradients (up to rounding; dropout masks differ).
 */
function backward(
  setup: StepSetup,
  batch: Batch,
  seed: number,
  microBatches: number,
  sum: GradientSum,
): number {
  const rows = batch.ids.length;
  const positions = batch.ids[0].length;
  const scored = scoredTokens(batch);
  const perPart = setup.fit.rowsPerPart(rows, positions, setup.meter.liveTensorBytes);
  if (perPart >= rows || scored === 0) {
    return backwardPart(setup, batch, seed, (mean) => tf.div(mean, microBatches), sum);
  }
  if (setup.fit.splitBatches === 1) {
    setup.log?.(
      `a micro-batch of ${rows} × ${positions} positions would not fit ${setup.fit.limit!.name}: ` +
        `running it in parts of ${perPart} rows, gradients summed (same loss and update)`,
    );
  }
  let loss = 0;
  for (let first = 0; first < rows; first += perPart) {
    const part = batchRows(batch, first, perPart);
    const weight = scoredTokens(part) / scored / microBatches;
    if (weight === 0) continue;
    const partSeed = mixSeed(seed, first);
    loss += backwardPart(setup, part, partSeed, (mean) => tf.mul(mean, weight), sum);
  }
  return loss;
}

/** Clips the summed gradients and applies them; frees both. */
function update(setup: StepSetup, sum: GradientSum, learningRate: number): void {
  const clipped = clipByGlobalNorm(sum.byKey, setup.opts.maxGradNorm).grads;
  setup.optimizer.applyGradients(clipped, learningRate);
  setup.meter.sample();
  if (clipped !== sum.byKey) { for (const g of clipped.values()) g.dispose(); }
  sum.dispose();
}

/**
 * Runs optimizer step number `step` (0-based) over `batches`, its micro-batches: dropout is seeded
 * by (seed, step, micro-batch), so a resumed run repeats it exactly.
 */
export function optimisationStep(setup: StepSetup, batches: Batch[], step: number): StepOutcome {
  const { opts } = setup;
  const sum = new GradientSum(setup.method.trainable);
  let loss = 0;
  try {
    batches.forEach((batch, micro) => {
      loss += backward(setup, batch, mixSeed(opts.seed, step, micro), batches.length, sum);
    });
  } catch (error) {
    sum.dispose();
    throw error;
  }
  const learningRate = learningRateAt(step, {
    learningRate: opts.learningRate,
    warmupSteps: opts.warmupSteps,
    totalSteps: setup.totalSteps,
    decay: opts.decay,
  });
  update(setup, sum, learningRate);
  return { loss, learningRate };
}
