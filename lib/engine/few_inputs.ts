/**
 * Joining many small tensors with kernels of few inputs each. On webgpu every kernel input is a
 * storage-buffer binding, and tfjs-webgpu 4.22's AddN, Concat and Stack silently drop the inputs
 * past the adapter's binding limit (Mesa lavapipe: 12 scalars summed to the last one alone, a
 * stack of 12 kept 7). These helpers never give one kernel more than `maxKernelInputs`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** Inputs per kernel, well under any adapter's storage-buffer limit (WebGPU guarantees 8). */
const maxKernelInputs = 4;

/** `tensors[0] + tensors[1] + …` added in order (as AddN does on the CPU), as a new tensor. */
export function sumInOrder<T extends tf.Tensor>(tensors: T[]): T {
  if (tensors.length === 0) throw new RangeError("sumInOrder: no tensors");
  return tf.tidy(() => {
    let total: tf.Tensor = tf.add(tensors[0], 0);
    for (let i = 1; i < tensors.length; i++) total = tf.add(total, tensors[i]);
    return total as T;
  });
}

/** The scalars as one 1-D tensor `[n]`, in order, so that one read-back fetches them all. */
export function concatScalars(scalars: tf.Scalar[]): tf.Tensor1D {
  if (scalars.length === 0) throw new RangeError("concatScalars: no scalars");
  return tf.tidy(() => {
    let parts: tf.Tensor1D[] = scalars.map((s) => tf.reshape(s, [1]) as tf.Tensor1D);
    while (parts.length > 1) {
      const joined: tf.Tensor1D[] = [];
      for (let i = 0; i < parts.length; i += maxKernelInputs) {
        const group = parts.slice(i, i + maxKernelInputs);
        joined.push(group.length === 1 ? group[0] : tf.concat(group) as tf.Tensor1D);
      }
      parts = joined;
    }
    return parts[0];
  });
}
