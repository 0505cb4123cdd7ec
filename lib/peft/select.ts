/**
 * Fine-tuning of selected layers (registry name `full`): the chosen base weights train, every other
 * weight stays frozen. Layers are chosen by name patterns (`h.10`, `h.*.attn`, `ln_f`; `*` matches
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
import { readInt, rejectUnknownKeys } from "./config.ts";
import { ConfigError } from "./errors.ts";
import { CheckpointError } from "../model/safetensors.ts";
import type { AppliedMethod, ModelShape, TunableModel, TuningMethod } from "./types.ts";

/** What a user sets (YAML keys: `layers` — `all` or a list of patterns — and `last_blocks`). */
export interface SelectConfig {
  /** `all`, explicit name patterns, or `null` for the last `lastBlocks` blocks + `ln_f`. */
  layers: "all" | string[] | null;
  /** Blocks counted from the top that train when `layers` is not given. */
  lastBlocks: number;
}

/** Default: the last two blocks and the final layer norm. */
export const defaultSelectConfig: SelectConfig = { layers: null, lastBlocks: 2 };

/** File holding the fine-tuned weights (model-local Hugging Face names, Conv1D layout). */
export const trainedWeightsFile = "trained_weights.safetensors";

function parseSelectConfig(raw: Record<string, unknown>, where: string): SelectConfig {
  rejectUnknownKeys(raw, ["layers", "last_blocks"], where);
  const lastBlocks = readInt(raw, "last_blocks", where, defaultSelectConfig.lastBlocks, 1);
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
export function selectPatterns(config: SelectConfig, nLayer: number): string[] {
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

/** Names (in model order) of the weights the config selects; throws ConfigError if a pattern matches none. */
export function selectedNames(names: string[], config: SelectConfig, nLayer: number): string[] {
  const patterns = selectPatterns(config, nLayer);
  const regexes = patterns.map(patternRegex);
  regexes.forEach((regex, i) => {
    if (!names.some((name) => regex.test(name))) {
      throw new ConfigError("layers", `pattern "${patterns[i]}" matches no weight`);
    }
  });
  return names.filter((name) => regexes.some((regex) => regex.test(name)));
}

/** GPT-2 weight shapes by name for a model shape (tied LM head, MLP width 4C). */
export function gpt2WeightShapes(shape: ModelShape): Map<string, number[]> {
  const { nLayer, nEmbd: C, vocabSize: V, nPositions } = shape;
  const shapes = new Map<string, number[]>([["wte.weight", [V, C]], ["wpe.weight", [
    nPositions,
    C,
  ]]]);
  for (let i = 0; i < nLayer; i++) {
    const block: [string, number[]][] = [
      ["ln_1.weight", [C]],
      ["ln_1.bias", [C]],
      ["attn.c_attn.weight", [C, 3 * C]],
      ["attn.c_attn.bias", [3 * C]],
      ["attn.c_proj.weight", [C, C]],
      ["attn.c_proj.bias", [C]],
      ["ln_2.weight", [C]],
      ["ln_2.bias", [C]],
      ["mlp.c_fc.weight", [C, 4 * C]],
      ["mlp.c_fc.bias", [4 * C]],
      ["mlp.c_proj.weight", [4 * C, C]],
      ["mlp.c_proj.bias", [C]],
    ];
    for (const [name, dims] of block) shapes.set(`h.${i}.${name}`, dims);
  }
  shapes.set("ln_f.weight", [C]);
  shapes.set("ln_f.bias", [C]);
  return shapes;
}

/** Parameters that train under this config on a model of this shape. */
export function selectTrainableParams(shape: ModelShape, config: SelectConfig): number {
  const shapes = gpt2WeightShapes(shape);
  let total = 0;
  for (const name of selectedNames([...shapes.keys()], config, shape.nLayer)) {
    total += shapes.get(name)!.reduce((a, b) => a * b, 1);
  }
  return total;
}

function wrapSelection(model: TunableModel, config: SelectConfig, names: string[]): AppliedMethod {
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
      const tensors = new Map([...trainable].map(([name, p]) => [name, tensorRecord(p)]));
      await writeMethodDir(
        dir,
        { method: "full", config: { ...config, baseModel: info.baseModel ?? null } },
        trainedWeightsFile,
        tensors,
      );
    },
  };
}

function applySelect(model: TunableModel, config: SelectConfig, _seed: number): AppliedMethod {
  return wrapSelection(
    model,
    config,
    selectedNames([...model.params.keys()], config, model.config.nLayer),
  );
}

async function loadSelect(model: TunableModel, dir: string): Promise<AppliedMethod> {
  const record = await readJsonFile(`${dir}/${methodRecordFile}`);
  let config: SelectConfig;
  try {
    const saved = (record.config ?? {}) as Record<string, unknown>;
    config = parseSelectConfig({ layers: saved.layers, last_blocks: saved.lastBlocks }, "config");
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
  return wrapSelection(model, config, [...tensors.keys()]);
}

/** Fine-tuning of selected layers behind the tuning-method interface (registry name `full`). */
export const select: TuningMethod<SelectConfig> = {
  name: "full",
  parseConfig: parseSelectConfig,
  apply: applySelect,
  load: loadSelect,
  countTrainable: selectTrainableParams,
};
