/**
 * What every kernel replacement shares: the arguments tfjs passes to a kernel, and the stock wasm
 * kernels remembered before the first replacement so a replacement can fall back to them.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** The arguments tfjs passes to a kernel function. */
export type KernelArgs = {
  inputs: Record<string, tf.TensorInfo>;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
};

const stockKernels = new Map<string, tf.KernelConfig>();

/**
 * The kernel tfjs registered for `wasm` under `kernelName`, as it was before peftlab replaced it.
 * Throws when the wasm backend has no such kernel.
 */
export function stockKernel(kernelName: string): tf.KernelConfig {
  let config = stockKernels.get(kernelName);
  if (config == null) {
    config = tf.getKernel(kernelName, "wasm");
    if (config == null) throw new Error(`wasm backend has no ${kernelName} kernel`);
    stockKernels.set(kernelName, config);
  }
  return config;
}

/** Runs the stock wasm kernel `kernelName` on `args`. */
export function runStock(kernelName: string, args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  return stockKernel(kernelName).kernelFunc(args as never) as tf.TensorInfo | tf.TensorInfo[];
}
