import * as tf from "@tensorflow/tfjs-core";
import { assert } from "./asserts.ts";
import { initEngine } from "../lib/engine/mod.ts";
import { installMemoryFreeingGradients, restoreStockGradients } from "../lib/engine/gradients.ts";
import { freshSeed, randomNormal, seededRandom, worstError } from "./engine_reference.ts";

/** A small attention + MLP block: enough kinds of nodes (split, transpose, softmax, reuse of x). */
function block(x: tf.Tensor2D, w1: tf.Tensor2D, w2: tf.Tensor2D, given?: tf.Tensor): tf.Scalar {
  const [n, c] = x.shape;
  const qkv = tf.matMul(x, w1); // (n, 3c)
  const [q, k, v] = tf.split(qkv, 3, 1);
  const weights = tf.softmax(tf.matMul(q, k, false, true)); // (n, n)
  const attended = tf.add(x, tf.matMul(weights, v)); // x used twice
  const hidden = tf.tanh(tf.matMul(attended, w2)); // (n, c)
  const out = tf.sum(tf.mul(hidden, given ?? tf.ones([n, c])));
  return tf.add(out, tf.mul(tf.sum(tf.square(x)), 0.5)) as tf.Scalar;
}

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`gradients (${backend}): memory-freeing backprop gives tfjs's own gradients`, async () => {
    await initEngine({ backend });
    const seed = freshSeed();
    const random = seededRandom(seed);
    const [n, c] = [7, 6];
    const x = tf.tensor2d(randomNormal(n * c, random), [n, c]);
    const w1 = tf.tensor2d(randomNormal(c * 3 * c, random, 0.3), [c, 3 * c]);
    const w2 = tf.tensor2d(randomNormal(c * c, random, 0.3), [c, c]);
    const given = tf.tensor2d(randomNormal(n * c, random), [n, c]);
    const f = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) =>
      block(a as tf.Tensor2D, b as tf.Tensor2D, d as tf.Tensor2D, given);
    const before = tf.memory().numTensors;
    const ours = tf.grads(f)([x, w1, w2]);
    const oursValues = ours.map((g) => g.dataSync().slice());
    tf.dispose(ours);
    assert(tf.memory().numTensors === before, "freeing backprop leaked tensors");
    restoreStockGradients();
    try {
      const stock = tf.grads(f)([x, w1, w2]);
      stock.forEach((g, i) => {
        const worst = worstError(oursValues[i], g.dataSync(), 1e-6, 1e-5);
        assert(worst <= 1, `gradient ${i} differs by ${worst}× tolerance (seed ${seed})`);
      });
      tf.dispose(stock);
    } finally {
      installMemoryFreeingGradients();
    }
    tf.dispose([x, w1, w2, given]);
  });
}

Deno.test("gradients: when backprop reaches the input, earlier gradients and saved tensors are gone", async () => {
  await initEngine({ backend: "cpu" });
  const x = tf.randomNormal([256, 256]); // 256 KiB
  const depth = 40;
  let bytesAtInput = 0;
  // Identity whose gradient records live bytes: it runs last in backprop, where the peak differs.
  const probe = tf.customGrad(
    ((t: tf.Tensor) => ({
      value: tf.clone(t),
      gradFunc: (dy: tf.Tensor) => {
        bytesAtInput = tf.memory().numBytes;
        return tf.clone(dy);
      },
    })) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as (t: tf.Tensor) => tf.Tensor;
  const chain = (t: tf.Tensor) => {
    let h = probe(t);
    for (let i = 0; i < depth; i++) h = tf.tanh(tf.mul(h, 1.01));
    return tf.sum(h) as tf.Scalar;
  };
  const measure = () => {
    const before = tf.memory().numBytes;
    tf.dispose(tf.grads(chain)([x]));
    return bytesAtInput - before;
  };
  const ours = measure();
  restoreStockGradients();
  let stock: number;
  try {
    stock = measure();
  } finally {
    installMemoryFreeingGradients();
  }
  // Stock still holds ~3 tensors per layer (saved input/output, gradients); ours a handful.
  assert(ours < 0.2 * stock, `live bytes at the input: ours ${ours}, stock ${stock}`);
  assert(stock > depth * 2 * 256 * 1024, `stock ${stock}: the probe did not see the tape`);
  x.dispose();
});

Deno.test("gradients: a caller-given dy is used and left alive", async () => {
  await initEngine({ backend: "cpu" });
  const x = tf.tensor1d([1, 2, 3]);
  const dy = tf.tensor1d([1, 10, 100]);
  const [g] = tf.grads((a: tf.Tensor) => tf.mul(a, a))([x], dy);
  assert(JSON.stringify(Array.from(g.dataSync())) === JSON.stringify([2, 40, 600]));
  assert(!dy.isDisposed);
  tf.dispose([x, dy, g]);
});
