/**
 * GPT-2 in TensorFlow.js, written to be read top to bottom like nanoGPT's `model.py`.
 *
 * Shapes in comments use: B batch, T new tokens, P soft-prompt (prefix) length, S = P + T positions
 * computed now, Tp positions already in the KV cache, Tk = Tp + S keys, C = nEmbd, nh = nHead,
 * hs = C / nh, V = vocabSize.
 *
 * Parameters live in `GPT2.params` under the Hugging Face GPT-2 names without the `transformer.`
 * prefix; linear weights use GPT-2's Conv1D layout `[in, out]`, so `y = x · W + b` needs no
 * transpose and checkpoints load without reshuffling.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
// tfjs-core ships no gradient functions in its bundle; the union package registers all of them
// (on the same tfjs-core instance), which training the model needs.
import "@tensorflow/tfjs";
import { geluNew, layerNorm, sparseSoftmaxCrossEntropy, withoutTape } from "../engine/mod.ts";
import { ignoreLabel } from "../util/labels.ts";

/** Architecture of a GPT-2 model; field names are the Hugging Face ones in camelCase. */
export interface GPT2Config {
  /** Number of transformer blocks (`n_layer`). */
  nLayer: number;
  /** Attention heads per block (`n_head`); must divide `nEmbd`. */
  nHead: number;
  /** Width of the residual stream (`n_embd`). */
  nEmbd: number;
  /** Number of token ids (`vocab_size`). */
  vocabSize: number;
  /** Longest sequence, prefix included (`n_positions`). */
  nPositions: number;
  /** Epsilon inside every layer norm (`layer_norm_epsilon`). */
  layerNormEpsilon: number;
  /** MLP non-linearity (`activation_function`): "gelu_new" (GPT-2), "gelu_pytorch_tanh", "gelu" or "relu". */
  activationFunction: string;
  /** Dropout probability for embeddings, attention weights and residual branches in training; 0 turns it off. */
  dropout: number;
  /** Hidden width of the MLP (`n_inner`); 4·nEmbd when absent. */
  nInner?: number;
  /**
   * Longest sequence the weights were trained on (`peftlab_trained_context`): positions past it
   * have never been trained. nPositions when absent (a checkpoint trained elsewhere).
   */
  trainedContext?: number;
}

/**
 * Hugging Face's `GPT2Config` defaults for the fields a checkpoint's config.json or a pipeline's
 * `model:` section may leave out; the one place these defaults are stated.
 */
export const gpt2Defaults = {
  /** `layer_norm_epsilon`. */
  layerNormEpsilon: 1e-5,
  /** `activation_function`. */
  activationFunction: "gelu_new",
  /** `resid_pdrop` (= `embd_pdrop` = `attn_pdrop`). */
  dropout: 0.1,
} as const;

/**
 * Longest sequence (soft prompt included) a model may train or generate on: the context its
 * weights were trained on (`trainedContext`), else `nPositions`. Positions beyond the trained
 * context have untrained embeddings, so using them is a configuration error, not a quality issue.
 */
export function usableContext(config: { nPositions: number; trainedContext?: number }): number {
  return Math.min(config.trainedContext ?? config.nPositions, config.nPositions);
}

/**
 * Why a sequence of `tokens` positions does not fit {@link usableContext}, naming both numbers
 * and where the limit comes from; null when it fits.
 */
export function contextProblem(
  config: { nPositions: number; trainedContext?: number },
  tokens: number,
): string | null {
  const limit = usableContext(config);
  if (tokens <= limit) return null;
  return limit < config.nPositions
    ? `${tokens} positions exceed the ${limit} the base was trained on ` +
      `(peftlab_trained_context in its config.json; n_positions is ${config.nPositions})`
    : `${tokens} positions exceed the model's n_positions ${config.nPositions}`;
}

/** Thrown when a forward pass gets inputs the model cannot take (too long, wrong shape). */
export class ModelInputError extends Error {
  /** Creates the error with a message naming the offending input. */
  constructor(message: string) {
    super(message);
    this.name = "ModelInputError";
  }
}

/** A linear layer's own computation `x · W + b` on rows `[N, in]` → `[N, out]`. */
export type LinearFn = (x: tf.Tensor2D) => tf.Tensor2D;

/** Replaces a named linear layer: receives the input rows and the base layer, returns the output rows. */
export type LinearWrapper = (x: tf.Tensor2D, base: LinearFn) => tf.Tensor2D;

/**
 * Keys and values of every block for the positions seen so far, so that generation feeds only the
 * new token. `forward` appends to it in place; call `dispose()` when done.
 */
export class KVCache {
  /** Per block: key and value `[B, nh, Tp, hs]`, kept outside any `tf.tidy`. */
  layers: { key: tf.Tensor4D; value: tf.Tensor4D }[] = [];
  /** Number of positions stored (Tp), prefix included. */
  length = 0;

  /** Keeps only the given batch rows, in the given order (beam search reorders beams with this). */
  selectRows(rows: number[]): void {
    const index = tf.tensor1d(rows, "int32");
    this.layers = this.layers.map(({ key, value }) => {
      const kept = {
        key: tf.keep(tf.gather(key, index, 0)) as tf.Tensor4D,
        value: tf.keep(tf.gather(value, index, 0)) as tf.Tensor4D,
      };
      key.dispose();
      value.dispose();
      return kept;
    });
    index.dispose();
  }

  /** Frees every cached tensor. */
  dispose(): void {
    for (const { key, value } of this.layers) {
      key.dispose();
      value.dispose();
    }
    this.layers = [];
    this.length = 0;
  }
}

/** Options of one forward pass. */
export interface ForwardOptions {
  /** Soft-prompt embeddings `[B, P, C]` placed in front of the token embeddings (positions 0..P-1). */
  prefix?: tf.Tensor3D;
  /** Turns dropout on (when `config.dropout > 0`). */
  training?: boolean;
  /** Seed of the dropout masks; pass a different one per training step. */
  seed?: number;
  /** Read past keys/values from it and append the new ones (generation). */
  cache?: KVCache;
  /** 1 = attend, 0 = padding; `[B, Tk]` over cached + prefix + new positions. Default: all 1. */
  attentionMask?: tf.Tensor2D;
  /** Position of each computed slot `[B, S]` (int32); default Tp..Tp+S-1. Needed with left padding. */
  positionIds?: tf.Tensor2D;
  /**
   * Leading blocks (with the embeddings and the prefix) that no gradient needs: they run off the
   * gradient tape, so back-propagation keeps none of their activations. Set it only when nothing
   * trainable lies in them. Default 0.
   */
  frozenBlocks?: number;
}

/** What every block of one forward pass shares. */
interface BlockPass {
  /** Additive attention bias: causal, plus padding when an attention mask is given. */
  mask: tf.Tensor4D; // (B or 1, 1, S, Tk)
  /** KV cache to read and extend (generation), if any. */
  cache: KVCache | undefined;
  /** Dropout as the pass is set: identity outside training. */
  dropout: <R extends tf.Rank>(x: tf.Tensor<R>) => tf.Tensor<R>;
}

/** Additive mask value for positions that must get zero attention; finite so softmax never yields NaN. */
const maskedScore = -1e9;

/** GPT-2 decoder with a tied LM head, hooks for soft prompts and wrapped linear layers. */
export class GPT2 {
  /** The architecture. */
  readonly config: GPT2Config;
  /** Every base weight by its Hugging Face name (no `transformer.` prefix), e.g. `h.0.attn.c_attn.weight`. */
  readonly params: Map<string, tf.Variable>;
  /**
   * Wrappers of named linear layers (`h.{i}.attn.c_attn`, `h.{i}.attn.c_proj`, `h.{i}.mlp.c_fc`,
   * `h.{i}.mlp.c_proj`): when present, the layer computes `wrapper(x, base)` instead of `base(x)`.
   */
  readonly linearWrappers: Map<string, LinearWrapper> = new Map();

  /** Wraps existing variables; use `createGPT2` or `loadCheckpoint` to get a model. */
  constructor(config: GPT2Config, params: Map<string, tf.Variable>) {
    validateConfig(config);
    this.config = config;
    this.params = params;
  }

  /** Total number of base weights. */
  get parameterCount(): number {
    let total = 0;
    for (const p of this.params.values()) total += p.size;
    return total;
  }

  /** Marks exactly the named base weights trainable (all others frozen); returns them by name. */
  setTrainable(names: Iterable<string>): Map<string, tf.Variable> {
    const wanted = new Set(names);
    for (const name of wanted) {
      if (!this.params.has(name)) throw new ModelInputError(`no parameter named "${name}"`);
    }
    const chosen = new Map<string, tf.Variable>();
    for (const [name, p] of this.params) {
      p.trainable = wanted.has(name);
      if (p.trainable) chosen.set(name, p);
    }
    return chosen;
  }

  /** The weight named `name`; throws ModelInputError when absent. */
  param(name: string): tf.Variable {
    const p = this.params.get(name);
    if (!p) throw new ModelInputError(`no parameter named "${name}"`);
    return p;
  }

  /**
   * Logits `[B, P+T, V]` for token ids `[B, T]` (int32), with an optional soft prompt in front.
   * With `cache`, past keys/values are read from it and the new ones appended. Throws
   * ModelInputError when the sequence would exceed `nPositions` or shapes disagree.
   */
  forward(ids: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor3D {
    return tf.tidy(() => {
      const hidden = this.hiddenStates(ids, opts); // (B, S, C)
      const [B, S, C] = hidden.shape;
      const logits = this.lmHead(tf.reshape(hidden, [B * S, C])); // (B·S, V)
      return tf.reshape(logits, [B, S, this.config.vocabSize]) as tf.Tensor3D; // (B, S, V)
    });
  }

  /**
   * LM head tied to the token embedding: logits `[N, V]` = rows `[N, C]` · wteᵀ. Feed it only the
   * rows whose logits are needed (the loss slices the hidden states first: the `[N, V]` logits are
   * the largest activation of a step).
   */
  lmHead(rows: tf.Tensor2D): tf.Tensor2D {
    return tf.matMul(rows, this.param("wte.weight"), false, true); // (N, V)
  }

  /**
   * The final hidden states `[B, P+T, C]` (after `ln_f`, before the LM head) for token ids
   * `[B, T]`; same options, cache behaviour and errors as {@link GPT2.forward}.
   */
  hiddenStates(ids: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor3D {
    const { nEmbd: C, nPositions } = this.config;
    const [B, T] = ids.shape;
    const P = opts.prefix ? opts.prefix.shape[1] : 0;
    const S = P + T;
    const past = opts.cache?.length ?? 0;
    if (past + S > nPositions) {
      throw new ModelInputError(
        `sequence of ${past + S} positions exceeds n_positions ${nPositions}`,
      );
    }
    if (opts.prefix && (opts.prefix.shape[0] !== B || opts.prefix.shape[2] !== C)) {
      throw new ModelInputError(
        `prefix shape [${opts.prefix.shape}] does not match batch ${B} and n_embd ${C}`,
      );
    }
    const dropoutSeed = opts.seed ?? 0;
    let dropoutCalls = 0;
    const dropout = <R extends tf.Rank>(x: tf.Tensor<R>): tf.Tensor<R> =>
      opts.training && this.config.dropout > 0
        ? dropoutKeepingMask(
          x,
          this.config.dropout,
          dropoutSeed * 7919 + ++dropoutCalls, // never 0: tfjs reads 0 as unseeded
        )
        : x;

    const hidden = tf.tidy(() => {
      const mask = attentionBias(B, S, past, opts.attentionMask); // (B or 1, 1, S, Tk)
      const pass: BlockPass = { mask, cache: opts.cache, dropout };
      const blocks = (x: tf.Tensor3D, from: number, to: number) => {
        for (let i = from; i < to; i++) {
          // One scope per block: what backprop needs is kept by the tape, the rest of the block's
          // intermediates are freed now instead of at the end of the whole forward pass.
          const input = x;
          x = tf.tidy(() => this.block(i, input, pass));
        }
        return x; // (B, S, C)
      };
      const embedded = () => {
        // token + position embeddings
        const wte = this.param("wte.weight"); // (V, C)
        const wpe = this.param("wpe.weight"); // (nPositions, C)
        const tokenRows = tf.gather(wte, tf.reshape(ids, [-1])); // (B·T, C)
        const tokens = tf.reshape(tokenRows, [B, T, C]); // (B, T, C)
        const inputs = opts.prefix ? tf.concat([opts.prefix, tokens], 1) : tokens; // (B, S, C)
        const positions = opts.positionIds
          ? tf.reshape(tf.gather(wpe, tf.reshape(opts.positionIds, [-1])), [B, S, C]) // (B, S, C)
          : tf.expandDims(tf.slice(wpe, [past, 0], [S, C]), 0); // (1, S, C)
        return dropout(addKeepingNothing(inputs as tf.Tensor3D, positions)); // (B, S, C)
      };
      const frozen = Math.min(opts.frozenBlocks ?? 0, this.config.nLayer);
      const x = frozen > 0
        ? withoutTape(() => blocks(embedded(), 0, frozen), ids) // (B, S, C), nothing kept
        : embedded(); // (B, S, C)
      return this.layerNorm("ln_f", blocks(x, frozen, this.config.nLayer)); // (B, S, C)
    });
    if (opts.cache) opts.cache.length = past + S;
    return hidden;
  }

  /** One pre-norm transformer block: x += attn(ln_1(x)); x += mlp(ln_2(x)). */
  private block(i: number, x: tf.Tensor3D, pass: BlockPass): tf.Tensor3D {
    const { dropout } = pass;
    // A scope per half: what back-propagation needs is kept by the tape, the rest of the
    // attention's intermediates are freed before the MLP allocates its own.
    const attended = tf.tidy(() => this.attention(i, this.layerNorm(`h.${i}.ln_1`, x), pass)); // (B, S, C)
    x = addKeepingNothing(x, dropout(attended)); // (B, S, C)
    const mlpOut = tf.tidy(() => this.mlp(i, this.layerNorm(`h.${i}.ln_2`, x))); // (B, S, C)
    return addKeepingNothing(x, dropout(mlpOut)); // (B, S, C)
  }

  /** Causal multi-head self-attention of block `i`, reading and extending the KV cache. */
  private attention(i: number, x: tf.Tensor3D, { mask, cache, dropout }: BlockPass): tf.Tensor3D {
    const [B, S, C] = x.shape;
    const nh = this.config.nHead;
    const hs = C / nh;
    const qkv = this.linear(`h.${i}.attn.c_attn`, tf.reshape(x, [B * S, C])); // (B·S, 3C)
    const [q, k, v] = tf.split(qkv, 3, 1).map((t) =>
      tf.transpose(tf.reshape(t, [B, S, nh, hs]), [0, 2, 1, 3]) as tf.Tensor4D // (B, nh, S, hs)
    );
    let keys = k; // (B, nh, Tk, hs)
    let values = v; // (B, nh, Tk, hs)
    if (cache) {
      const old = cache.layers[i];
      if (old) {
        keys = tf.concat([old.key, k], 2);
        values = tf.concat([old.value, v], 2);
        old.key.dispose();
        old.value.dispose();
      }
      cache.layers[i] = { key: tf.keep(keys), value: tf.keep(values) };
    }
    // Scaling q (B·S·C values) instead of the scores (B·nh·S·Tk) also spares backprop a saved copy
    // of the unscaled scores.
    const scaledQ = tf.mul(q, 1 / Math.sqrt(hs)); // (B, nh, S, hs)
    const scores = addKeepingNothing(tf.matMul(scaledQ, keys, false, true), mask); // (B, nh, S, Tk)
    const weights = dropout(tf.softmax(scores, -1)); // (B, nh, S, Tk)
    const heads = tf.matMul(weights, values); // (B, nh, S, hs)
    const merged = tf.transpose(heads, [0, 2, 1, 3]); // (B, S, nh, hs)
    const y = tf.reshape(merged, [B * S, C]) as tf.Tensor2D; // (B·S, C)
    return tf.reshape(this.linear(`h.${i}.attn.c_proj`, y), [B, S, C]); // (B, S, C)
  }

  /** Feed-forward network of block `i`: c_fc → activation → c_proj. */
  private mlp(i: number, x: tf.Tensor3D): tf.Tensor3D {
    const [B, S, C] = x.shape;
    const hidden = this.linear(`h.${i}.mlp.c_fc`, tf.reshape(x, [B * S, C])); // (B·S, 4C)
    const activated = activation(this.config.activationFunction, hidden); // (B·S, 4C)
    return tf.reshape(this.linear(`h.${i}.mlp.c_proj`, activated), [B, S, C]); // (B, S, C)
  }

  /** Layer norm over the last axis with gain `{name}.weight` and bias `{name}.bias` (fused). */
  private layerNorm(name: string, x: tf.Tensor3D): tf.Tensor3D {
    const gain = this.param(`${name}.weight`) as tf.Tensor1D; // (C)
    const bias = this.param(`${name}.bias`) as tf.Tensor1D; // (C)
    return layerNorm(x, gain, bias, this.config.layerNormEpsilon); // (B, S, C)
  }

  /** Linear layer `name` on rows `[N, in]` → `[N, out]`, through its wrapper when one is set. */
  private linear(name: string, x: tf.Tensor2D): tf.Tensor2D {
    const weight = this.param(`${name}.weight`); // (in, out)
    const bias = this.param(`${name}.bias`); // (out)
    // Wrappers (LoRA, IA³) call this same base layer, so every method pays for it alike.
    const base: LinearFn = (rows) => tf.add(tf.matMul(rows, weight), bias) as tf.Tensor2D; // (N, out)
    const wrapper = this.linearWrappers.get(name);
    return wrapper ? wrapper(x, base) : base(x);
  }
}

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/** `dy` summed over the axes along which a tensor of `shape` was broadcast to dy's shape. */
function sumToShape(dy: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = tf.backend_util.getReductionAxes(shape, dy.shape);
  return axes.length > 0 ? tf.reshape(tf.sum(dy, axes), shape) : dy;
}

/**
 * `a + b` with broadcasting that keeps nothing for back-propagation: tfjs's Add keeps both inputs
 * alive only to read their shapes, which here held the unmasked attention scores and each
 * residual branch until the backward pass ended. Both
 * gradients are computed (a sum over broadcast axes for a bias or mask: cheap next to a matmul).
 */
export function addKeepingNothing<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
  const added = tf.customGrad(
    ((x: tf.Tensor, y: tf.Tensor, save: (t: tf.Tensor[]) => void) => {
      save([]);
      return {
        value: tf.add(x, y),
        gradFunc: (dy: tf.Tensor) => [sumToShape(dy, x.shape), sumToShape(dy, y.shape)],
      };
    }) as unknown as CustomGradFn,
  ) as (x: tf.Tensor, y: tf.Tensor) => tf.Tensor;
  return added(a, b) as T;
}

/**
 * `tf.dropout(x, rate, undefined, seed)` — the same mask, the same values — that keeps only the
 * scaled mask for back-propagation: tf.dropout's ops keep the uniform noise, the floored mask and
 * `x` as well, three more tensors of x's size each until the backward pass ends.
 */
export function dropoutKeepingMask<T extends tf.Tensor>(x: T, rate: number, seed: number): T {
  const keepProbability = 1 - rate;
  const masked = tf.customGrad(
    ((input: tf.Tensor, save: (tensors: tf.Tensor[]) => void) => {
      const noise = tf.randomUniform(input.shape, 0, 1, "float32", seed);
      const multiplier = tf.div(tf.floor(tf.add(noise, keepProbability)), keepProbability); // 0 or 1/keep
      save([multiplier]);
      return {
        value: tf.mul(input, multiplier),
        gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => tf.mul(dy, saved),
      };
    }) as unknown as CustomGradFn,
  ) as (input: tf.Tensor) => tf.Tensor;
  return masked(x) as T;
}

/** Additive attention bias `(B or 1, 1, S, Tk)`: causal over cache + new slots, padding masked. */
function attentionBias(
  B: number,
  S: number,
  past: number,
  attentionMask?: tf.Tensor2D,
): tf.Tensor4D {
  const Tk = past + S;
  const causal = new Float32Array(S * Tk);
  for (let q = 0; q < S; q++) {
    for (let k = past + q + 1; k < Tk; k++) causal[q * Tk + k] = maskedScore;
  }
  const bias = tf.tensor4d(causal, [1, 1, S, Tk]);
  if (!attentionMask) return bias;
  if (attentionMask.shape[0] !== B || attentionMask.shape[1] !== Tk) {
    throw new ModelInputError(
      `attentionMask shape [${attentionMask.shape}] should be [${B}, ${Tk}] (cached + new positions)`,
    );
  }
  const padding = tf.reshape(tf.mul(tf.sub(1, tf.cast(attentionMask, "float32")), maskedScore), [
    B,
    1,
    1,
    Tk,
  ]); // (B, 1, 1, Tk)
  return tf.minimum(bias, padding) as tf.Tensor4D; // (B, 1, S, Tk)
}

/** The MLP non-linearity named by `activation_function`. */
function activation(name: string, x: tf.Tensor2D): tf.Tensor2D {
  switch (name) {
    case "gelu_new":
    case "gelu_pytorch_tanh":
      // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), keeping only x for backprop
      return geluNew(x);
    case "gelu":
      return tf.mul(tf.mul(x, tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))), 0.5);
    case "relu":
      return tf.relu(x);
    default:
      throw new ModelInputError(`unsupported activation_function "${name}"`);
  }
}

/** Names of the activations `activationFunction` accepts. */
export const supportedActivations = ["gelu_new", "gelu_pytorch_tanh", "gelu", "relu"] as const;

function validateConfig(config: GPT2Config): void {
  for (const key of ["nLayer", "nHead", "nEmbd", "vocabSize", "nPositions"] as const) {
    const value = config[key];
    if (!Number.isInteger(value) || value <= 0) {
      throw new ModelInputError(`config.${key} must be a positive integer, got ${value}`);
    }
  }
  if (config.nEmbd % config.nHead !== 0) {
    throw new ModelInputError(
      `config.nEmbd ${config.nEmbd} is not divisible by nHead ${config.nHead}`,
    );
  }
  if (!(supportedActivations as readonly string[]).includes(config.activationFunction)) {
    throw new ModelInputError(
      `unsupported activation_function "${config.activationFunction}" (use ${
        supportedActivations.join(", ")
      })`,
    );
  }
  if (!(config.dropout >= 0 && config.dropout < 1)) {
    throw new ModelInputError(`config.dropout must be in [0, 1), got ${config.dropout}`);
  }
}

/** The config fields that fix every weight's shape. */
export type GPT2Shape = Pick<
  GPT2Config,
  "nLayer" | "nEmbd" | "vocabSize" | "nPositions" | "nInner"
>;

/** Hidden width of the MLP: `n_inner`, or 4·n_embd when the config leaves it out (as in Hugging Face). */
export function mlpWidth(shape: Pick<GPT2Config, "nEmbd" | "nInner">): number {
  return shape.nInner ?? 4 * shape.nEmbd;
}

/**
 * Shape of every GPT-2 parameter by Hugging Face name, in checkpoint order: the one table of
 * GPT-2's layers that loading, initialisation and the tuning methods' counts all read.
 */
export function parameterShapes(shape: GPT2Shape): Map<string, number[]> {
  const { nLayer, nEmbd: C, vocabSize: V, nPositions } = shape;
  const inner = mlpWidth(shape);
  const shapes = new Map<string, number[]>([
    ["wte.weight", [V, C]],
    ["wpe.weight", [nPositions, C]],
  ]);
  for (let i = 0; i < nLayer; i++) {
    shapes.set(`h.${i}.ln_1.weight`, [C]);
    shapes.set(`h.${i}.ln_1.bias`, [C]);
    shapes.set(`h.${i}.attn.c_attn.weight`, [C, 3 * C]);
    shapes.set(`h.${i}.attn.c_attn.bias`, [3 * C]);
    shapes.set(`h.${i}.attn.c_proj.weight`, [C, C]);
    shapes.set(`h.${i}.attn.c_proj.bias`, [C]);
    shapes.set(`h.${i}.ln_2.weight`, [C]);
    shapes.set(`h.${i}.ln_2.bias`, [C]);
    shapes.set(`h.${i}.mlp.c_fc.weight`, [C, inner]);
    shapes.set(`h.${i}.mlp.c_fc.bias`, [inner]);
    shapes.set(`h.${i}.mlp.c_proj.weight`, [inner, C]);
    shapes.set(`h.${i}.mlp.c_proj.bias`, [C]);
  }
  shapes.set("ln_f.weight", [C]);
  shapes.set("ln_f.bias", [C]);
  return shapes;
}

/** Input and output width of one linear (Conv1D) layer, whose weight is `[in, out]`. */
export interface LinearShape {
  /** Input features (rows of the weight). */
  inFeatures: number;
  /** Output features (columns of the weight). */
  outFeatures: number;
}

/** Weight names of the layers `linearWrappers` can wrap; group 1 is the layer's name. */
const linearWeightName = /^(h\.\d+\.(?:attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj))\.weight$/;

/**
 * The wrappable linear layers among named weight shapes (from {@link parameterShapes} or a
 * model's `params`), in the given order, e.g. `h.0.attn.c_attn → {in: C, out: 3C}`.
 */
export function linearLayers(
  weights: Iterable<readonly [string, readonly number[]]>,
): Map<string, LinearShape> {
  const layers = new Map<string, LinearShape>();
  for (const [name, [inFeatures, outFeatures]] of weights) {
    const match = linearWeightName.exec(name);
    if (match) layers.set(match[1], { inFeatures, outFeatures });
  }
  return layers;
}

/** Standard deviation of GPT-2's initial weights. */
const initStd = 0.02;

/**
 * A GPT-2 with GPT-2's initialisation, identical for the same config and seed: weights normal with
 * std 0.02, residual projections (`attn.c_proj`, `mlp.c_proj`) std 0.02/sqrt(2·nLayer), biases 0,
 * layer-norm gains 1. Throws ModelInputError on an invalid config.
 */
export function createGPT2(config: GPT2Config, seed: number): GPT2 {
  validateConfig(config);
  const params = new Map<string, tf.Variable>();
  let index = 0;
  for (const [name, shape] of parameterShapes(config)) {
    // Never 0: tfjs treats a seed of 0 as "no seed" and draws from Math.random.
    const paramSeed = seed * 100_003 + ++index;
    const value = tf.tidy(() => {
      if (name.endsWith(".bias")) return tf.zeros(shape);
      if (/ln_\d\.weight$|ln_f\.weight$/.test(name)) return tf.ones(shape);
      const std = /c_proj\.weight$/.test(name) ? initStd / Math.sqrt(2 * config.nLayer) : initStd;
      return tf.randomNormal(shape, 0, std, "float32", paramSeed);
    });
    params.set(name, tf.variable(value, true, `gpt2/${name}/${seed}/${crypto.randomUUID()}`));
    value.dispose();
  }
  return new GPT2(config, params);
}

/** What `lmLoss` needs of a model: its width, hidden states and the LM head (`GPT2` fits). */
export interface LanguageModel extends Pick<GPT2, "hiddenStates" | "lmHead"> {
  /** Only the width of the hidden states is read. */
  readonly config: { readonly nEmbd: number };
}

/**
 * Mean next-token cross-entropy over scored positions. `labels` `[B, T]` is aligned with `ids` as
 * in Hugging Face (usually a copy of `ids` with -100 where not scored); the logits at position t
 * predict `labels[t+1]`. Soft-prompt positions are never scored. Returns 0 when nothing is scored.
 *
 * Only hidden states that predict a label go through the LM head (its `[N, V]` logits are the
 * largest activation): the last position and the soft prompt are dropped, and when `labels` is
 * given as arrays (no device read-back needed) so is every row whose next label is -100.
 * Throws ModelInputError when labels and ids differ in shape.
 */
export function lmLoss(
  model: LanguageModel,
  ids: tf.Tensor2D,
  labels: tf.Tensor2D | number[][],
  opts: ForwardOptions = {},
): tf.Scalar {
  const [B, T] = ids.shape;
  const C = model.config.nEmbd;
  const labelShape = Array.isArray(labels) ? [labels.length, labels[0]?.length] : labels.shape;
  if (labelShape[0] !== B || labelShape[1] !== T || !labelsRectangular(labels, T)) {
    throw new ModelInputError(
      `labels shape [${labelShape}] differs from ids shape [${ids.shape}]`,
    );
  }
  return tf.tidy(() => {
    if (T < 2) return tf.scalar(0);
    const hidden = model.hiddenStates(ids, opts); // (B, P+T, C)
    const P = hidden.shape[1] - T;
    // Row b·(T-1) + t holds position P+t, which predicts labels[b][t+1].
    let rows = tf.reshape(tf.slice(hidden, [0, P, 0], [B, T - 1, C]), [
      B * (T - 1),
      C,
    ]) as tf.Tensor2D; // (B·(T-1), C)
    let targets: tf.Tensor1D; // (rows)
    if (Array.isArray(labels)) {
      const next = labels.flatMap((row) => row.slice(1)); // (B·(T-1))
      const scored = next.flatMap((label, row) => label === ignoreLabel ? [] : [row]);
      if (scored.length > 0 && scored.length < next.length) {
        rows = tf.gather(rows, tf.tensor1d(scored, "int32")) as tf.Tensor2D; // (scored, C)
        targets = tf.tensor1d(scored.map((row) => next[row]), "int32");
      } else targets = tf.tensor1d(next, "int32");
    } else {
      targets = tf.cast(
        tf.reshape(tf.slice(labels, [0, 1], [B, T - 1]), [B * (T - 1)]),
        "int32",
      ) as tf.Tensor1D;
    }
    return sparseSoftmaxCrossEntropy(model.lmHead(rows), targets, ignoreLabel);
  });
}

function labelsRectangular(labels: tf.Tensor2D | number[][], T: number): boolean {
  return !Array.isArray(labels) || labels.every((row) => row.length === T);
}
