/**
 * The one place that maps a method name to its implementation. Adding a method is one new module
 * plus one line here; the trainer and stages never branch on method names.
 */
import {
  adapterConfigFile,
  methodRecordFile,
  readJsonFile,
  readMethodRecord,
} from "./adapter_io.ts";
import { ConfigError } from "../config/errors.ts";
import { ia3 } from "./ia3.ts";
import { lora } from "./lora.ts";
import { prompt } from "./prompt.ts";
import { full } from "./full.ts";
import { CheckpointError } from "../model/safetensors.ts";
import type { AppliedMethod, TunableModel, TuningMethod } from "./types.ts";

/** Every tuning method by registry name: `prompt`, `lora`, `full`, `ia3`. */
export const methods: Map<string, TuningMethod<unknown>> = new Map<string, TuningMethod<unknown>>([
  ["prompt", prompt as TuningMethod<unknown>],
  ["lora", lora as TuningMethod<unknown>],
  ["full", full as TuningMethod<unknown>],
  ["ia3", ia3 as TuningMethod<unknown>],
]);

/** The method named `name`; throws ConfigError at `key` listing the known names otherwise. */
export function methodNamed(name: string, key = "method"): TuningMethod<unknown> {
  const method = methods.get(name);
  if (!method) {
    throw new ConfigError(
      key,
      `unknown method "${name}"; known: ${[...methods.keys()].join(", ")}`,
    );
  }
  return method;
}

/**
 * Reloads whatever `AppliedMethod.save` wrote into `dir` onto a freshly loaded base model, reading
 * the method name from `peftlab_method.json`, or, for an adapter Python PEFT saved, from
 * `adapter_config.json`'s `peft_type`. Throws CheckpointError when files are missing or do not fit
 * the model.
 */
export async function loadTunedMethod(model: TunableModel, dir: string): Promise<AppliedMethod> {
  const record = await readMethodRecord(dir);
  const [path, name] = record
    ? [`${dir}/${methodRecordFile}`, record.method]
    : await peftTypeMethod(dir);
  const method = methods.get(name);
  if (!method) throw new CheckpointError(path, `unknown method "${name}"`);
  return await method.load(model, dir);
}

/** The registry name of the method whose `peftType` `dir`'s adapter_config.json names. */
async function peftTypeMethod(dir: string): Promise<[string, string]> {
  const configPath = `${dir}/${adapterConfigFile}`;
  const peftType = (await readJsonFile(configPath)).peft_type;
  const method = [...methods.values()].find((m) => m.peftType && m.peftType === peftType);
  return [configPath, method?.name ?? `peft_type ${peftType}`];
}
