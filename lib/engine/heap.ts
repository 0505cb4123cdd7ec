/**
 * Raw access to tensor storage on the CPU-resident backends (`cpu`, `wasm`, `blas`), so kernels
 * written in TypeScript can read inputs and fill outputs without copies.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";

/** Element storage of a float32 or int32 tensor. */
export type TensorValues = Float32Array | Int32Array;

interface WasmLikeBackend {
  wasm: unknown;
  typedArrayFromHeap(info: tf.TensorInfo): TensorValues;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

interface CpuLikeBackend {
  data: { get(dataId: unknown): { values: TensorValues } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: TensorValues): tf.TensorInfo;
}

/** True when `backend` keeps tensors in a wasm heap (the `wasm` and `blas` backends). */
export function isWasmHeapBackend(backend: unknown): boolean {
  return typeof backend === "object" && backend !== null && "wasm" in backend &&
    "typedArrayFromHeap" in backend;
}

/**
 * Returns a live view of a tensor's elements. For wasm-heap backends the view is only valid until
 * the next allocation (the heap may grow), so take views after creating outputs.
 */
export function valuesOf(backend: unknown, info: tf.TensorInfo): TensorValues {
  if (isWasmHeapBackend(backend)) return (backend as WasmLikeBackend).typedArrayFromHeap(info);
  return (backend as CpuLikeBackend).data.get(info.dataId).values;
}

/**
 * Allocates an output tensor on a cpu or wasm-heap backend, zero-filled unless `zeroFill` is false
 * (for kernels that write every element).
 */
export function allocate(
  backend: unknown,
  shape: number[],
  dtype: "float32" | "int32",
  zeroFill = true,
): tf.TensorInfo {
  if (isWasmHeapBackend(backend)) {
    const info = (backend as WasmLikeBackend).makeOutput(shape, dtype);
    if (zeroFill) (backend as WasmLikeBackend).typedArrayFromHeap(info).fill(0);
    return info;
  }
  const size = shape.reduce((a, b) => a * b, 1);
  const values = dtype === "float32" ? new Float32Array(size) : new Int32Array(size);
  return (backend as CpuLikeBackend).makeTensorInfo(shape, dtype, values);
}
