/**
 * Reading and writing saved method results: `adapter_config.json` + `adapter_model.safetensors`
 * (PEFT's layout) and `peftlab_method.json`, which names the method so a result reloads without
 * knowing which stage wrote it.
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  CheckpointError,
  type LoadedTensor,
  readSafetensors,
  type TensorToWrite,
  writeSafetensors,
} from "../model/safetensors.ts";

/** PEFT's adapter config file name. */
export const adapterConfigFile = "adapter_config.json";
/** PEFT's adapter weights file name. */
export const adapterWeightsFile = "adapter_model.safetensors";
/** peftlab's record of which method (and config) produced a saved directory. */
export const methodRecordFile = "peftlab_method.json";

/** Contents of `peftlab_method.json`. */
export interface MethodRecord {
  /** Registry name of the method. */
  method: string;
  /** The parsed method config, as JSON. */
  config: unknown;
}

/**
 * Copies a variable's values into a writable tensor record (shape may be re-declared, same size).
 * Reads asynchronously, so it works on webgpu too.
 */
export async function tensorRecord(
  variable: tf.Tensor,
  shape: number[] = variable.shape,
): Promise<TensorToWrite> {
  return { shape, data: new Float32Array(await variable.data()) };
}

/** Writes weights (safetensors), an optional JSON config and the method record into `dir`. */
export async function writeMethodDir(
  dir: string,
  record: MethodRecord,
  weightsFile: string,
  tensors: Map<string, TensorToWrite>,
  jsonFiles: Record<string, unknown> = {},
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(`${dir}/${weightsFile}`, writeSafetensors(tensors));
  for (const [name, value] of Object.entries(jsonFiles)) {
    await Deno.writeTextFile(`${dir}/${name}`, JSON.stringify(value, null, 2) + "\n");
  }
  await Deno.writeTextFile(`${dir}/${methodRecordFile}`, JSON.stringify(record, null, 2) + "\n");
}

/**
 * Writes a PEFT adapter directory: `adapter_model.safetensors`, `adapter_config.json` (PEFT's
 * common header for `peftType`, then the method's own `fields`) and the method record. Throws
 * what Deno's file writes throw.
 */
export async function writeAdapterDir(
  dir: string,
  record: MethodRecord,
  tensors: Map<string, TensorToWrite>,
  peftType: string,
  baseModel: string | undefined,
  fields: Record<string, unknown>,
): Promise<void> {
  await writeMethodDir(dir, record, adapterWeightsFile, tensors, {
    [adapterConfigFile]: {
      peft_type: peftType,
      task_type: "CAUSAL_LM",
      auto_mapping: null,
      base_model_name_or_path: baseModel ?? null,
      revision: null,
      inference_mode: true,
      ...fields,
    },
  });
}

/** A saved PEFT adapter's config and where its files are. */
export interface SavedAdapter {
  /** Path of `adapter_config.json`. */
  configPath: string;
  /** Its contents. */
  saved: Record<string, unknown>;
  /** Path of `adapter_model.safetensors` (not read yet). */
  weightsPath: string;
}

/**
 * Reads `dir`'s `adapter_config.json`; throws CheckpointError when it is missing, malformed or
 * written for another PEFT type than `peftType`.
 */
export async function readAdapterConfig(dir: string, peftType: string): Promise<SavedAdapter> {
  const configPath = `${dir}/${adapterConfigFile}`;
  const saved = await readJsonFile(configPath);
  if (saved.peft_type !== peftType) {
    throw new CheckpointError(configPath, `peft_type is ${saved.peft_type}, expected ${peftType}`);
  }
  return { configPath, saved, weightsPath: `${dir}/${adapterWeightsFile}` };
}

/** `parse()`'s result; any error it throws becomes a CheckpointError on `configPath`. */
export function parseSavedConfig<C>(configPath: string, parse: () => C): C {
  try {
    return parse();
  } catch (error) {
    throw new CheckpointError(configPath, (error as Error).message);
  }
}

/**
 * `dir`'s `peftlab_method.json`, or undefined when there is none (an adapter Python PEFT saved);
 * throws CheckpointError when it is there but malformed.
 */
export async function readMethodRecord(dir: string): Promise<MethodRecord | undefined> {
  const path = `${dir}/${methodRecordFile}`;
  try {
    await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new CheckpointError(path, `cannot read: ${(error as Error).message}`);
  }
  const record = await readJsonFile(path);
  return { method: String(record.method), config: record.config };
}

/** Reads a JSON file; throws CheckpointError when missing or malformed. */
export async function readJsonFile(path: string): Promise<Record<string, unknown>> {
  const text = await readOrFail(path, Deno.readTextFile);
  try {
    const value = JSON.parse(text);
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new Error("not a JSON object");
    }
    return value as Record<string, unknown>;
  } catch (error) {
    throw new CheckpointError(path, `invalid JSON: ${(error as Error).message}`);
  }
}

/** Reads a safetensors file as float32 tensors; throws CheckpointError when missing or corrupt. */
export async function readWeightsFile(path: string): Promise<Map<string, LoadedTensor>> {
  return readSafetensors(await readOrFail(path, Deno.readFile), path);
}

/** `read(path)`, with a failure to read reported as a CheckpointError naming the file. */
async function readOrFail<T>(path: string, read: (path: string) => Promise<T>): Promise<T> {
  try {
    return await read(path);
  } catch (error) {
    throw new CheckpointError(path, `cannot read: ${(error as Error).message}`);
  }
}

/** The tensor `name` of a loaded file with exactly `shape`; throws CheckpointError otherwise. */
export function expectTensor(
  tensors: Map<string, LoadedTensor>,
  name: string,
  shape: number[],
  file: string,
): Float32Array {
  const found = tensors.get(name);
  if (!found) throw new CheckpointError(file, `missing tensor "${name}"`);
  if (found.shape.length !== shape.length || found.shape.some((d, i) => d !== shape[i])) {
    throw new CheckpointError(
      file,
      `tensor "${name}" has shape [${found.shape}], expected [${shape}]`,
    );
  }
  return found.data;
}

/** Overwrites a variable's values with loaded data of the same size. */
export function assignData(variable: tf.Variable, data: Float32Array): void {
  const value = tf.tensor(data, variable.shape);
  variable.assign(value);
  value.dispose();
}

/** A new trainable variable holding `initial`, which is disposed (the variable keeps the data). */
export function variableFrom(initial: tf.Tensor): tf.Variable {
  const variable = tf.variable(initial, true);
  initial.dispose();
  return variable;
}
