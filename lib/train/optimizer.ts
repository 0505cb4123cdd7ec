/**
 * AdamW with decoupled weight decay (Loshchilov & Hutter; `torch.optim.AdamW`), moments only for
 * the variables it is given, and global-norm gradient clipping.
 */
import * as tf from "@tensorflow/tfjs-core";
import { sumInOrder } from "../engine/mod.ts";

/** AdamW hyperparameters. */
export interface AdamWOptions {
  /** First-moment decay. */
  beta1: number;
  /** Second-moment decay. */
  beta2: number;
  /** Added to the denominator. */
  epsilon: number;
  /** Decoupled weight decay; not applied to biases, layer norms or any 1-D parameter. */
  weightDecay: number;
}

/** PyTorch's AdamW defaults. */
export const defaultAdamW: AdamWOptions = {
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-8,
  weightDecay: 0.01,
};

/** Whether weight decay applies: not to biases, layer norms (`ln_*`) or 1-D parameters. */
export function decays(name: string, shape: readonly number[]): boolean {
  if (shape.length <= 1) return false;
  return !(/(^|\.)bias$/.test(name) || /(^|\.)ln_(\d|f)\./.test(name));
}

/** Saved optimizer state: step count and both moments per parameter name. */
export interface AdamWState {
  /** Optimizer steps taken. */
  step: number;
  /** First moments by parameter name. */
  m: Map<string, Float32Array>;
  /** Second moments by parameter name. */
  v: Map<string, Float32Array>;
}

/** AdamW over a fixed set of named variables. */
export class AdamW {
  /** Optimizer steps taken so far. */
  step = 0;
  readonly #params: Map<string, tf.Variable>;
  readonly #opts: AdamWOptions;
  readonly #m = new Map<string, tf.Variable>();
  readonly #v = new Map<string, tf.Variable>();

  /** Allocates zero moments for every parameter (this is the optimizer's memory cost). */
  constructor(params: Map<string, tf.Variable>, opts: AdamWOptions = defaultAdamW) {
    this.#params = params;
    this.#opts = opts;
    const zeros = (shape: number[]) => {
      const initial = tf.zeros(shape);
      const variable = tf.variable(initial, false);
      initial.dispose();
      return variable;
    };
    for (const [name, p] of params) {
      this.#m.set(name, zeros(p.shape));
      this.#v.set(name, zeros(p.shape));
    }
  }

  /** One update with `grads` (by parameter name; missing names are left alone) at `learningRate`. */
  applyGradients(grads: Map<string, tf.Tensor>, learningRate: number): void {
    this.step++;
    const { beta1, beta2, epsilon, weightDecay } = this.#opts;
    const correction1 = 1 - beta1 ** this.step;
    const correction2 = 1 - beta2 ** this.step;
    for (const [name, p] of this.#params) {
      const g = grads.get(name);
      if (!g) continue;
      const m = this.#m.get(name)!;
      const v = this.#v.get(name)!;
      tf.tidy(() => {
        const newM = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
        const newV = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
        m.assign(newM);
        v.assign(newV);
        const decayed = weightDecay > 0 && decays(name, p.shape)
          ? tf.mul(p, 1 - learningRate * weightDecay)
          : p;
        const denominator = tf.add(tf.sqrt(tf.div(newV, correction2)), epsilon);
        const update = tf.mul(tf.div(tf.div(newM, correction1), denominator), learningRate);
        p.assign(tf.sub(decayed, update));
      });
    }
  }

  /** Copies of the moments and step, for a checkpoint (read back without blocking). */
  async exportState(): Promise<AdamWState> {
    return { step: this.step, m: await readValues(this.#m), v: await readValues(this.#v) };
  }

  /** Restores moments and step saved by `exportState`; throws RangeError on a size mismatch. */
  importState(state: AdamWState): void {
    for (const [target, source] of [[this.#m, state.m], [this.#v, state.v]] as const) {
      assignSaved(
        target,
        source,
        (name) => `optimizer state for "${name}" is missing or has the wrong size`,
      );
    }
    this.step = state.step;
  }

  /** Frees the moments. */
  dispose(): void {
    for (const t of [...this.#m.values(), ...this.#v.values()]) t.dispose();
  }
}

/**
 * The squared global L2 norm of `grads` as a scalar on the device, so that a step reads it back
 * together with its other figures (the caller disposes it).
 */
export function squaredGlobalNorm(grads: Map<string, tf.Tensor>): tf.Scalar {
  return tf.tidy(() => {
    const squares = [...grads.values()].map((g) => tf.sum(tf.square(g)) as tf.Scalar);
    return squares.length ? sumInOrder(squares) : tf.scalar(0);
  });
}

/**
 * `clip_grad_norm_` given the global `norm`: scales every gradient by maxNorm/(norm+1e-6) when
 * that is below 1 and `maxNorm` > 0. Returns `grads` itself when nothing is clipped, else new
 * tensors (the caller disposes both the old and the new).
 */
export function clipToNorm(
  grads: Map<string, tf.Tensor>,
  norm: number,
  maxNorm: number,
): Map<string, tf.Tensor> {
  const factor = maxNorm / (norm + 1e-6);
  if (!(maxNorm > 0) || factor >= 1) return grads;
  const clipped = new Map<string, tf.Tensor>();
  for (const [name, g] of grads) clipped.set(name, tf.mul(g, factor));
  return clipped;
}

/**
 * Scales gradients so their global L2 norm is at most `maxNorm` (see {@link clipToNorm}). Resolves
 * to the norm before clipping and the gradients to use.
 */
export async function clipByGlobalNorm(
  grads: Map<string, tf.Tensor>,
  maxNorm: number,
): Promise<{ norm: number; grads: Map<string, tf.Tensor> }> {
  const squared = squaredGlobalNorm(grads);
  const norm = Math.sqrt((await squared.data())[0]);
  squared.dispose();
  return { norm, grads: clipToNorm(grads, norm, maxNorm) };
}

/** Copies of the values of named tensors, read back together (asynchronously). */
export async function readValues(
  tensors: Map<string, tf.Tensor>,
): Promise<Map<string, Float32Array>> {
  const names = [...tensors.keys()];
  const data = await Promise.all([...tensors.values()].map((t) => t.data()));
  return new Map(names.map((name, i) => [name, new Float32Array(data[i] as Float32Array)]));
}

/**
 * Assigns saved values to variables of the same names. Throws RangeError with `problem(name)` when
 * a variable's values are missing or have the wrong size.
 */
export function assignSaved(
  variables: Map<string, tf.Variable>,
  values: Map<string, Float32Array>,
  problem: (name: string) => string,
): void {
  for (const [name, variable] of variables) {
    const data = values.get(name);
    if (!data || data.length !== variable.size) throw new RangeError(problem(name));
    const value = tf.tensor(data, variable.shape);
    variable.assign(value);
    value.dispose();
  }
}
