/**
 * GPT-2 model, safetensors files, Hugging Face checkpoints and generation.
 *
 * @module
 */
export {
  contextProblem,
  createGPT2,
  type ForwardOptions,
  GPT2,
  type GPT2Config,
  gpt2Defaults,
  type GPT2Shape,
  KVCache,
  type LinearFn,
  linearLayers,
  type LinearShape,
  type LinearWrapper,
  lmLoss,
  mlpWidth,
  ModelInputError,
  parameterShapes,
  supportedActivations,
  usableContext,
} from "./gpt2.ts";
export {
  CheckpointError,
  type LoadedTensor,
  type ReadOptions,
  readSafetensors,
  readSafetensorsMetadata,
  type TensorToWrite,
  writeSafetensors,
} from "./safetensors.ts";
export {
  configFileName,
  configFromJson,
  configToJson,
  loadCheckpoint,
  matchWeights,
  saveCheckpoint,
  trainedContextKey,
  weightsFileName,
} from "./checkpoint.ts";
export { generate, type GenerateOptions } from "./generate.ts";
