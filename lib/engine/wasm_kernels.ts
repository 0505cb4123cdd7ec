/**
 * Replacements for stock wasm kernels that profiling of a GPT-2 training step showed to be slow:
 * `Identity` (copied every saved tensor; now shares storage like `Reshape`), `Slice` and `SplitV`
 * (copied the whole input out of the heap before slicing), `Sum` over leading or trailing axes
 * (transposed first), `Pow` by a small integer (generic pow) and `Tanh`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, runStock, stockKernel } from "./stock_kernels.ts";
import { valuesOf } from "./heap.ts";
import { tanhFloat32 } from "./tanh.ts";

type WasmBackend = {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  incRef(dataId: unknown): void;
};

const numeric = (dtype: tf.DataType) => dtype === "float32" || dtype === "int32";

function identity(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs;
  if (!numeric(x.dtype) && x.dtype !== "bool") return runStock(tf.Identity, args) as tf.TensorInfo;
  // Tensors are immutable and the wasm backend reference-counts storage, so sharing is safe.
  (args.backend as WasmBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Copies the box `begin`/`size` of `x` into a new tensor, one contiguous inner run at a time. */
function sliceInto(
  backend: WasmBackend,
  x: tf.TensorInfo,
  begin: number[],
  size: number[],
): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  const source = valuesOf(backend, x);
  const target = valuesOf(backend, out);
  const rank = x.shape.length;
  const strides = tf.util.computeStrides(x.shape);
  // Merge the trailing axes that are taken whole into one contiguous run.
  let run = 1;
  let axis = rank - 1;
  while (axis >= 0 && begin[axis] === 0 && size[axis] === x.shape[axis]) run *= size[axis--];
  if (axis < 0) {
    target.set(source.subarray(0, run));
    return out;
  }
  run *= size[axis];
  const outerAxes = axis; // axes 0..axis-1 are iterated, axis itself is part of the run
  const index = new Array(outerAxes).fill(0);
  const runs = size.slice(0, outerAxes).reduce((a, b) => a * b, 1);
  let written = 0;
  for (let r = 0; r < runs; r++) {
    let offset = begin[axis] * (axis < rank - 1 ? strides[axis] : 1);
    for (let d = 0; d < outerAxes; d++) offset += (begin[d] + index[d]) * strides[d];
    target.set(source.subarray(offset, offset + run), written);
    written += run;
    for (let d = outerAxes - 1; d >= 0; d--) {
      if (++index[d] < size[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

function slice(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs;
  if (!numeric(x.dtype)) return runStock(tf.Slice, args) as tf.TensorInfo;
  const [begin, size] = tf.slice_util.parseSliceParams(
    x as unknown as tf.Tensor,
    args.attrs!.begin as number[],
    args.attrs!.size as number[],
  );
  return sliceInto(args.backend as WasmBackend, x, begin, size);
}

function splitV(args: KernelArgs): tf.TensorInfo[] {
  const { x } = args.inputs;
  if (!numeric(x.dtype)) return runStock(tf.SplitV, args) as tf.TensorInfo[];
  const axis = tf.util.parseAxisParam(args.attrs!.axis as number, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(
    x as unknown as tf.Tensor,
    args.attrs!.numOrSizeSplits as number[] | number,
    axis,
  );
  const begin = new Array(x.shape.length).fill(0);
  const size = [...x.shape];
  return sizes.map((s) => {
    size[axis] = s;
    const out = sliceInto(args.backend as WasmBackend, x, [...begin], [...size]);
    begin[axis] += s;
    return out;
  });
}

function sum(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs;
  if (x.dtype !== "float32") return runStock(tf.Sum, args) as tf.TensorInfo;
  const axes = tf.util.parseAxisParam(args.attrs!.axis as number | number[], x.shape).sort((a, b) =>
    a - b
  );
  const rank = x.shape.length;
  const leading = axes.every((a, i) => a === i);
  const trailing = axes.every((a, i) => a === rank - axes.length + i);
  if (axes.length === 0 || (!leading && !trailing)) return runStock(tf.Sum, args) as tf.TensorInfo;
  const keptShape = x.shape.filter((_, i) => !axes.includes(i));
  const outShape = args.attrs!.keepDims
    ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
    : keptShape;
  const backend = args.backend as WasmBackend;
  const out = backend.makeOutput(outShape, "float32");
  const source = valuesOf(backend, x) as Float32Array;
  const target = valuesOf(backend, out) as Float32Array;
  const reduced = axes.reduce((n, a) => n * x.shape[a], 1);
  const kept = keptShape.reduce((a, b) => a * b, 1);
  if (trailing) {
    // rows of `reduced` contiguous values; float64 accumulation keeps long sums accurate
    for (let r = 0; r < kept; r++) {
      let acc = 0;
      const base = r * reduced;
      for (let j = 0; j < reduced; j++) acc += source[base + j];
      target[r] = acc;
    }
  } else {
    const acc = new Float64Array(kept);
    for (let r = 0; r < reduced; r++) {
      const base = r * kept;
      for (let j = 0; j < kept; j++) acc[j] += source[base + j];
    }
    target.set(acc);
  }
  return out;
}

/** x² and x³ as one or two wasm SIMD multiplies (0.3 ms per 2M floats) instead of generic pow. */
function pow(args: KernelArgs): tf.TensorInfo {
  const { a, b } = args.inputs;
  const exponentSize = b.shape.reduce((m, n) => m * n, 1);
  if (a.dtype !== "float32" || b.dtype !== "float32" || exponentSize !== 1) {
    return runStock(tf.Pow, args) as tf.TensorInfo;
  }
  const backend = args.backend as WasmBackend & { disposeData(dataId: unknown): boolean };
  const exponent = valuesOf(backend, b)[0];
  if ((exponent !== 2 && exponent !== 3) || b.shape.length > a.shape.length) {
    return runStock(tf.Pow, args) as tf.TensorInfo;
  }
  const multiply = (x: tf.TensorInfo, y: tf.TensorInfo) =>
    runStock(tf.Multiply, { inputs: { a: x, b: y }, backend }) as tf.TensorInfo;
  const square = multiply(a, a);
  if (exponent === 2) return square;
  const cube = multiply(square, a);
  backend.disposeData(square.dataId);
  return cube;
}

function tanh(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs;
  if (x.dtype !== "float32") return runStock(tf.Tanh, args) as tf.TensorInfo;
  const backend = args.backend as WasmBackend;
  const out = backend.makeOutput(x.shape, "float32");
  const source = valuesOf(backend, x) as Float32Array;
  const target = valuesOf(backend, out) as Float32Array;
  for (let i = 0; i < source.length; i++) target[i] = tanhFloat32(source[i]);
  return out;
}

/** Row gather with block copies (stock wasm copies element by element: 14 ms for 2,048 × 256). */
function gatherV2(args: KernelArgs): tf.TensorInfo {
  const { x, indices } = args.inputs;
  const batchDims = (args.attrs!.batchDims as number | undefined) ?? 0;
  if (!numeric(x.dtype) || batchDims !== 0) return runStock(tf.GatherV2, args) as tf.TensorInfo;
  const axis = tf.util.parseAxisParam(args.attrs!.axis as number, x.shape)[0];
  const outer = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const axisSize = x.shape[axis];
  const count = indices.shape.reduce((a, b) => a * b, 1);
  const backend = args.backend as WasmBackend;
  const out = backend.makeOutput(
    [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)],
    x.dtype,
  );
  const source = valuesOf(backend, x);
  const target = valuesOf(backend, out);
  const ids = valuesOf(backend, indices);
  let written = 0;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < count; i++) {
      const index = ids[i];
      if (!(index >= 0 && index < axisSize)) {
        throw new RangeError(`gather: index ${index} is outside [0, ${axisSize - 1}]`);
      }
      const from = (o * axisSize + index) * inner;
      target.set(source.subarray(from, from + inner), written);
      written += inner;
    }
  }
  return out;
}

const replacements: [string, (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]][] = [
  [tf.GatherV2, gatherV2],
  [tf.Identity, identity],
  [tf.Slice, slice],
  [tf.SplitV, splitV],
  [tf.Sum, sum],
  [tf.Pow, pow],
  [tf.Tanh, tanh],
];

/** Installs the faster kernels on the `wasm` backend (idempotent). */
export function installWasmKernels(): void {
  for (const [kernelName, kernelFunc] of replacements) {
    const config = stockKernel(kernelName);
    tf.unregisterKernel(kernelName, "wasm");
    tf.registerKernel({ ...config, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
}
