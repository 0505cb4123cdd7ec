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
  ignoreLabel,
  KVCache,
  type LinearFn,
  linearLayerNames,
  type LinearWrapper,
  lmLoss,
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
