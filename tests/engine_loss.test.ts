import * as tf from "@tensorflow/tfjs-core";
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "./asserts.ts";
import { initEngine, loadBlas, sparseSoftmaxCrossEntropy } from "../lib/engine/mod.ts";
import { compositeSparseSoftmaxCrossEntropy } from "../lib/engine/loss.ts";
import {
  freshSeed,
  randomNormal,
  referenceCrossEntropy,
  seededRandom,
  worstError,
} from "./engine_reference.ts";

const cpuBackends = ["cpu", "wasm", ...(loadBlas() ? ["blas" as const] : [])] as const;
const lossAbsoluteTolerance = 1e-5;
const gradAbsoluteTolerance = 1e-6;
const relativeTolerance = 1e-4;

function randomCase(seed: number, rows: number, vocabSize: number, ignoreIndex: number) {
  const random = seededRandom(seed);
  const logits = randomNormal(rows * vocabSize, random, 3);
  const labels = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    labels[r] = random() < 0.3 ? ignoreIndex : Math.floor(random() * vocabSize);
  }
  return { logits, labels };
}

for (const backend of cpuBackends) {
  Deno.test(`loss (${backend}): value and gradient match a float64 reference on random inputs`, async () => {
    await initEngine({ backend });
    const seed = freshSeed();
    const rows = 37;
    const vocabSize = 501;
    const { logits, labels } = randomCase(seed, rows, vocabSize, -100);
    const expected = referenceCrossEntropy(logits, labels, vocabSize, -100);
    const x = tf.tensor2d(logits, [rows, vocabSize]);
    const y = tf.tensor1d(labels, "int32");
    const { value, grads } = tf.valueAndGrads((l: tf.Tensor) =>
      sparseSoftmaxCrossEntropy(l as tf.Tensor2D, y)
    )([x]);
    assertAlmostEquals(value.dataSync()[0], expected.loss, lossAbsoluteTolerance, `seed ${seed}`);
    const worst = worstError(
      grads[0].dataSync(),
      expected.grad,
      gradAbsoluteTolerance,
      relativeTolerance,
    );
    assert(worst <= 1, `gradient off by ${worst}× tolerance (seed ${seed})`);
    tf.dispose([x, y, value, ...grads]);
  });

  Deno.test(`loss (${backend}): a custom ignore index is honoured and all-ignored rows give 0 with zero gradient`, async () => {
    await initEngine({ backend });
    const seed = freshSeed();
    const { logits, labels } = randomCase(seed, 9, 17, 3);
    const expected = referenceCrossEntropy(logits, labels, 17, 3);
    const got = tf.tidy(() =>
      sparseSoftmaxCrossEntropy(tf.tensor2d(logits, [9, 17]), tf.tensor1d(labels, "int32"), 3)
        .dataSync()[0]
    );
    assertAlmostEquals(got, expected.loss, lossAbsoluteTolerance, `seed ${seed}`);

    const x = tf.tensor2d(logits, [9, 17]);
    const allIgnored = tf.fill([9], -100, "int32") as tf.Tensor1D;
    const { value, grads } = tf.valueAndGrads((l: tf.Tensor) =>
      sparseSoftmaxCrossEntropy(l as tf.Tensor2D, allIgnored)
    )([x]);
    assertEquals(value.dataSync()[0], 0);
    assertEquals(Math.max(...grads[0].dataSync().map(Math.abs)), 0);
    tf.dispose([x, allIgnored, value, ...grads]);
  });

  Deno.test(`loss (${backend}): chains with upstream gradients (2·loss doubles the gradient)`, async () => {
    await initEngine({ backend });
    const seed = freshSeed();
    const { logits, labels } = randomCase(seed, 5, 11, -100);
    const expected = referenceCrossEntropy(logits, labels, 11, -100);
    const x = tf.tensor2d(logits, [5, 11]);
    const y = tf.tensor1d(labels, "int32");
    const grad = tf.grad((l: tf.Tensor) =>
      tf.mul(sparseSoftmaxCrossEntropy(l as tf.Tensor2D, y), 2)
    )(x);
    const doubled = expected.grad.map((g) => 2 * g);
    assert(
      worstError(grad.dataSync(), doubled, gradAbsoluteTolerance, relativeTolerance) <= 1,
      `seed ${seed}`,
    );
    tf.dispose([x, y, grad]);
  });

  Deno.test(`loss (${backend}): a label whose probability underflows float32 still gives the exact loss`, async () => {
    await initEngine({ backend });
    const logits = new Float32Array([0, 200, -5, 1, 2, 3, 0, 0]);
    const labels = new Int32Array([0, 2]);
    const expected = referenceCrossEntropy(logits, labels, 4, -100);
    const got = tf.tidy(() =>
      sparseSoftmaxCrossEntropy(tf.tensor2d(logits, [2, 4]), tf.tensor1d(labels, "int32"))
        .dataSync()[0]
    );
    assertAlmostEquals(got, expected.loss, 1e-4);
    assert(expected.loss > 100, `reference ${expected.loss}`);
  });

  Deno.test(`loss (${backend}): a label outside the vocabulary is a RangeError`, async () => {
    await initEngine({ backend });
    const x = tf.zeros([2, 4]) as tf.Tensor2D;
    const y = tf.tensor1d([1, 4], "int32");
    assertThrows(() => sparseSoftmaxCrossEntropy(x, y), RangeError);
    tf.dispose([x, y]);
  });

  Deno.test(`loss (${backend}): leaves no tensors behind with or without a gradient tape`, async () => {
    await initEngine({ backend });
    const x = tf.randomNormal([6, 10]) as tf.Tensor2D;
    const y = tf.tensor1d([1, 2, -100, 3, 4, 5], "int32");
    const before = tf.memory().numTensors;
    sparseSoftmaxCrossEntropy(x, y).dispose();
    const { value, grads } = tf.valueAndGrads((l: tf.Tensor) =>
      sparseSoftmaxCrossEntropy(l as tf.Tensor2D, y)
    )([x]);
    tf.dispose([value, ...grads]);
    assertEquals(tf.memory().numTensors, before);
    tf.dispose([x, y]);
  });
}

Deno.test("loss (stock-op fallback used by webgpu/tensorflow): matches the float64 reference", async () => {
  await initEngine({ backend: "cpu" });
  const seed = freshSeed();
  const { logits, labels } = randomCase(seed, 13, 29, -100);
  const expected = referenceCrossEntropy(logits, labels, 29, -100);
  const x = tf.tensor2d(logits, [13, 29]);
  const y = tf.tensor1d(labels, "int32");
  const { value, grads } = tf.valueAndGrads((l: tf.Tensor) =>
    compositeSparseSoftmaxCrossEntropy(l as tf.Tensor2D, y, -100)
  )([x]);
  assertAlmostEquals(value.dataSync()[0], expected.loss, lossAbsoluteTolerance, `seed ${seed}`);
  assert(
    worstError(grads[0].dataSync(), expected.grad, gradAbsoluteTolerance, relativeTolerance) <= 1,
  );
  tf.dispose([x, y, value, ...grads]);
});
