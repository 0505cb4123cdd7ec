/**
 * The one memory meter of training and evaluation: the exact peak of live tensor storage (every
 * allocation and free is seen, also inside synchronous kernels and back-propagation), the peak
 * of the device's allocated bytes where the backend has a device (webgpu: tfjs's GPU buffers,
 * its reuse pool included), and the sampled peak of the process's resident set.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** Peak memory seen over a measured region. */
export interface PeakMemory {
  /**
   * Exact peak of live tensor storage: each buffer counted once (not once per handle that shares
   * it), tracked at every allocation and free. Tensors alive when the meter starts are included.
   */
  peakTensorBytes: number;
  /** Largest resident set size of the whole process (sampled: timer and `sample()` calls). */
  peakRssBytes: number;
  /**
   * Largest device memory the backend had allocated (webgpu: GPU buffers in use plus tfjs's pool
   * of freed buffers kept for reuse); absent on backends without a device (cpu, blas, wasm).
   */
  peakDeviceBytes?: number;
}

/**
 * Largest wasm heap of tfjs's wasm build (wasm32: 4 GiB less one 64 KiB page), which holds every
 * tensor on the `wasm` and `blas` backends; growing past it aborts the process's wasm module.
 */
export const wasmHeapMaxBytes = 4_294_901_760;

/**
 * The most tensor storage the current backend can hold, bytes, with its name for messages; null
 * when the backend sets no limit of its own (cpu: the process's memory; webgpu: the device's).
 */
export function tensorStorageLimit(): { bytes: number; name: string } | null {
  const backend = tf.backend() as unknown;
  if (typeof backend === "object" && backend !== null && "wasm" in backend) {
    return { bytes: wasmHeapMaxBytes, name: `the ${tf.getBackend()} backend's wasm heap` };
  }
  return null;
}

/** Samples RSS every `intervalMs` by default; synchronous code needs `sample()` calls for RSS. */
export const defaultSampleIntervalMs = 50;

/** The parts of tfjs's engine that account for tensor storage. */
interface EngineAccounting {
  state: { numBytes: number; tensorInfo: WeakMap<object, { bytes: number }> };
  backend: { memory(): { numBytesAllocatedInGPU?: number; numBytesInGPU?: number } };
  trackTensor(tensor: tf.Tensor, backend: unknown): void;
  disposeTensor(tensor: tf.Tensor): void;
}

const runningMeters = new Set<MemoryMeter>();
let stockAccounting: Pick<EngineAccounting, "trackTensor" | "disposeTensor"> | undefined;

/** Device bytes the backend has allocated now, pool included; undefined without a device. */
function deviceBytesNow(engine: EngineAccounting): number | undefined {
  const info = engine.backend.memory();
  return info.numBytesAllocatedInGPU ?? info.numBytesInGPU;
}

/**
 * Routes tfjs's tensor accounting through the running meters. tfjs's own `numBytes` counts every
 * tensor handle, so a buffer shared by a reshape, an `Identity` or a tensor saved for backprop is
 * counted once per handle (about twice the storage inside back-propagation); here a buffer counts
 * once, when it is allocated and when its last handle goes.
 */
function installAccounting(engine: EngineAccounting): void {
  const stock = { trackTensor: engine.trackTensor, disposeTensor: engine.disposeTensor };
  stockAccounting = stock;
  engine.trackTensor = function (this: EngineAccounting, tensor, backend) {
    const isNewBuffer = !this.state.tensorInfo.has(tensor.dataId);
    stock.trackTensor.call(this, tensor, backend);
    if (!isNewBuffer) return;
    const bytes = this.state.tensorInfo.get(tensor.dataId)?.bytes ?? 0;
    for (const meter of runningMeters) meter.allocated(bytes, this);
  };
  engine.disposeTensor = function (this: EngineAccounting, tensor) {
    const info = this.state.tensorInfo.get(tensor.dataId);
    stock.disposeTensor.call(this, tensor);
    if (info && !this.state.tensorInfo.has(tensor.dataId)) {
      for (const meter of runningMeters) meter.allocated(-info.bytes, this);
    }
  };
}

/**
 * Measures peak memory from construction until {@link MemoryMeter.stop} (see {@link PeakMemory}
 * for what each figure means). Tensor and device peaks are exact; RSS is sampled by a timer while
 * the event loop runs and at {@link MemoryMeter.sample} calls. Always call `stop()`: it restores
 * tfjs's accounting once no meter runs.
 */
export class MemoryMeter {
  #liveTensorBytes: number;
  #peak: PeakMemory;
  readonly #hasDevice: boolean;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  /** Starts measuring; `intervalMs` ≤ 0 turns the RSS timer off (manual `sample()` only). */
  constructor(intervalMs: number = defaultSampleIntervalMs) {
    const engine = tf.engine() as unknown as EngineAccounting;
    this.#liveTensorBytes = engine.state.numBytes;
    this.#hasDevice = deviceBytesNow(engine) !== undefined;
    this.#peak = { peakTensorBytes: this.#liveTensorBytes, peakRssBytes: 0 };
    if (runningMeters.size === 0) installAccounting(engine);
    runningMeters.add(this);
    this.sample();
    if (intervalMs > 0) {
      const timer = setInterval(() => this.sample(), intervalMs);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** Live tensor storage now, bytes (each buffer once). */
  get liveTensorBytes(): number {
    return this.#liveTensorBytes;
  }

  #windowPeakBytes = 0;

  /**
   * Runs `work` and returns its result with the peak of live tensor storage during it, bytes
   * (what was alive when it started included).
   */
  peakDuring<T>(work: () => T): { result: T; peakBytes: number } {
    const outer = this.#windowPeakBytes;
    this.#windowPeakBytes = this.#liveTensorBytes;
    try {
      const result = work();
      return { result, peakBytes: this.#windowPeakBytes };
    } finally {
      this.#windowPeakBytes = Math.max(outer, this.#windowPeakBytes);
    }
  }

  /** Called by the engine hooks: `bytes` of tensor storage came (> 0) or went (< 0). */
  allocated(bytes: number, engine: EngineAccounting): void {
    this.#liveTensorBytes += bytes;
    if (this.#liveTensorBytes > this.#windowPeakBytes) {
      this.#windowPeakBytes = this.#liveTensorBytes;
    }
    if (this.#liveTensorBytes > this.#peak.peakTensorBytes) {
      this.#peak.peakTensorBytes = this.#liveTensorBytes;
    }
    if (this.#hasDevice && bytes > 0) this.#sampleDevice(engine);
  }

  #sampleDevice(engine: EngineAccounting): void {
    const device = deviceBytesNow(engine);
    if (device !== undefined) {
      this.#peak.peakDeviceBytes = Math.max(this.#peak.peakDeviceBytes ?? 0, device);
    }
  }

  /** Records the process's RSS (and device bytes) now into the peaks. */
  sample(): void {
    this.#peak.peakRssBytes = Math.max(this.#peak.peakRssBytes, Deno.memoryUsage().rss);
    if (this.#hasDevice) this.#sampleDevice(tf.engine() as unknown as EngineAccounting);
  }

  /** Takes a last sample, stops measuring and returns the peaks; later calls return the same. */
  stop(): PeakMemory {
    if (!this.#stopped) {
      this.sample();
      this.#stopped = true;
      if (this.#timer !== undefined) clearInterval(this.#timer);
      runningMeters.delete(this);
      if (runningMeters.size === 0 && stockAccounting) {
        Object.assign(tf.engine(), stockAccounting);
        stockAccounting = undefined;
      }
    }
    return { ...this.#peak };
  }
}
