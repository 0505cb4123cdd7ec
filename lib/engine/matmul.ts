/**
 * Matrix-multiply kernels for the wasm heap: `BatchMatMul` and `_FusedMatMul` sent to the system
 * BLAS (the `blas` backend), and a "transpose first, then plain matMul" wrapper for the stock wasm
 * kernel, whose transposed-operand paths run 10–60× slower than its plain one.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, runStock, stockKernel } from "./stock_kernels.ts";
import type { BlasLibrary } from "./blas.ts";
import { valuesOf } from "./heap.ts";

type WasmBackend = {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: unknown): boolean;
};

function replaceKernel(kernelName: string, kernelFunc: (args: KernelArgs) => tf.TensorInfo): void {
  const stock = stockKernel(kernelName);
  tf.unregisterKernel(kernelName, "wasm");
  tf.registerKernel({ ...stock, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}

function runStockMatMul(kernelName: string, args: KernelArgs): tf.TensorInfo {
  return runStock(kernelName, args) as tf.TensorInfo;
}

interface MatMulShape {
  m: number;
  n: number;
  k: number;
  batchA: number;
  batchB: number;
  batch: number;
  outShape: number[];
}

function matMulShape(a: tf.TensorInfo, b: tf.TensorInfo, ta: boolean, tb: boolean): MatMulShape {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = ta ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = ta ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = tb ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = tb ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) {
    throw new Error(
      `matMul: inner sizes ${k} and ${kb} differ for [${a.shape}] and [${b.shape}] ` +
        `(transposeA=${ta}, transposeB=${tb})`,
    );
  }
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(
    a.shape.slice(0, -2),
    b.shape.slice(0, -2),
  );
  const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
  return {
    m,
    n,
    k,
    batchA: size(a.shape.slice(0, -2)),
    batchB: size(b.shape.slice(0, -2)),
    batch: size(outer),
    outShape: [...outer, m, n],
  };
}

/** True when every batch pairs a with b as whole matrices (equal batches or a single one). */
function blasCanBroadcast(s: MatMulShape): boolean {
  return (s.batchA === s.batch || s.batchA === 1) && (s.batchB === s.batch || s.batchB === 1);
}

/** out = op(a)·op(b) (+ out when accumulate) for every batch, as few sgemm calls as possible. */
function gemmInto(
  blas: BlasLibrary,
  s: MatMulShape,
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  ta: boolean,
  tb: boolean,
  accumulate: boolean,
): void {
  const { m, n, k } = s;
  const beta = accumulate ? 1 : 0;
  if (m === 0 || n === 0) return;
  if (k === 0) {
    if (!accumulate) out.fill(0);
    return;
  }
  const lda = ta ? m : k;
  const ldb = tb ? k : n;
  if (s.batchB === 1 && !ta && s.batchA === s.batch) {
    // [batch·m, k] · [k, n] in one call: the common "activations times shared weight" case.
    blas.sgemm(false, tb, s.batch * m, n, k, 1, a, lda, b, ldb, beta, out, n);
    return;
  }
  const aStride = s.batchA === 1 ? 0 : m * k;
  const bStride = s.batchB === 1 ? 0 : k * n;
  for (let i = 0; i < s.batch; i++) {
    blas.sgemm(
      ta,
      tb,
      m,
      n,
      k,
      1,
      a.subarray(i * aStride, i * aStride + m * k),
      lda,
      b.subarray(i * bStride, i * bStride + k * n),
      ldb,
      beta,
      out.subarray(i * m * n, (i + 1) * m * n),
      n,
    );
  }
}

function blasBatchMatMul(blas: BlasLibrary, args: KernelArgs): tf.TensorInfo {
  const { a, b } = args.inputs;
  const ta = Boolean(args.attrs!.transposeA);
  const tb = Boolean(args.attrs!.transposeB);
  const s = matMulShape(a, b, ta, tb);
  if (a.dtype !== "float32" || b.dtype !== "float32" || !blasCanBroadcast(s)) {
    return runStockMatMul(tf.BatchMatMul, args);
  }
  const backend = args.backend as WasmBackend;
  const out = backend.makeOutput(s.outShape, "float32");
  gemmInto(
    blas,
    s,
    valuesOf(backend, a) as Float32Array,
    valuesOf(backend, b) as Float32Array,
    valuesOf(backend, out) as Float32Array,
    ta,
    tb,
    false,
  );
  return out;
}

function blasFusedMatMul(blas: BlasLibrary, args: KernelArgs): tf.TensorInfo {
  const { a, b } = args.inputs;
  const bias = args.inputs.bias as tf.TensorInfo | undefined;
  const preluActivationWeights = args.inputs.preluActivationWeights as tf.TensorInfo | undefined;
  const ta = Boolean(args.attrs!.transposeA);
  const tb = Boolean(args.attrs!.transposeB);
  const activation = (args.attrs!.activation as string | undefined) ?? "linear";
  const s = matMulShape(a, b, ta, tb);
  const biasSize = bias == null ? 0 : bias.shape.reduce((x, y) => x * y, 1);
  const supported = a.dtype === "float32" && b.dtype === "float32" && blasCanBroadcast(s) &&
    preluActivationWeights == null && (activation === "linear" || activation === "relu") &&
    (bias == null || (bias.dtype === "float32" && (biasSize === s.n || biasSize === 1)));
  if (!supported) return runStockMatMul(tf._FusedMatMul, args);
  const backend = args.backend as WasmBackend;
  const out = backend.makeOutput(s.outShape, "float32");
  const outValues = valuesOf(backend, out) as Float32Array;
  if (bias != null) {
    const biasValues = valuesOf(backend, bias) as Float32Array;
    const rows = s.batch * s.m;
    if (biasSize === 1) outValues.fill(biasValues[0]);
    else for (let r = 0; r < rows; r++) outValues.set(biasValues, r * s.n);
  }
  gemmInto(
    blas,
    s,
    valuesOf(backend, a) as Float32Array,
    valuesOf(backend, b) as Float32Array,
    outValues,
    ta,
    tb,
    bias != null,
  );
  if (activation === "relu") {
    for (let i = 0; i < outValues.length; i++) if (outValues[i] < 0) outValues[i] = 0;
  }
  return out;
}

/**
 * Below this many rows of A, `transposeB` runs on the stock kernel instead of transposing B first.
 * Measured for B = [8192, 256] (the LM head): transposing B costs ~24 ms whatever A is; the stock
 * transposed kernel takes 4.6 ms for 1 row of A and 32 ms for 16 rows.
 */
const minRowsToTransposeB = 8;

/** Transposes the last two axes of `x` with the wasm Transpose kernel. */
function transposeLastTwo(x: tf.TensorInfo, backend: unknown): tf.TensorInfo {
  const rank = x.shape.length;
  const perm = [...Array(rank - 2).keys(), rank - 1, rank - 2];
  return tf.getKernel(tf.Transpose, "wasm")!.kernelFunc(
    { inputs: { x }, backend, attrs: { perm } } as never,
  ) as tf.TensorInfo;
}

/** Runs a stock wasm matmul kernel on operands transposed up front, so it takes its fast path. */
function transposeFirst(kernelName: string, args: KernelArgs): tf.TensorInfo {
  const ta = Boolean(args.attrs!.transposeA);
  const tb = Boolean(args.attrs!.transposeB);
  if (!ta && !tb) return runStockMatMul(kernelName, args);
  const rowsOfA = ta
    ? args.inputs.a.shape[args.inputs.a.shape.length - 1]
    : args.inputs.a.shape[args.inputs.a.shape.length - 2];
  if (!ta && rowsOfA < minRowsToTransposeB) {
    // Few output rows (generation): copying a big B costs more than the slow transposed kernel.
    return runStockMatMul(kernelName, args);
  }
  const backend = args.backend as WasmBackend;
  const a = ta ? transposeLastTwo(args.inputs.a, backend) : args.inputs.a;
  const b = tb ? transposeLastTwo(args.inputs.b, backend) : args.inputs.b;
  try {
    return runStockMatMul(kernelName, {
      ...args,
      inputs: { ...args.inputs, a, b },
      attrs: { ...args.attrs, transposeA: false, transposeB: false },
    });
  } finally {
    if (ta) backend.disposeData(a.dataId);
    if (tb) backend.disposeData(b.dataId);
  }
}

/**
 * Installs the matmul kernels on the `wasm` backend: BLAS ones when `blas` is given, otherwise the
 * stock kernels behind the transpose-first wrapper. Safe to call again to switch.
 */
export function installWasmMatMul(blas: BlasLibrary | null): void {
  if (blas != null) {
    replaceKernel(tf.BatchMatMul, (args) => blasBatchMatMul(blas, args));
    replaceKernel(tf._FusedMatMul, (args) => blasFusedMatMul(blas, args));
  } else {
    replaceKernel(tf.BatchMatMul, (args) => transposeFirst(tf.BatchMatMul, args));
    replaceKernel(tf._FusedMatMul, (args) => transposeFirst(tf._FusedMatMul, args));
  }
}
