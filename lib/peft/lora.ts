/**
 * LoRA (Hu et al. 2021) as in Hugging Face PEFT: beside each targeted frozen linear layer
 * `y = x·W + b` (W `[in, out]`, GPT-2 Conv1D layout) add `scaling · dropout(x)·Aᵀ·Bᵀ` with
 * A `[r, in]` (Kaiming-uniform, bound 1/sqrt(in)), B `[out, r]` (zeros, so step 0 is the base
 * model) and scaling = alpha / r. Only A and B train.
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  assignData,
  expectTensor,
  parseSavedConfig,
  readAdapterConfig,
  readWeightsFile,
  tensorRecord,
  variableFrom,
  writeAdapterDir,
} from "./adapter_io.ts";
import { readInt, readNumber, readStringList, rejectUnknownKeys } from "./config.ts";
import { ConfigError } from "./errors.ts";
import { addKeepingNothing, dropoutKeepingMask } from "../model/gpt2.ts";
import {
  type LinearShape,
  linearShapesFor,
  linearShapesOf,
  peftModulePath,
  selectTargets,
} from "./modules.ts";
import type { AppliedMethod, ModelShape, TunableModel, TuningMethod } from "./types.ts";

/** What a user sets for LoRA (YAML keys: `r`, `alpha`, `dropout`, `target_modules`). */
export interface LoraConfig {
  /** Rank of the update. */
  r: number;
  /** Scale numerator: the update is multiplied by alpha / r. */
  alpha: number;
  /** Dropout probability on the adapter input during training. */
  dropout: number;
  /** Linear modules to adapt, matched by name suffix as in PEFT (`c_attn`, `c_proj`, `mlp.c_proj`…). */
  targetModules: string[];
}

/** PEFT's defaults, with GPT-2's attention projection as the target. */
export const defaultLoraConfig: LoraConfig = {
  r: 8,
  alpha: 8,
  dropout: 0,
  targetModules: ["c_attn"],
};

function parseLoraConfig(raw: Record<string, unknown>, where: string): LoraConfig {
  rejectUnknownKeys(raw, ["r", "alpha", "dropout", "target_modules"], where);
  return {
    r: readInt(raw, "r", where, defaultLoraConfig.r, 1),
    alpha: readNumber(raw, "alpha", where, defaultLoraConfig.alpha, Number.MIN_VALUE),
    dropout: readNumber(raw, "dropout", where, defaultLoraConfig.dropout, 0, 0.99),
    targetModules: readStringList(raw, "target_modules", where, defaultLoraConfig.targetModules),
  };
}

function targetsOrThrow<T>(layers: Map<string, T>, config: LoraConfig): Map<string, T> {
  const targets = selectTargets(layers, config.targetModules);
  if (targets.size === 0) {
    throw new ConfigError(
      "target_modules",
      `${
        JSON.stringify(config.targetModules)
      } matches no linear layer; use c_attn, c_proj, c_fc, ` +
        "attn.c_proj or mlp.c_proj",
    );
  }
  return targets;
}

/** Σ r·(in + out) over the targeted layers of a model with this shape. */
export function loraTrainableParams(shape: ModelShape, config: LoraConfig): number {
  let total = 0;
  for (const layer of targetsOrThrow(linearShapesFor(shape), config).values()) {
    total += config.r * (layer.inFeatures + layer.outFeatures);
  }
  return total;
}

interface LoraPair {
  module: string;
  shape: LinearShape;
  a: tf.Variable; // (r, in)
  b: tf.Variable; // (out, r)
}

function applyLora(model: TunableModel, config: LoraConfig, seed: number): AppliedMethod {
  const targets = targetsOrThrow(linearShapesOf(model), config);
  for (const p of model.params.values()) p.trainable = false;
  const scaling = config.alpha / config.r;
  const mode = { training: false, seed: 0 };
  const pairs: LoraPair[] = [];
  let index = 0;
  for (const [module, shape] of targets) {
    // PEFT: kaiming_uniform_(A, a=sqrt(5)) → bound = sqrt(6 / ((1 + 5)·in)) = 1/sqrt(in).
    const bound = 1 / Math.sqrt(shape.inFeatures);
    const a = variableFrom(
      tf.randomUniform(
        [config.r, shape.inFeatures],
        -bound,
        bound,
        "float32",
        seed * 10_007 + index + 1, // never 0: tfjs reads 0 as unseeded
      ),
    );
    const b = variableFrom(tf.zeros([shape.outFeatures, config.r]));
    pairs.push({ module, shape, a, b });
    index++;
  }
  let merged = false;
  /** scale·Aᵀ·Bᵀ `[in, out]`, the update to the Conv1D weight (formed only to merge). */
  const update = (a: tf.Variable, b: tf.Variable) =>
    tf.matMul(tf.mul(a, scaling), b, true, true) as tf.Tensor2D; // (in, r)·(r, out)
  pairs.forEach(({ module, a, b }, layerIndex) => {
    // PEFT's form at every dropout: the frozen base as it is, plus a low-rank path whose gradients
    // are (N, r)- and (r, in)/(out, r)-sized; no [in, out] gradient is ever formed.
    model.linearWrappers.set(module, (x, base) => {
      const input = mode.training && config.dropout > 0
        ? dropoutKeepingMask(x, config.dropout, mode.seed * 1_009 + layerIndex + 1) // never 0
        : x; // (N, in)
      const down = tf.mul(tf.matMul(input, a, false, true), scaling); // (N, r)
      return addKeepingNothing(base(x), tf.matMul(down, b, false, true)); // (N, out)
    });
  });

  const trainable = new Map<string, tf.Variable>();
  for (const { module, a, b } of pairs) {
    trainable.set(`${module}.lora_A`, a);
    trainable.set(`${module}.lora_B`, b);
  }
  let added = 0;
  for (const v of trainable.values()) added += v.size;

  return {
    method: "lora",
    trainable,
    addedParams: added,
    setTraining(training, stepSeed) {
      mode.training = training;
      mode.seed = stepSeed;
    },
    merge() {
      if (merged) return;
      for (const { module, a, b } of pairs) {
        const weight = model.params.get(`${module}.weight`)!; // (in, out)
        const folded = tf.tidy(() => tf.add(weight, update(a, b))); // the wrapper's sum
        weight.assign(folded as tf.Tensor);
        folded.dispose();
        model.linearWrappers.delete(module);
      }
      merged = true;
    },
    dispose() {
      for (const { module, a, b } of pairs) {
        if (!merged) model.linearWrappers.delete(module);
        a.dispose();
        b.dispose();
      }
    },
    async save(dir, info = {}) {
      const tensors = new Map();
      for (const { module, a, b } of pairs) {
        tensors.set(`${peftModulePath(module)}.lora_A.weight`, tensorRecord(a));
        tensors.set(`${peftModulePath(module)}.lora_B.weight`, tensorRecord(b));
      }
      await writeAdapterDir(dir, { method: "lora", config }, tensors, "LORA", info.baseModel, {
        r: config.r,
        lora_alpha: config.alpha,
        lora_dropout: config.dropout,
        target_modules: config.targetModules,
        fan_in_fan_out: true,
        bias: "none",
        init_lora_weights: true,
        modules_to_save: null,
        layers_to_transform: null,
        layers_pattern: null,
        rank_pattern: {},
        alpha_pattern: {},
        use_rslora: false,
        use_dora: false,
      });
    },
  };
}

async function loadLora(model: TunableModel, dir: string): Promise<AppliedMethod> {
  const { configPath, saved, weightsPath } = await readAdapterConfig(dir, "LORA");
  const config = parseSavedConfig(configPath, () =>
    parseLoraConfig({
      r: saved.r,
      alpha: saved.lora_alpha,
      dropout: saved.lora_dropout,
      target_modules: saved.target_modules,
    }, ""));
  const tensors = await readWeightsFile(weightsPath);
  const applied = applyLora(model, config, 0);
  for (const [name, variable] of applied.trainable) {
    const [module, part] = [
      name.slice(0, name.lastIndexOf(".")),
      name.slice(name.lastIndexOf(".") + 1),
    ];
    const data = expectTensor(
      tensors,
      `${peftModulePath(module)}.${part}.weight`,
      variable.shape,
      weightsPath,
    );
    assignData(variable, data);
  }
  return applied;
}

/** LoRA behind the tuning-method interface (registry name `lora`). */
export const lora: TuningMethod<LoraConfig> = {
  name: "lora",
  parseConfig: parseLoraConfig,
  apply: applyLora,
  load: loadLora,
  countTrainable: loraTrainableParams,
};
