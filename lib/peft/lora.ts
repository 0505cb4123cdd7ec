/**
 * LoRA (Hu et al. 2021) as in Hugging Face PEFT: beside each targeted frozen linear layer
 * `y = x·W + b` (W `[in, out]`, GPT-2 Conv1D layout) add `scaling · dropout(x)·Aᵀ·Bᵀ` with
 * A `[r, in]` (Kaiming-uniform, bound 1/sqrt(in)), B `[out, r]` (zeros, so step 0 is the base
 * model) and scaling = alpha / r (alpha / √r with rsLoRA; per-module ranks and alphas through
 * `rank_pattern` / `alpha_pattern`). Only A and B train.
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
import {
  readBoolean,
  readNumber,
  readPatternMap,
  readTargetModules,
  rejectUnknownKeys,
} from "../config/readers.ts";
import { addKeepingNothing, dropoutKeepingMask } from "../model/gpt2.ts";
import {
  type LinearShape,
  linearShapesFor,
  linearShapesOf,
  patternKeyFor,
  peftModulePath,
  selectTargets,
  type TargetModules,
} from "./modules.ts";
import { CheckpointError } from "../model/safetensors.ts";
import type { AppliedMethod, ModelShape, TunableModel, TuningMethod } from "./types.ts";

/**
 * What a user sets for LoRA (YAML keys: `r`, `alpha`, `dropout`, `target_modules`, `use_rslora`,
 * `rank_pattern`, `alpha_pattern`), with PEFT's meaning.
 */
export interface LoraConfig {
  /** Rank of the update. */
  r: number;
  /** Scale numerator: the update is multiplied by alpha / r (alpha / √r with `useRslora`). */
  alpha: number;
  /** Dropout probability on the adapter input during training. */
  dropout: number;
  /**
   * Linear modules to adapt: a list matched by name suffix as in PEFT (`c_attn`, `c_proj`,
   * `mlp.c_proj`…) or one regular expression over the whole name (`transformer\.h\.1\..*`).
   */
  targetModules: TargetModules;
  /** Rank-stabilised scaling alpha / √r (Kalajdzievski 2023) instead of alpha / r. */
  useRslora: boolean;
  /** Per-module ranks overriding `r`, keyed by a name pattern (PEFT's `rank_pattern`). */
  rankPattern: Record<string, number>;
  /** Per-module alphas overriding `alpha`, keyed by a name pattern (PEFT's `alpha_pattern`). */
  alphaPattern: Record<string, number>;
}

/** PEFT's defaults, with GPT-2's attention projection as the target. */
export const defaultLoraConfig: LoraConfig = {
  r: 8,
  alpha: 8,
  dropout: 0,
  targetModules: ["c_attn"],
  useRslora: false,
  rankPattern: {},
  alphaPattern: {},
};

function parseLoraConfig(raw: Record<string, unknown>, where: string): LoraConfig {
  rejectUnknownKeys(raw, [
    "r",
    "alpha",
    "dropout",
    "target_modules",
    "use_rslora",
    "rank_pattern",
    "alpha_pattern",
  ], where);
  const d = defaultLoraConfig;
  return {
    r: readNumber(raw, "r", where, d.r, { min: 1, integer: true }),
    alpha: readNumber(raw, "alpha", where, d.alpha, { min: Number.MIN_VALUE }),
    dropout: readNumber(raw, "dropout", where, d.dropout, { min: 0, max: 0.99 }),
    targetModules: readTargetModules(raw, "target_modules", where, d.targetModules as string[]),
    useRslora: readBoolean(raw, "use_rslora", where, d.useRslora),
    rankPattern: readPatternMap(raw, "rank_pattern", where, true),
    alphaPattern: readPatternMap(raw, "alpha_pattern", where, false),
  };
}

/** Rank and scaling of one adapted module, as PEFT derives them from the config. */
interface ModulePlan {
  shape: LinearShape;
  r: number;
  scaling: number;
}

/** The adapted layers of `layers` with their rank and scaling; throws ConfigError when none match. */
function planLora(layers: Map<string, LinearShape>, config: LoraConfig): Map<string, ModulePlan> {
  const targets = selectTargets(layers, config.targetModules);
  const plans = new Map<string, ModulePlan>();
  for (const [module, shape] of targets) {
    const rankKey = patternKeyFor(config.rankPattern, module);
    const alphaKey = patternKeyFor(config.alphaPattern, module);
    const r = rankKey === undefined ? config.r : config.rankPattern[rankKey];
    const alpha = alphaKey === undefined ? config.alpha : config.alphaPattern[alphaKey];
    plans.set(module, { shape, r, scaling: config.useRslora ? alpha / Math.sqrt(r) : alpha / r });
  }
  return plans;
}

/** Σ r·(in + out) over the targeted layers of a model with this shape. */
function loraTrainableParams(shape: ModelShape, config: LoraConfig): number {
  let total = 0;
  for (const { shape: layer, r } of planLora(linearShapesFor(shape), config).values()) {
    total += r * (layer.inFeatures + layer.outFeatures);
  }
  return total;
}

interface LoraPair {
  module: string;
  scaling: number;
  a: tf.Variable; // (r, in)
  b: tf.Variable; // (out, r)
}

function applyLora(model: TunableModel, config: LoraConfig, seed: number): AppliedMethod {
  const plans = planLora(linearShapesOf(model), config);
  for (const p of model.params.values()) p.trainable = false;
  const mode = { training: false, seed: 0 };
  const pairs: LoraPair[] = [];
  let index = 0;
  for (const [module, { shape, r, scaling }] of plans) {
    // PEFT: kaiming_uniform_(A, a=sqrt(5)) → bound = sqrt(6 / ((1 + 5)·in)) = 1/sqrt(in).
    const bound = 1 / Math.sqrt(shape.inFeatures);
    const a = variableFrom(
      tf.randomUniform(
        [r, shape.inFeatures],
        -bound,
        bound,
        "float32",
        seed * 10_007 + index + 1, // never 0: tfjs reads 0 as unseeded
      ),
    );
    const b = variableFrom(tf.zeros([shape.outFeatures, r]));
    pairs.push({ module, scaling, a, b });
    index++;
  }
  let merged = false;
  /** scale·Aᵀ·Bᵀ `[in, out]`, the update to the Conv1D weight (formed only to merge). */
  const update = ({ a, b, scaling }: LoraPair) =>
    tf.matMul(tf.mul(a, scaling), b, true, true) as tf.Tensor2D; // (in, r)·(r, out)
  pairs.forEach(({ module, scaling, a, b }, layerIndex) => {
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
      for (const pair of pairs) {
        const weight = model.params.get(`${pair.module}.weight`)!; // (in, out)
        const folded = tf.tidy(() => tf.add(weight, update(pair))); // the wrapper's sum
        weight.assign(folded as tf.Tensor);
        folded.dispose();
        model.linearWrappers.delete(pair.module);
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
        tensors.set(`${peftModulePath(module)}.lora_A.weight`, await tensorRecord(a));
        tensors.set(`${peftModulePath(module)}.lora_B.weight`, await tensorRecord(b));
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
        layer_replication: null,
        loftq_config: {},
        megatron_config: null,
        megatron_core: "megatron.core",
        rank_pattern: config.rankPattern,
        alpha_pattern: config.alphaPattern,
        use_rslora: config.useRslora,
        use_dora: false,
      });
    },
  };
}

/**
 * Fields of a saved LoRA config that change what the adapter computes beyond r, alpha, targets,
 * patterns and rsLoRA, with the value that means "off" in PEFT; any other value is refused rather
 * than loaded with the wrong meaning.
 */
const unsupportedLoraFields: [string, (value: unknown) => boolean, string][] = [
  [
    "bias",
    (v) => v === undefined || v === "none",
    "trains base biases, which peftlab does not load",
  ],
  ["lora_bias", (v) => !v, "a bias on lora_B is not implemented"],
  ["use_dora", (v) => !v, "DoRA is not implemented"],
  ["layers_to_transform", (v) => v == null, "per-layer selection is not implemented"],
  [
    "layers_pattern",
    (v) => v == null || (Array.isArray(v) && v.length === 0),
    "per-layer selection is not implemented",
  ],
  [
    "modules_to_save",
    (v) => v == null || (Array.isArray(v) && v.length === 0),
    "fully trained extra modules are not loaded",
  ],
  ["layer_replication", (v) => v == null, "layer replication is not implemented"],
];

async function loadLora(model: TunableModel, dir: string): Promise<AppliedMethod> {
  const { configPath, saved, weightsPath } = await readAdapterConfig(dir, "LORA");
  for (const [field, isOff, why] of unsupportedLoraFields) {
    if (!isOff(saved[field])) {
      throw new CheckpointError(
        configPath,
        `${field} is ${JSON.stringify(saved[field])}: ${why}; only PEFT's default loads here`,
      );
    }
  }
  const config = parseSavedConfig(configPath, () =>
    parseLoraConfig({
      r: saved.r,
      alpha: saved.lora_alpha,
      dropout: saved.lora_dropout,
      target_modules: saved.target_modules,
      use_rslora: saved.use_rslora ?? false,
      rank_pattern: saved.rank_pattern ?? {},
      alpha_pattern: saved.alpha_pattern ?? {},
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
  peftType: "LORA",
  parseConfig: parseLoraConfig,
  apply: applyLora,
  load: loadLora,
  countTrainable: loraTrainableParams,
};
