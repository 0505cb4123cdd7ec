/**
 * Full fine-tuning (registry name `full`) of the chosen layers: their base weights train, every
 * other weight stays frozen. Layers are chosen by name patterns (`h.10`, `h.*.attn`, `ln_f`; `*` matches
 * any characters; a pattern also matches every weight under it) or `all`; by default the last
 * `last_blocks` blocks plus the final layer norm.
 */
import type * as tf from "@tensorflow/tfjs-core";
import {
  assignData,
  expectTensor,
  methodRecordFile,
  readJsonFile,
  readWeightsFile,
  tensorRecord,
  writeMethodDir,
} from "./adapter_io.ts";
import { readNumber, rejectUnknownKeys } from "../config/readers.ts";
import { ConfigError } from "../config/errors.ts";
import { parameterShapes } from "../model/gpt2.ts";
import { CheckpointError, type TensorToWrite } from "../model/safetensors.ts";
import type { AppliedMethod, ModelShape, TunableModel, TuningMethod } from "./types.ts";

/** What a user sets (YAML keys: `layers` — `all` or a list of patterns — and `last_blocks`). */
export interface FullConfig {
  /** `all`, explicit name patterns, or `null` for the last `lastBlocks` blocks + `ln_f`. */
  layers: "all" | string[] | null;
  /** Blocks counted from the top that train when `layers` is not given. */
  lastBlocks: number;
}

/** Default: the last two blocks and the final layer norm. */
export const defaultFullConfig: FullConfig = { layers: null, lastBlocks: 2 };

/** File holding the fine-tuned weights (model-local Hugging Face names, Conv1D layout). */
export const trainedWeightsFile = "trained_weights.safetensors";

function parseFullConfig(raw: Record<string, unknown>, where: string): FullConfig {
  rejectUnknownKeys(raw, ["layers", "last_blocks"], where);
  const lastBlocks = readNumber(raw, "last_blocks", where, defaultFullConfig.lastBlocks, {
    min: 1,
    integer: true,
  });
  const value = raw.layers;
  if (value === undefined || value === null) return { layers: null, lastBlocks };
  if (value === "all") return { layers: "all", lastBlocks };
  const list = typeof value === "string" ? [value] : value;
  if (
    !Array.isArray(list) || list.length === 0 ||
    !list.every((item) => typeof item === "string" && item.length > 0)
  ) {
    throw new ConfigError(
      `${where ? where + "." : ""}layers`,
      `expected "all" or a list of name patterns like "h.11" or "ln_f", got ${
        JSON.stringify(value)
      }`,
    );
  }
  return { layers: [...list], lastBlocks };
}

function patternRegex(pattern: string): RegExp {
  const body = pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${body}(\\..*)?$`);
}

/** The concrete patterns a config stands for on a model with `nLayer` blocks. */
function trainedPatterns(config: FullConfig, nLayer: number): string[] {
  if (config.layers === "all") return ["*"];
  if (config.layers) return config.layers;
  if (config.lastBlocks > nLayer) {
    throw new ConfigError(
      "last_blocks",
      `${config.lastBlocks} exceeds the model's ${nLayer} blocks`,
    );
  }
  const blocks = Array.from(
    { length: config.lastBlocks },
    (_, i) => `h.${nLayer - config.lastBlocks + i}`,
  );
  return [...blocks, "ln_f"];
}

/** Names (in model order) of the weights that train under the config; throws ConfigError if a pattern matches none. */
function trainedWeightNames(names: string[], config: FullConfig, nLayer: number): string[] {
  const patterns = trainedPatterns(config, nLayer);
  const regexes = patterns.map(patternRegex);
  regexes.forEach((regex, i) => {
    if (!names.some((name) => regex.test(name))) {
      throw new ConfigError("layers", `pattern "${patterns[i]}" matches no weight`);
    }
  });
  return names.filter((name) => regexes.some((regex) => regex.test(name)));
}

/** Parameters that train under this config on a model of this shape. */
function fullTrainableParams(shape: ModelShape, config: FullConfig): number {
  const shapes = parameterShapes(shape);
  let total = 0;
  for (const name of trainedWeightNames([...shapes.keys()], config, shape.nLayer)) {
    total += shapes.get(name)!.reduce((a, b) => a * b, 1);
  }
  return total;
}

function wrapFull(model: TunableModel, config: FullConfig, names: string[]): AppliedMethod {
  const chosen = new Set(names);
  const trainable = new Map<string, tf.Variable>();
  for (const [name, p] of model.params) {
    p.trainable = chosen.has(name);
    if (p.trainable) trainable.set(name, p);
  }
  return {
    method: "full",
    trainable,
    addedParams: 0,
    dispose() {
      for (const p of model.params.values()) p.trainable = true;
    },
    async save(dir, info = {}) {
      const tensors = new Map<string, TensorToWrite>();
      for (const [name, p] of trainable) tensors.set(name, await tensorRecord(p));
      await writeMethodDir(
        dir,
        { method: "full", config: { ...config, baseModel: info.baseModel ?? null } },
        trainedWeightsFile,
        tensors,
      );
    },
  };
}

function applyFull(model: TunableModel, config: FullConfig, _seed: number): AppliedMethod {
  return wrapFull(
    model,
    config,
    trainedWeightNames([...model.params.keys()], config, model.config.nLayer),
  );
}

async function loadFull(model: TunableModel, dir: string): Promise<AppliedMethod> {
  const record = await readJsonFile(`${dir}/${methodRecordFile}`);
  let config: FullConfig;
  try {
    const saved = (record.config ?? {}) as Record<string, unknown>;
    config = parseFullConfig({ layers: saved.layers, last_blocks: saved.lastBlocks }, "config");
  } catch (error) {
    throw new CheckpointError(`${dir}/${methodRecordFile}`, (error as Error).message);
  }
  const weightsPath = `${dir}/${trainedWeightsFile}`;
  const tensors = await readWeightsFile(weightsPath);
  for (const name of tensors.keys()) {
    const p = model.params.get(name);
    if (!p) throw new CheckpointError(weightsPath, `weight "${name}" is not in the model`);
    assignData(p, expectTensor(tensors, name, p.shape, weightsPath));
  }
  return wrapFull(model, config, [...tensors.keys()]);
}

/** Full fine-tuning behind the tuning-method interface (registry name `full`). */
export const full: TuningMethod<FullConfig> = {
  name: "full",
  parseConfig: parseFullConfig,
  apply: applyFull,
  load: loadFull,
  countTrainable: fullTrainableParams,
};
