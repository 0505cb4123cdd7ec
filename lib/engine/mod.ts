/**
 * The tensor engine: TensorFlow.js backend choice (`auto`, `blas`, `wasm`, `cpu`, `webgpu`,
 * `tensorflow`), the kernels GPT-2 training needs, and memory accounting. Call
 * {@link initEngine} once before computing.
 *
 * @module
 */
export { backendNames, initEngine } from "./backends.ts";
export type { BackendName, EngineInfo, EngineOptions } from "./backends.ts";
export {
  adapterMetrics,
  adapterSummary,
  describeAdapter,
  gpuEnvironment,
  probeWebGpuAdapter,
  webGpuFix,
} from "./gpu_adapter.ts";
export type { GpuAdapterInfo, GpuEnvironment } from "./gpu_adapter.ts";
export { sparseSoftmaxCrossEntropy } from "./loss.ts";
export { geluNew, layerNorm } from "./fused.ts";
export { withoutTape } from "./no_tape.ts";
export { concatScalars, sumInOrder } from "./few_inputs.ts";
export {
  defaultSampleIntervalMs,
  MemoryMeter,
  tensorStorageLimit,
  wasmHeapMaxBytes,
} from "./memory.ts";
export type { PeakMemory } from "./memory.ts";
export { BackendError } from "./errors.ts";
export { blasPathVariable, loadBlas } from "./blas.ts";
export type { BlasLibrary, Sgemm } from "./blas.ts";
