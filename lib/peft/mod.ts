/**
 * Tuning methods behind one interface (`TuningMethod` → `AppliedMethod`) and their registry.
 *
 * Typical use: `const method = methodNamed(name); const config = method.parseConfig(raw, where);
 * const applied = method.apply(model, config, seed);` then train `applied.trainable`, call
 * `applied.save(dir)`, and later `loadTunedMethod(freshBase, dir)` (+ `merge()` for generation).
 */
export type {
  AppliedMethod,
  LinearWrapper,
  ModelShape,
  SaveInfo,
  TunableModel,
  TuningMethod,
} from "./types.ts";
export { ConfigError } from "./errors.ts";
export { loadTunedMethod, methodNamed, methods } from "./registry.ts";
export {
  adapterConfigFile,
  adapterWeightsFile,
  type MethodRecord,
  methodRecordFile,
} from "./adapter_io.ts";
export { defaultLoraConfig, lora, type LoraConfig, loraTrainableParams } from "./lora.ts";
export {
  defaultPromptConfig,
  defaultPromptInitText,
  prompt,
  type PromptConfig,
  type PromptInit,
  promptTrainableParams,
} from "./prompt.ts";
export {
  defaultFullConfig,
  full,
  type FullConfig,
  fullTrainableParams,
  trainedWeightNames,
  trainedWeightsFile,
} from "./full.ts";
export { defaultIa3Config, ia3, type Ia3Config, ia3TrainableParams } from "./ia3.ts";
