/** Trainer settings with their defaults, and their parsing from a pipeline's params section. */
import { readBoolean, readChoice, readNumber, rejectUnknownKeys } from "../config/readers.ts";
import type { DecayShape } from "./schedule.ts";

/** How one training run goes. Counts of steps are optimizer steps (after accumulation). */
export interface TrainOptions {
  /** Seed of shuffling and dropout. */
  seed: number;
  /** Examples per forward/backward pass (micro-batch). */
  batchSize: number;
  /** Micro-batches whose gradients are summed (averaged) into one optimizer step. */
  gradientAccumulation: number;
  /** Peak learning rate. */
  learningRate: number;
  /** Linear warmup steps (from 0 to `learningRate`). */
  warmupSteps: number;
  /** Decay after warmup. */
  decay: DecayShape;
  /** AdamW decoupled weight decay (never on biases, layer norms, 1-D parameters). */
  weightDecay: number;
  /** AdamW first-moment decay. */
  beta1: number;
  /** AdamW second-moment decay. */
  beta2: number;
  /** AdamW epsilon. */
  epsilon: number;
  /** Clip the global gradient norm to this; 0 turns clipping off. */
  maxGradNorm: number;
  /** Passes over the training examples (ignored when `maxSteps` is set). */
  epochs: number;
  /** Stop after this many optimizer steps; 0 = run `epochs`. */
  maxSteps: number;
  /** Validate every K optimizer steps (and at the end); 0 = at the end of every epoch. */
  evalEverySteps: number;
  /**
   * Examples per validation forward pass; when not set, the training batch size, so that
   * validation never needs more memory than a training step and the peak measures the method.
   */
  evalBatchSize: number;
  /** Stop after this many validations without improvement; 0 = never stop early. */
  earlyStoppingPatience: number;
  /** Put back the weights of the best validation at the end. */
  restoreBest: boolean;
  /** Write a resumable checkpoint every K optimizer steps; 0 = never. */
  checkpointEverySteps: number;
  /** Token id used to pad a batch to its longest sequence (its labels are -100). */
  padId: number;
}

/** Defaults (HF-like): batch 8, lr 5e-5, linear decay, 1 epoch, validation every epoch. */
export const defaultTrainOptions: TrainOptions = {
  seed: 0,
  batchSize: 8,
  gradientAccumulation: 1,
  learningRate: 5e-5,
  warmupSteps: 0,
  decay: "linear",
  weightDecay: 0.01,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-8,
  maxGradNorm: 1.0,
  epochs: 1,
  maxSteps: 0,
  evalEverySteps: 0,
  evalBatchSize: 8,
  earlyStoppingPatience: 0,
  restoreBest: true,
  checkpointEverySteps: 0,
  padId: 0,
};

/** YAML key of each option. */
const keyOf: Record<keyof TrainOptions, string> = {
  seed: "seed",
  batchSize: "batch_size",
  gradientAccumulation: "gradient_accumulation",
  learningRate: "learning_rate",
  warmupSteps: "warmup_steps",
  decay: "lr_schedule",
  weightDecay: "weight_decay",
  beta1: "adam_beta1",
  beta2: "adam_beta2",
  epsilon: "adam_epsilon",
  maxGradNorm: "max_grad_norm",
  epochs: "epochs",
  maxSteps: "max_steps",
  evalEverySteps: "eval_every_steps",
  evalBatchSize: "eval_batch_size",
  earlyStoppingPatience: "early_stopping_patience",
  restoreBest: "restore_best",
  checkpointEverySteps: "checkpoint_every_steps",
  padId: "pad_id",
};

/**
 * Reads trainer options from a params section using snake_case keys (`batch_size`,
 * `gradient_accumulation`, `learning_rate`, `warmup_steps`, `lr_schedule`, `weight_decay`,
 * `max_grad_norm`, `epochs`, `max_steps`, `eval_every_steps`, `eval_batch_size`,
 * `early_stopping_patience`, `restore_best`, `checkpoint_every_steps`, `pad_id`, `seed`,
 * `adam_beta1|2`, `adam_epsilon`). Keys in `ignore` (other sections' keys) are skipped. Throws
 * ConfigError naming `where.key` for an unknown key or a bad value.
 */
export function parseTrainOptions(
  raw: Record<string, unknown>,
  where: string,
  ignore: readonly string[] = [],
): TrainOptions {
  const known = Object.values(keyOf);
  rejectUnknownKeys(
    Object.fromEntries(Object.entries(raw).filter(([k]) => !ignore.includes(k))),
    known,
    where,
  );
  const d = defaultTrainOptions;
  const int = (k: keyof TrainOptions, min: number) =>
    readNumber(raw, keyOf[k], where, d[k] as number, { min, integer: true });
  const num = (k: keyof TrainOptions, min: number, max?: number) =>
    readNumber(raw, keyOf[k], where, d[k] as number, { min, max });
  const restoreBest = readBoolean(raw, keyOf.restoreBest, where, d.restoreBest);
  const batchSize = int("batchSize", 1);
  return {
    seed: int("seed", 0),
    batchSize,
    gradientAccumulation: int("gradientAccumulation", 1),
    learningRate: num("learningRate", 0),
    warmupSteps: int("warmupSteps", 0),
    decay: readChoice(raw, keyOf.decay, where, d.decay, ["linear", "cosine", "constant"]),
    weightDecay: num("weightDecay", 0),
    beta1: num("beta1", 0, 0.999999),
    beta2: num("beta2", 0, 0.999999999),
    epsilon: num("epsilon", 0),
    maxGradNorm: num("maxGradNorm", 0),
    epochs: int("epochs", 1),
    maxSteps: int("maxSteps", 0),
    evalEverySteps: int("evalEverySteps", 0),
    evalBatchSize: raw[keyOf.evalBatchSize] === undefined ? batchSize : int("evalBatchSize", 1),
    earlyStoppingPatience: int("earlyStoppingPatience", 0),
    restoreBest,
    checkpointEverySteps: int("checkpointEverySteps", 0),
    padId: int("padId", 0),
  };
}
