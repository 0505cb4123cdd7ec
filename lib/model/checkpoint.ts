/**
 * Hugging Face GPT-2 checkpoints: a directory with `config.json` (GPT2Config field names) and
 * `model.safetensors`. Loading accepts keys with or without the `transformer.` prefix and ignores
 * the attention-mask buffers and a tied `lm_head.weight`; saving writes what
 * `GPT2LMHeadModel.from_pretrained` loads.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import {
  GPT2,
  type GPT2Config,
  gpt2Defaults,
  parameterShapes,
  supportedActivations,
} from "./gpt2.ts";
import { CheckpointError, readSafetensors, writeSafetensors } from "./safetensors.ts";
import { exists } from "../util/fs.ts";

/** File names inside a checkpoint directory. */
export const configFileName = "config.json";
/** File names inside a checkpoint directory. */
export const weightsFileName = "model.safetensors";

/** `config.json` key recording the longest sequence the weights were trained on. */
export const trainedContextKey = "peftlab_trained_context";
/** Prefix `GPT2LMHeadModel` puts in front of the transformer's keys. */
const transformerPrefix = "transformer.";
/** Keys that are buffers or duplicates, not weights: causal-mask buffers and the tied LM head. */
const ignoredKey = /^(h\.\d+\.attn\.(bias|masked_bias)|lm_head\.weight)$/;

/** Reads a GPT2Config from the parsed `config.json` object; throws CheckpointError naming the bad field. */
export function configFromJson(json: Record<string, unknown>, file: string): GPT2Config {
  const integer = (key: string, fallback?: string): number => {
    const value = json[key] ?? (fallback !== undefined ? json[fallback] : undefined);
    if (!Number.isInteger(value) || (value as number) <= 0) {
      throw new CheckpointError(
        file,
        `"${key}" must be a positive integer, got ${JSON.stringify(value)}`,
      );
    }
    return value as number;
  };
  if (json.model_type !== undefined && json.model_type !== "gpt2") {
    throw new CheckpointError(
      file,
      `model_type is ${JSON.stringify(json.model_type)}, expected "gpt2"`,
    );
  }
  if (json.scale_attn_by_inverse_layer_idx === true || json.scale_attn_weights === false) {
    throw new CheckpointError(
      file,
      "scale_attn_by_inverse_layer_idx=true / scale_attn_weights=false are not supported",
    );
  }
  const activation = json.activation_function ?? gpt2Defaults.activationFunction;
  if (
    typeof activation !== "string" ||
    !(supportedActivations as readonly string[]).includes(activation)
  ) {
    throw new CheckpointError(
      file,
      `activation_function ${JSON.stringify(activation)} is not one of ${
        supportedActivations.join(", ")
      }`,
    );
  }
  const epsilon = json.layer_norm_epsilon ?? gpt2Defaults.layerNormEpsilon;
  if (typeof epsilon !== "number" || !(epsilon > 0)) {
    throw new CheckpointError(
      file,
      `layer_norm_epsilon must be a positive number, got ${JSON.stringify(epsilon)}`,
    );
  }
  const dropout = json.resid_pdrop ?? gpt2Defaults.dropout;
  if (typeof dropout !== "number" || !(dropout >= 0 && dropout < 1)) {
    throw new CheckpointError(
      file,
      `resid_pdrop must be in [0, 1), got ${JSON.stringify(dropout)}`,
    );
  }
  const config: GPT2Config = {
    nLayer: integer("n_layer"),
    nHead: integer("n_head"),
    nEmbd: integer("n_embd"),
    vocabSize: integer("vocab_size"),
    nPositions: integer("n_positions", "n_ctx"),
    layerNormEpsilon: epsilon,
    activationFunction: activation,
    dropout,
  };
  if (json.n_inner !== undefined && json.n_inner !== null) config.nInner = integer("n_inner");
  if (json[trainedContextKey] !== undefined && json[trainedContextKey] !== null) {
    config.trainedContext = integer(trainedContextKey);
    if (config.trainedContext > config.nPositions) {
      throw new CheckpointError(
        file,
        `"${trainedContextKey}" ${config.trainedContext} exceeds n_positions ${config.nPositions}`,
      );
    }
  }
  if (config.nEmbd % config.nHead !== 0) {
    throw new CheckpointError(
      file,
      `n_embd ${config.nEmbd} is not divisible by n_head ${config.nHead}`,
    );
  }
  return config;
}

/** The `config.json` object for a GPT2Config, with Hugging Face GPT2Config field names. */
export function configToJson(
  config: GPT2Config,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    architectures: ["GPT2LMHeadModel"],
    model_type: "gpt2",
    activation_function: config.activationFunction,
    attn_pdrop: config.dropout,
    embd_pdrop: config.dropout,
    resid_pdrop: config.dropout,
    layer_norm_epsilon: config.layerNormEpsilon,
    n_ctx: config.nPositions,
    n_embd: config.nEmbd,
    n_head: config.nHead,
    n_inner: config.nInner ?? null,
    n_layer: config.nLayer,
    n_positions: config.nPositions,
    vocab_size: config.vocabSize,
    initializer_range: 0.02,
    scale_attn_weights: true,
    scale_attn_by_inverse_layer_idx: false,
    reorder_and_upcast_attn: false,
    tie_word_embeddings: true,
    use_cache: true,
    torch_dtype: "float32",
    ...(config.trainedContext !== undefined ? { [trainedContextKey]: config.trainedContext } : {}),
    ...extra,
  };
}

/**
 * Maps safetensors keys to model parameter names: strips `transformer.`, drops ignored buffers,
 * and checks that every expected weight is present with the right shape and nothing else is.
 * Throws CheckpointError naming the first missing, unexpected or mis-shaped key.
 */
export function matchWeights(
  tensors: Map<string, { shape: number[]; data: Float32Array }>,
  config: GPT2Config,
  file: string,
): Map<string, { shape: number[]; data: Float32Array }> {
  const expected = parameterShapes(config);
  const matched = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [key, tensor] of tensors) {
    const name = key.startsWith(transformerPrefix) ? key.slice(transformerPrefix.length) : key;
    if (ignoredKey.test(name)) continue;
    const shape = expected.get(name);
    if (!shape) {
      throw new CheckpointError(
        file,
        `unexpected key "${key}" for a GPT-2 with n_layer ${config.nLayer}`,
      );
    }
    if (matched.has(name)) {
      throw new CheckpointError(
        file,
        `key "${name}" appears with and without the transformer. prefix`,
      );
    }
    if (shape.length !== tensor.shape.length || shape.some((d, i) => d !== tensor.shape[i])) {
      throw new CheckpointError(
        file,
        `"${key}" has shape [${tensor.shape}] but config.json implies [${shape}]`,
      );
    }
    matched.set(name, tensor);
  }
  const missing = [...expected.keys()].filter((name) => !matched.has(name));
  if (missing.length > 0) {
    throw new CheckpointError(
      file,
      `missing ${missing.length} weight(s): ${missing.slice(0, 5).join(", ")}${
        missing.length > 5 ? ", …" : ""
      }`,
    );
  }
  return matched;
}

/**
 * Loads a GPT-2 from a Hugging Face directory (`config.json` + `model.safetensors`). The tied
 * `lm_head.weight`, when present, is checked against `wte.weight`'s shape and otherwise ignored.
 * Throws CheckpointError naming the file and the problem for a missing or malformed file.
 */
export async function loadCheckpoint(dir: string): Promise<GPT2> {
  const configPath = join(dir, configFileName);
  const weightsPath = join(dir, weightsFileName);
  const configText = await readText(configPath);
  let json: unknown;
  try {
    json = JSON.parse(configText);
  } catch (e) {
    throw new CheckpointError(configPath, `not JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new CheckpointError(configPath, "not a JSON object");
  }
  const config = configFromJson(json as Record<string, unknown>, configPath);
  if (!(await exists(weightsPath)) && (await exists(join(dir, "pytorch_model.bin")))) {
    throw new CheckpointError(
      weightsPath,
      "missing; only pytorch_model.bin is there (save it with safe_serialization=True to get model.safetensors)",
    );
  }
  const bytes = await readBytes(weightsPath);
  const tensors = readSafetensors(bytes, weightsPath, {
    skip: (key) => /(^|\.)h\.\d+\.attn\.(bias|masked_bias)$/.test(key),
  });
  const weights = matchWeights(tensors, config, weightsPath);
  const params = new Map<string, tf.Variable>();
  for (const [name, { shape, data }] of weights) {
    const value = tf.tensor(data, shape, "float32");
    params.set(name, tf.variable(value, true, `gpt2/${name}/${crypto.randomUUID()}`));
    value.dispose();
  }
  return new GPT2(config, params);
}

/**
 * Writes `config.json` and `model.safetensors` (keys without prefix, Conv1D `[in, out]` layout,
 * metadata `{"format": "pt"}`) so that `GPT2LMHeadModel.from_pretrained(dir)` loads it. Creates
 * `dir` when missing. `extraConfig` adds fields such as `eos_token_id` to config.json.
 */
export async function saveCheckpoint(
  model: GPT2,
  dir: string,
  extraConfig: Record<string, unknown> = {},
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, p] of model.params) {
    tensors.set(name, { shape: p.shape, data: (await p.data()) as Float32Array });
  }
  await Deno.writeFile(join(dir, weightsFileName), writeSafetensors(tensors, { format: "pt" }));
  await Deno.writeTextFile(
    join(dir, configFileName),
    JSON.stringify(configToJson(model.config, extraConfig), null, 2) + "\n",
  );
}

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new CheckpointError(path, `cannot read (${(e as Error).message})`);
  }
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new CheckpointError(path, `cannot read (${(e as Error).message})`);
  }
}
