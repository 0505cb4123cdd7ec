import * as tf from "@tensorflow/tfjs-core";
import { assert } from "./asserts.ts";
import { geluNew, initEngine, layerNorm, loadBlas } from "../lib/engine/mod.ts";
import { compositeGeluNew, compositeLayerNorm } from "../lib/engine/fused.ts";
import { freshSeed, randomNormal, seededRandom, worstError } from "./engine_reference.ts";

const cpuBackends = ["cpu", "wasm", ...(loadBlas() ? ["blas" as const] : [])] as const;
const finiteDifferenceStep = 1e-6;

function geluReference(v: number): number {
  return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
}

/** Float64 layer norm of rows of width c. */
function layerNormReference(
  x: Float64Array,
  g: Float64Array,
  b: Float64Array,
  c: number,
  eps: number,
) {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / c; r++) {
    let mean = 0;
    for (let j = 0; j < c; j++) mean += x[r * c + j] / c;
    let variance = 0;
    for (let j = 0; j < c; j++) variance += (x[r * c + j] - mean) ** 2 / c;
    for (let j = 0; j < c; j++) {
      y[r * c + j] = (x[r * c + j] - mean) / Math.sqrt(variance + eps) * g[j] + b[j];
    }
  }
  return y;
}

/** Central-difference gradient of `loss` w.r.t. each element of `at` (float64 throughout). */
function numericGradient(at: Float64Array, loss: (v: Float64Array) => number): Float64Array {
  const grad = new Float64Array(at.length);
  for (let i = 0; i < at.length; i++) {
    const keep = at[i];
    at[i] = keep + finiteDifferenceStep;
    const up = loss(at);
    at[i] = keep - finiteDifferenceStep;
    const down = loss(at);
    at[i] = keep;
    grad[i] = (up - down) / (2 * finiteDifferenceStep);
  }
  return grad;
}

for (const backend of cpuBackends) {
  Deno.test(`geluNew (${backend}): value and derivative match float64 on random inputs`, async () => {
    await initEngine({ backend });
    const seed = freshSeed();
    const values = randomNormal(3000, seededRandom(seed), 3);
    const upstream = randomNormal(3000, seededRandom(seed + 1));
    const x = tf.tensor2d(values, [30, 100]);
    const dy = tf.tensor2d(upstream, [30, 100]);
    const { value, grads } = tf.valueAndGrads((t: tf.Tensor) => tf.sum(tf.mul(geluNew(t), dy)))([
      x,
    ]);
    const y = tf.tidy(() => geluNew(x).dataSync());
    const expectedY = Array.from(values, geluReference);
    const expectedGrad = Array.from(
      values,
      (v, i) =>
        upstream[i] *
        (geluReference(v + finiteDifferenceStep) - geluReference(v - finiteDifferenceStep)) /
        (2 * finiteDifferenceStep),
    );
    assert(worstError(y, expectedY, 1e-6, 1e-5) <= 1, `value (seed ${seed})`);
    assert(
      worstError(grads[0].dataSync(), expectedGrad, 1e-5, 1e-4) <= 1,
      `gradient (seed ${seed})`,
    );
    tf.dispose([x, dy, value, ...grads]);
  });

  Deno.test(`layerNorm (${backend}): value and gradients for x, gamma, beta match float64`, async () => {
    await initEngine({ backend });
    const seed = freshSeed();
    const random = seededRandom(seed);
    const [rows, c, eps] = [6, 16, 1e-5];
    const x64 = Float64Array.from(randomNormal(rows * c, random, 2), (v) => v + 0.5);
    const g64 = Float64Array.from(randomNormal(c, random), (v) => 1 + 0.3 * v);
    const b64 = Float64Array.from(randomNormal(c, random));
    const w = Float64Array.from(randomNormal(rows * c, random));
    const loss = (x: Float64Array, g: Float64Array, b: Float64Array) =>
      layerNormReference(x, g, b, c, eps).reduce((s, y, i) => s + y * w[i], 0);
    const expectedY = layerNormReference(x64, g64, b64, c, eps);
    const expectedDx = numericGradient(x64, (v) => loss(v, g64, b64));
    const expectedDg = numericGradient(g64, (v) => loss(x64, v, b64));
    const expectedDb = numericGradient(b64, (v) => loss(x64, g64, v));

    const x = tf.tensor3d(Float32Array.from(x64), [2, rows / 2, c]);
    const g = tf.tensor1d(Float32Array.from(g64));
    const b = tf.tensor1d(Float32Array.from(b64));
    const wt = tf.tensor3d(Float32Array.from(w), [2, rows / 2, c]);
    const y = tf.tidy(() => layerNorm(x, g, b, eps).dataSync());
    const grads = tf.grads((a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(tf.mul(layerNorm(a, gg as tf.Tensor1D, bb as tf.Tensor1D, eps), wt))
    )([x, g, b]);
    assert(worstError(y, expectedY, 1e-5, 1e-4) <= 1, `value (seed ${seed})`);
    // float32 inputs vs float64 finite differences: tolerance covers the input rounding
    assert(worstError(grads[0].dataSync(), expectedDx, 1e-3, 1e-3) <= 1, `dx (seed ${seed})`);
    assert(worstError(grads[1].dataSync(), expectedDg, 1e-3, 1e-3) <= 1, `dgamma (seed ${seed})`);
    assert(worstError(grads[2].dataSync(), expectedDb, 1e-3, 1e-3) <= 1, `dbeta (seed ${seed})`);
    tf.dispose([x, g, b, wt, ...grads]);
  });
}

Deno.test("fused ops: the stock-op fallbacks (webgpu/tensorflow) agree with the fused kernels", async () => {
  await initEngine({ backend: "cpu" });
  const seed = freshSeed();
  const random = seededRandom(seed);
  const x = tf.tensor2d(randomNormal(40 * 32, random, 2), [40, 32]);
  const g = tf.tensor1d(randomNormal(32, random));
  const b = tf.tensor1d(randomNormal(32, random));
  const pairs: [tf.Tensor, tf.Tensor][] = [
    [geluNew(x), compositeGeluNew(x)],
    [layerNorm(x, g, b, 1e-5), compositeLayerNorm(x, g, b, 1e-5)],
  ];
  const gradOf = (f: (t: tf.Tensor) => tf.Tensor) =>
    tf.grad((t: tf.Tensor) => tf.sum(tf.square(f(t))))(x);
  pairs.push([gradOf((t) => geluNew(t)), gradOf((t) => compositeGeluNew(t))]);
  pairs.push([
    gradOf((t) => layerNorm(t, g, b, 1e-5)),
    gradOf((t) => compositeLayerNorm(t, g, b, 1e-5)),
  ]);
  for (const [i, [fused, composite]] of pairs.entries()) {
    const worst = worstError(fused.dataSync(), composite.dataSync(), 1e-4, 1e-3);
    assert(worst <= 1, `pair ${i} off by ${worst}× (seed ${seed})`);
  }
  tf.dispose([x, g, b, ...pairs.flat()]);
});
