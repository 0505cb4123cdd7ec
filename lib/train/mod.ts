/**
 * The trainer (AdamW, warmup + decay schedules, gradient accumulation, clipping, early stopping,
 * resumable checkpoints) and the pretraining entry point.
 *
 * Typical use: `const result = await train(model, applied, { train, validation }, parseTrainOptions(params, where), { checkpointDir, progress })`.
 */
export { train, type TrainContext, type TrainProgress, type TrainResult } from "./trainer.ts";
export { type Batch, collate, ignoreLabel, type TrainingExample } from "./batch.ts";
export { type ForwardHooks, type TrainableModel, validationLossOf } from "./loss.ts";
export type { TrainData } from "./session.ts";
export { languageModelExamples, lossByPosition, pretrain, streamBlocks } from "./pretrain.ts";
export { defaultTrainOptions, parseTrainOptions, type TrainOptions } from "./options.ts";
export { type DecayShape, learningRateAt, type ScheduleOptions } from "./schedule.ts";
export { AdamW, type AdamWOptions, clipByGlobalNorm, decays, defaultAdamW } from "./optimizer.ts";
export { latestCheckpoint, type TrainState } from "./checkpoint.ts";
export { mixSeed, Rng } from "../util/random.ts";
