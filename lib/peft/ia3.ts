/**
 * IA³ (Liu et al. 2022) as in Hugging Face PEFT: learned rescaling vectors, initialised to ones, on
 * the output of `attn.c_attn` (queries, keys and values, as PEFT scales GPT-2's fused projection)
 * and on the MLP's hidden activations (the input of `mlp.c_proj`). The paper's variant, which
 * scales only keys and values, is `attention_scales: kv`; its query scales stay 1 and are saved as
 * ones, so both variants save PEFT's `[3C, 1]` `ia3_l` and load in PEFT unchanged.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { LinearFn } from "../model/gpt2.ts";
import { CheckpointError } from "../model/safetensors.ts";
import {
  expectTensor,
  methodRecordFile,
  parseSavedConfig,
  readAdapterConfig,
  readMethodRecord,
  readWeightsFile,
  variableFrom,
  writeAdapterDir,
} from "./adapter_io.ts";
import { readChoice, readTargetModules, rejectUnknownKeys } from "../config/readers.ts";
import { ConfigError } from "../config/errors.ts";
import {
  type LinearShape,
  linearShapesFor,
  linearShapesOf,
  matchesTargets,
  peftModulePath,
  selectTargets,
  type TargetModules,
} from "./modules.ts";
import type { AppliedMethod, ModelShape, TunableModel, TuningMethod } from "./types.ts";

/** Which thirds of GPT-2's fused `c_attn` output IA³ rescales: PEFT's q, k, v or the paper's k, v. */
export type Ia3AttentionScales = "qkv" | "kv";

/**
 * What a user sets (YAML keys: `target_modules`, `feedforward_modules`, `attention_scales`),
 * PEFT's GPT-2 defaults.
 */
export interface Ia3Config {
  /** Modules whose output (or, for feed-forward modules, input) is rescaled; PEFT's matching. */
  targetModules: TargetModules;
  /** Targets rescaled on their input rather than their output. */
  feedforwardModules: TargetModules;
  /** `qkv` (PEFT, default) or `kv` (the paper: query scales fixed at 1). */
  attentionScales: Ia3AttentionScales;
}

/** PEFT's defaults for GPT-2. */
export const defaultIa3Config: Ia3Config = {
  targetModules: ["c_attn", "mlp.c_proj"],
  feedforwardModules: ["mlp.c_proj"],
  attentionScales: "qkv",
};

function parseIa3Config(raw: Record<string, unknown>, where: string): Ia3Config {
  rejectUnknownKeys(raw, ["target_modules", "feedforward_modules", "attention_scales"], where);
  const d = defaultIa3Config;
  const config: Ia3Config = {
    targetModules: readTargetModules(raw, "target_modules", where, d.targetModules as string[]),
    feedforwardModules: readTargetModules(
      raw,
      "feedforward_modules",
      where,
      d.feedforwardModules as string[],
    ),
    attentionScales: readChoice(raw, "attention_scales", where, d.attentionScales, ["qkv", "kv"]),
  };
  // PEFT's own check, made when both are lists.
  const { targetModules: targets, feedforwardModules: feedforward } = config;
  if (Array.isArray(targets) && Array.isArray(feedforward)) {
    for (const ff of feedforward) {
      if (!targets.includes(ff)) {
        throw new ConfigError(
          `${where ? where + "." : ""}feedforward_modules`,
          `"${ff}" is not in target_modules`,
        );
      }
    }
  }
  return config;
}

/** How one targeted layer is rescaled. */
interface Ia3Plan {
  feedforward: boolean;
  /** Output columns that stay at scale 1 (the query third of c_attn in the `kv` variant). */
  fixedColumns: number;
  /** Length of the learned vector. */
  learned: number;
  shape: LinearShape;
}

function plan(layers: Map<string, LinearShape>, config: Ia3Config): Map<string, Ia3Plan> {
  const targets = selectTargets(layers, config.targetModules);
  const plans = new Map<string, Ia3Plan>();
  for (const [name, shape] of targets) {
    const feedforward = matchesTargets(name, config.feedforwardModules);
    const queryThird = !feedforward && name.endsWith("attn.c_attn");
    const fixedColumns = queryThird && config.attentionScales === "kv" ? shape.outFeatures / 3 : 0;
    const learned = feedforward ? shape.inFeatures : shape.outFeatures - fixedColumns;
    plans.set(name, { feedforward, fixedColumns, learned, shape });
  }
  return plans;
}

/**
 * Learned scales: the output width of each non-feed-forward target (3C per c_attn, 2C with
 * `attention_scales: kv`) plus the input width of each feed-forward target.
 */
function ia3TrainableParams(shape: ModelShape, config: Ia3Config): number {
  let total = 0;
  for (const p of plan(linearShapesFor(shape), config).values()) total += p.learned;
  return total;
}

interface Ia3Layer {
  module: string;
  plan: Ia3Plan;
  scale: tf.Variable; // (learned)
  fixed: tf.Tensor1D | null; // (fixedColumns) constant scale of the query third
}

/** The full scale vector of a layer: fixed part then learned part. */
function fullScale(layer: Ia3Layer): tf.Tensor1D {
  return layer.fixed
    ? tf.concat([layer.fixed, layer.scale as tf.Tensor1D])
    : layer.scale as tf.Tensor1D;
}

/** The layer's weight `[in, out]` and bias `[out]` with its IA³ scales folded in (merging only). */
function scaledParameters(
  layer: Ia3Layer,
  weight: tf.Tensor,
  bias: tf.Tensor,
): [tf.Tensor2D, tf.Tensor1D] {
  if (layer.plan.feedforward) {
    return [tf.mul(weight, tf.reshape(layer.scale, [-1, 1])) as tf.Tensor2D, bias as tf.Tensor1D]; // rows
  }
  const scale = fullScale(layer); // (out)
  return [
    tf.mul(weight, tf.reshape(scale, [1, -1])) as tf.Tensor2D, // columns
    tf.mul(bias, scale) as tf.Tensor1D,
  ];
}

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/**
 * IA³'s rescaled frozen layer `x·W + b`, rows `[N, in]` → `[N, out]`, as one custom-gradient op
 * that keeps only what the gradients need. A feed-forward target computes base(x·l) and keeps x
 * (with g = dy·Wᵀ: dx = g·l, dl = Σ_rows g·x); any other computes base(x)·l, the bias scaled too as
 * in PEFT, and keeps base(x) (dx = (dy·l)·Wᵀ, dl = Σ_rows dy·base(x)). tfjs's own ops would also
 * keep x·l, x and the product before the bias; no [in, out] tensor is formed either way.
 */
function scaledLinear(
  x: tf.Tensor2D,
  scale: tf.Tensor1D,
  weight: tf.Tensor,
  base: LinearFn,
  feedforward: boolean,
): tf.Tensor2D {
  const op = tf.customGrad(
    ((input: tf.Tensor2D, l: tf.Tensor1D, save: (t: tf.Tensor[]) => void) => {
      if (feedforward) {
        save([input, l]);
        return {
          value: base(tf.mul(input, l)), // (N, out)
          gradFunc: (dy: tf.Tensor2D, [kept, savedScale]: tf.Tensor[]) => {
            const back = tf.matMul(dy, weight, false, true); // (N, in)
            return [tf.mul(back, savedScale), tf.sum(tf.mul(back, kept), 0)];
          },
        };
      }
      const unscaled = base(input); // (N, out)
      save([unscaled, l]);
      return {
        value: tf.mul(unscaled, l), // (N, out)
        gradFunc: (dy: tf.Tensor2D, [kept, savedScale]: tf.Tensor[]) => [
          tf.matMul(tf.mul(dy, savedScale), weight, false, true), // (N, in)
          tf.sum(tf.mul(dy, kept), 0), // (out)
        ],
      };
    }) as unknown as CustomGradFn,
  ) as (x: tf.Tensor, l: tf.Tensor) => tf.Tensor2D;
  return op(x, scale);
}

function applyIa3(model: TunableModel, config: Ia3Config, _seed: number): AppliedMethod {
  const plans = plan(linearShapesOf(model), config);
  for (const p of model.params.values()) p.trainable = false;
  const layers: Ia3Layer[] = [];
  for (const [module, p] of plans) {
    layers.push({
      module,
      plan: p,
      scale: variableFrom(tf.ones([p.learned])),
      fixed: p.fixedColumns > 0 ? tf.ones([p.fixedColumns]) : null,
    });
  }
  for (const layer of layers) {
    // PEFT's form: the frozen base as it is, its input (feed-forward) or output rescaled.
    const weight = model.params.get(`${layer.module}.weight`)!; // (in, out)
    model.linearWrappers.set(
      layer.module,
      (x, base) => scaledLinear(x, fullScale(layer), weight, base, layer.plan.feedforward),
    );
  }
  let merged = false;
  const trainable = new Map(layers.map((l) => [`${l.module}.ia3_l`, l.scale]));
  let added = 0;
  for (const l of layers) added += l.scale.size;
  return {
    method: "ia3",
    trainable,
    addedParams: added,
    merge() {
      if (merged) return;
      for (const layer of layers) {
        const weight = model.params.get(`${layer.module}.weight`)!; // (in, out)
        const bias = model.params.get(`${layer.module}.bias`)!; // (out)
        tf.tidy(() => {
          const [scaledWeight, scaledBias] = scaledParameters(layer, weight, bias);
          weight.assign(scaledWeight);
          // Feed-forward scales leave the bias as it is (assigning a variable to itself breaks it).
          if (scaledBias !== bias) bias.assign(scaledBias);
        });
        model.linearWrappers.delete(layer.module);
      }
      merged = true;
    },
    dispose() {
      for (const layer of layers) {
        if (!merged) model.linearWrappers.delete(layer.module);
        layer.scale.dispose();
        layer.fixed?.dispose();
      }
    },
    async save(dir, info = {}) {
      const tensors = new Map();
      for (const layer of layers) {
        const { feedforward, shape } = layer.plan;
        const values = tf.tidy(() => fullScale(layer));
        tensors.set(`${peftModulePath(layer.module)}.ia3_l`, {
          // PEFT: feed-forward ia3_l is (1, in); otherwise (out, 1).
          shape: feedforward ? [1, shape.inFeatures] : [shape.outFeatures, 1],
          data: new Float32Array(await values.data()),
        });
        values.dispose();
      }
      await writeAdapterDir(dir, { method: "ia3", config }, tensors, "IA3", info.baseModel, {
        target_modules: config.targetModules,
        feedforward_modules: config.feedforwardModules,
        fan_in_fan_out: true,
        init_ia3_weights: true,
        modules_to_save: null,
      });
    },
  };
}

async function loadIa3(model: TunableModel, dir: string): Promise<AppliedMethod> {
  const { configPath, saved, weightsPath } = await readAdapterConfig(dir, "IA3");
  const extra = saved.modules_to_save;
  if (extra != null && !(Array.isArray(extra) && extra.length === 0)) {
    throw new CheckpointError(
      configPath,
      `modules_to_save is ${JSON.stringify(extra)}: fully trained extra modules are not loaded`,
    );
  }
  const config = parseSavedConfig(configPath, () =>
    parseIa3Config({
      target_modules: saved.target_modules,
      feedforward_modules: saved.feedforward_modules,
    }, ""));
  // The variant: peftlab's record says; an adapter PEFT saved scales q, k and v.
  const recorded = (await readMethodRecord(dir))?.config as Partial<Ia3Config> | undefined;
  config.attentionScales = recorded?.attentionScales === "kv" ? "kv" : "qkv";
  const tensors = await readWeightsFile(weightsPath);
  const plans = plan(linearShapesOf(model), config);
  const applied = applyIa3(model, config, 0);
  for (const [name, variable] of applied.trainable) {
    const module = name.slice(0, -".ia3_l".length);
    const p = plans.get(module)!;
    const shape = p.feedforward ? [1, p.shape.inFeatures] : [p.shape.outFeatures, 1];
    const data = expectTensor(tensors, `${peftModulePath(module)}.ia3_l`, shape, weightsPath);
    if (data.subarray(0, p.fixedColumns).some((v) => v !== 1)) {
      throw new CheckpointError(
        weightsPath,
        `${name} scales queries, but ${methodRecordFile} says attention_scales: kv`,
      );
    }
    const learned = tf.tensor1d(data.subarray(p.fixedColumns));
    variable.assign(learned);
    learned.dispose();
  }
  return applied;
}

/** IA³ behind the tuning-method interface (registry name `ia3`). */
export const ia3: TuningMethod<Ia3Config> = {
  name: "ia3",
  peftType: "IA3",
  parseConfig: parseIa3Config,
  apply: applyIa3,
  load: loadIa3,
  countTrainable: ia3TrainableParams,
};
