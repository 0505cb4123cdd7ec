import * as tf from "@tensorflow/tfjs-core";
import { assert } from "./asserts.ts";
import {
  geluNew,
  initEngine,
  layerNorm,
  probeWebGpuAdapter,
  sparseSoftmaxCrossEntropy,
} from "../lib/engine/mod.ts";
import {
  freshSeed,
  randomNormal,
  referenceCrossEntropy,
  referenceMatMul,
  seededRandom,
  worstError,
} from "./engine_reference.ts";

// Any adapter will do, a software one (Mesa's llvmpipe) included: this checks correctness only.
const adapter = await probeWebGpuAdapter();

Deno.test({
  name:
    "webgpu: matMul with transposes, loss, GELU, layer norm and embedding gradient match float64",
  ignore: adapter == null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await initEngine({ backend: "webgpu" });
    const seed = freshSeed();
    const random = seededRandom(seed);
    const dims = { batchA: 2, batchB: 2, m: 9, n: 7, k: 13 };
    const a = randomNormal(2 * 9 * 13, random);
    const b = randomNormal(2 * 13 * 7, random);
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
      const out = tf.matMul(
        tf.tensor3d(a, ta ? [2, 13, 9] : [2, 9, 13]),
        tf.tensor3d(b, tb ? [2, 7, 13] : [2, 13, 7]),
        ta,
        tb,
      );
      const worst = worstError(await out.data(), referenceMatMul(a, b, dims, ta, tb), 1e-4, 1e-4);
      assert(worst <= 1, `matMul ${ta} ${tb} off by ${worst}× (seed ${seed})`);
    }

    const [rows, vocabSize] = [11, 37];
    const logits = randomNormal(rows * vocabSize, random, 3);
    const labels = Int32Array.from(
      { length: rows },
      (_, r) => r === 4 ? -100 : (r * 7) % vocabSize,
    );
    const expected = referenceCrossEntropy(logits, labels, vocabSize, -100);
    const x = tf.tensor2d(logits, [rows, vocabSize]);
    const y = tf.tensor1d(labels, "int32");
    const { value, grads } = tf.valueAndGrads((l: tf.Tensor) =>
      sparseSoftmaxCrossEntropy(l as tf.Tensor2D, y)
    )([x]);
    assert(Math.abs((await value.data())[0] - expected.loss) < 1e-4, `loss (seed ${seed})`);
    assert(worstError(await grads[0].data(), expected.grad, 1e-5, 1e-3) <= 1, `loss grad`);

    const values = randomNormal(200, random, 2);
    const gelu = await geluNew(tf.tensor1d(values)).data();
    const geluExpected = Array.from(
      values,
      (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))),
    );
    assert(worstError(gelu, geluExpected, 1e-5, 1e-4) <= 1, `gelu (seed ${seed})`);

    const normed = await layerNorm(
      tf.tensor2d(values, [10, 20]),
      tf.ones([20]),
      tf.zeros([20]),
      1e-5,
    )
      .data();
    for (let r = 0; r < 10; r++) {
      const row = Array.from(normed.slice(r * 20, r * 20 + 20));
      const mean = row.reduce((s, v) => s + v, 0) / 20;
      const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / 20;
      assert(Math.abs(mean) < 1e-4 && Math.abs(variance - 1) < 1e-3, `layerNorm row ${r}`);
    }

    const table = tf.tensor2d(randomNormal(5 * 3, random), [5, 3]);
    const ids = tf.tensor1d([1, 1, 4], "int32");
    const embeddingGrad = await tf.grad((t: tf.Tensor) => tf.sum(tf.gather(t, ids)))(table).data();
    assert(
      JSON.stringify(Array.from(embeddingGrad)) ===
        JSON.stringify([0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 0, 0, 1, 1, 1]),
      `embedding grad ${embeddingGrad}`,
    );
    await initEngine({ backend: "cpu" });
  },
});
