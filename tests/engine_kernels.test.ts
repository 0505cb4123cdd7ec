import * as tf from "@tensorflow/tfjs-core";
import { assert } from "./asserts.ts";
import { initEngine, loadBlas } from "../lib/engine/mod.ts";
import {
  freshSeed,
  randomNormal,
  referenceMatMul,
  seededRandom,
  worstError,
} from "./engine_reference.ts";

const cpuBackends = ["cpu", "wasm", ...(loadBlas() ? ["blas" as const] : [])] as const;
const absoluteTolerance = 1e-4;
const relativeTolerance = 1e-4;

const matMulCases = [
  { batchA: 1, batchB: 1, m: 33, n: 17, k: 65 },
  { batchA: 3, batchB: 3, m: 8, n: 12, k: 5 },
  { batchA: 4, batchB: 1, m: 9, n: 7, k: 11 }, // activations × shared weight
  { batchA: 1, batchB: 2, m: 6, n: 5, k: 4 },
];

for (const backend of cpuBackends) {
  for (const transposeA of [false, true]) {
    for (const transposeB of [false, true]) {
      Deno.test(`matMul (${backend}, transposeA=${transposeA}, transposeB=${transposeB}): matches float64 on random batched inputs`, async () => {
        await initEngine({ backend });
        for (const dims of matMulCases) {
          const seed = freshSeed();
          const random = seededRandom(seed);
          const { batchA, batchB, m, n, k } = dims;
          const a = randomNormal(batchA * m * k, random);
          const b = randomNormal(batchB * k * n, random);
          const expected = referenceMatMul(a, b, dims, transposeA, transposeB);
          const got = tf.tidy(() => {
            const at = tf.tensor3d(a, transposeA ? [batchA, k, m] : [batchA, m, k]);
            const bt = tf.tensor3d(b, transposeB ? [batchB, n, k] : [batchB, k, n]);
            const out = tf.matMul(at, bt, transposeA, transposeB);
            assert(
              out.shape.join() === [Math.max(batchA, batchB), m, n].join(),
              `shape ${out.shape}`,
            );
            return out.dataSync();
          });
          const worst = worstError(got, expected, absoluteTolerance, relativeTolerance);
          assert(worst <= 1, `${JSON.stringify(dims)} off by ${worst}× tolerance (seed ${seed})`);
        }
      });
    }
  }

  Deno.test(`fused matMul (${backend}): bias and relu match float64`, async () => {
    await initEngine({ backend });
    const seed = freshSeed();
    const random = seededRandom(seed);
    const [m, n, k] = [23, 19, 31];
    const a = randomNormal(m * k, random);
    const b = randomNormal(n * k, random);
    const bias = randomNormal(n, random);
    for (const activation of ["linear", "relu"] as const) {
      const product = referenceMatMul(a, b, { batchA: 1, batchB: 1, m, n, k }, false, true);
      const expected = product.map((v, i) => {
        const withBias = v + bias[i % n];
        return activation === "relu" ? Math.max(0, withBias) : withBias;
      });
      const got = tf.tidy(() =>
        tf.fused.matMul({
          a: tf.tensor2d(a, [m, k]),
          b: tf.tensor2d(b, [n, k]),
          transposeB: true,
          bias: tf.tensor1d(bias),
          activation,
        }).dataSync()
      );
      const worst = worstError(got, expected, absoluteTolerance, relativeTolerance);
      assert(worst <= 1, `${activation} off by ${worst}× tolerance (seed ${seed})`);
    }
  });

  Deno.test(`embedding gradient (${backend}): gather's gradient scatter-adds rows, repeats included`, async () => {
    await initEngine({ backend });
    const seed = freshSeed();
    const random = seededRandom(seed);
    const [vocabSize, width, tokens] = [13, 6, 40];
    const table = randomNormal(vocabSize * width, random);
    const ids = Int32Array.from({ length: tokens }, () => Math.floor(random() * vocabSize));
    const upstream = randomNormal(tokens * width, random);
    const expected = new Float64Array(vocabSize * width);
    for (let t = 0; t < tokens; t++) {
      for (let j = 0; j < width; j++) expected[ids[t] * width + j] += upstream[t * width + j];
    }
    const got = tf.tidy(() => {
      const w = tf.tensor2d(table, [vocabSize, width]);
      const idsTensor = tf.tensor1d(ids, "int32");
      const dy = tf.tensor2d(upstream, [tokens, width]);
      return tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.gather(x, idsTensor), dy)))(w).dataSync();
    });
    const worst = worstError(got, expected, 1e-5, 1e-5);
    assert(worst <= 1, `off by ${worst}× tolerance (seed ${seed})`);
  });

  Deno.test(`unsortedSegmentSum (${backend}): drops out-of-range ids and sums int32`, async () => {
    await initEngine({ backend });
    const got = tf.tidy(() =>
      tf.unsortedSegmentSum(
        tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], "int32"),
        tf.tensor1d([2, -1, 2], "int32"),
        3,
      )
        .arraySync()
    );
    assert(JSON.stringify(got) === JSON.stringify([[0, 0], [0, 0], [6, 8]]), JSON.stringify(got));
  });
}
