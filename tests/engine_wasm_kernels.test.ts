import * as tf from "@tensorflow/tfjs-core";
import { assert } from "./asserts.ts";
import { initEngine } from "../lib/engine/mod.ts";
import { freshSeed, randomNormal, seededRandom, worstError } from "./engine_reference.ts";

/** Runs `f` on the cpu backend (stock kernels, the reference) and on wasm; returns both results. */
async function onBoth(f: () => tf.Tensor | tf.Tensor[]): Promise<[Float32Array[], Float32Array[]]> {
  const run = () =>
    tf.tidy(() => {
      const out = f();
      return (Array.isArray(out) ? out : [out]).map((t) => Float32Array.from(t.dataSync()));
    });
  await initEngine({ backend: "cpu" });
  const reference = run();
  await initEngine({ backend: "wasm" });
  return [run(), reference];
}

function assertClose(actual: Float32Array[], expected: Float32Array[], what: string): void {
  assert(actual.length === expected.length, `${what}: ${actual.length} outputs`);
  actual.forEach((a, i) => {
    const worst = worstError(a, expected[i], 1e-6, 1e-5);
    assert(worst <= 1, `${what}: output ${i} off by ${worst}× tolerance`);
  });
}

Deno.test("wasm kernels: slice and split of inner, outer and middle axes match the cpu backend", async () => {
  const seed = freshSeed();
  const values = randomNormal(3 * 5 * 7 * 4, seededRandom(seed));
  const x = () => tf.tensor4d(values, [3, 5, 7, 4]);
  for (
    const [begin, size] of [
      [[0, 0, 0, 0], [3, 5, 7, 4]],
      [[1, 0, 0, 0], [2, 5, 7, 4]],
      [[0, 1, 2, 0], [3, 3, 4, 4]],
      [[2, 4, 6, 3], [1, 1, 1, 1]],
      [[0, 0, 0, 1], [3, 5, 7, 2]],
    ]
  ) {
    const [got, want] = await onBoth(() => tf.slice(x(), begin, size));
    assertClose(got, want, `slice ${begin} ${size} (seed ${seed})`);
  }
  for (const axis of [0, 1, 2, 3]) {
    const [got, want] = await onBoth(() =>
      tf.split(x(), axis === 1 ? [2, 3] : axis === 3 ? 2 : 1, axis)
    );
    assertClose(got, want, `split axis ${axis} (seed ${seed})`);
  }
});

Deno.test("wasm kernels: sums over leading, trailing and middle axes match float64", async () => {
  const seed = freshSeed();
  const values = randomNormal(6 * 5 * 4, seededRandom(seed));
  for (
    const [axis, keepDims] of [[0, false], [[0, 1], true], [2, false], [[1, 2], false], [
      1,
      true,
    ]] as const
  ) {
    const [got, want] = await onBoth(() =>
      tf.sum(tf.tensor3d(values, [6, 5, 4]), axis as number, keepDims)
    );
    assertClose(got, want, `sum axis ${axis} (seed ${seed})`);
  }
});

Deno.test("wasm kernels: pow by 2 and 3, other exponents, and tanh match the cpu backend", async () => {
  const seed = freshSeed();
  const values = randomNormal(1000, seededRandom(seed), 4);
  for (const exponent of [2, 3, 0.5, 4]) {
    const [got, want] = await onBoth(() => tf.pow(tf.abs(tf.tensor1d(values)), exponent));
    assertClose(got, want, `pow ${exponent} (seed ${seed})`);
  }
  const [got, want] = await onBoth(() =>
    tf.tanh(tf.tensor1d([...values, 0, 1e-8, -30, 30, 400, -400]))
  );
  assertClose(got, want, `tanh (seed ${seed})`);
  // relative accuracy near 0, where 1 ± tanh style formulas lose digits
  const small = [1e-7, -3e-5, 3.9e-4, 4.1e-4, -0.02, 0.0625, 0.1, -0.3, 7.9, -7.91];
  await initEngine({ backend: "wasm" });
  const smallTanh = tf.tidy(() => tf.tanh(tf.tensor1d(small)).dataSync());
  const worst = worstError(smallTanh, small.map(Math.tanh), 1e-30, 1e-6);
  assert(worst <= 1, `tanh of small values off by ${worst}× a 1e-6 relative tolerance`);
});

Deno.test("wasm kernels: clone shares storage yet both handles survive the other's disposal", async () => {
  await initEngine({ backend: "wasm" });
  const a = tf.tensor1d([1, 2, 3]);
  const b = tf.clone(a);
  a.dispose();
  assert(JSON.stringify(Array.from(b.dataSync())) === "[1,2,3]");
  const c = tf.clone(b);
  c.dispose();
  assert(JSON.stringify(Array.from(b.dataSync())) === "[1,2,3]");
  b.dispose();
});

Deno.test("wasm kernels: gather along each axis matches the cpu backend; bad indices throw", async () => {
  const seed = freshSeed();
  const values = randomNormal(4 * 6 * 3, seededRandom(seed));
  for (const axis of [0, 1, 2]) {
    const ids = [[2, 0], [1, 2]];
    const [got, want] = await onBoth(() =>
      tf.gather(tf.tensor3d(values, [4, 6, 3]), tf.tensor2d(ids, [2, 2], "int32"), axis)
    );
    assertClose(got, want, `gather axis ${axis} (seed ${seed})`);
  }
  await initEngine({ backend: "wasm" });
  const table = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  const bad = tf.tensor1d([2], "int32");
  let threw = false;
  try {
    tf.gather(table, bad);
  } catch (error) {
    threw = error instanceof RangeError;
  }
  assert(threw, "an index past the table should throw RangeError");
  tf.dispose([table, bad]);
});
