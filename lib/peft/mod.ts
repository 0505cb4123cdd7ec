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
export { ConfigError } from "../config/errors.ts";
export { loadTunedMethod, methodNamed, methods } from "./registry.ts";
export { lora, type LoraConfig } from "./lora.ts";
export { defaultPromptInitText, prompt, type PromptConfig, type PromptInit } from "./prompt.ts";
export { full, type FullConfig } from "./full.ts";
export { ia3, type Ia3AttentionScales, type Ia3Config } from "./ia3.ts";
