/**
 * The trainer (AdamW, warmup + decay schedules, gradient accumulation, clipping, early stopping,
 * resumable checkpoints) and the pretraining entry point.
 *
 * Typical use: `const result = await train(model, applied, { train, validation }, parseTrainOptions(params, where), { checkpointDir, progress })`.
 */
export {
  type Batch,
  collate,
  formatProgress,
  type ForwardHooks,
  ignoreLabel,
  train,
  type TrainableModel,
  type TrainContext,
  type TrainingExample,
  type TrainProgress,
  type TrainResult,
  validationLossOf,
} from "./trainer.ts";
export { languageModelExamples, lossByPosition, pretrain, streamBlocks } from "./pretrain.ts";
export { defaultTrainOptions, parseTrainOptions, type TrainOptions } from "./options.ts";
export { type DecayShape, learningRateAt, type ScheduleOptions } from "./schedule.ts";
export { AdamW, type AdamWOptions, clipByGlobalNorm, decays, defaultAdamW } from "./optimizer.ts";
export { latestCheckpoint, type TrainState } from "./checkpoint.ts";
export { mixSeed, Rng } from "../util/random.ts";
