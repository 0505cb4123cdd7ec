/**
 * Memory accounting: peak engine tensor bytes, device bytes where the backend reports them, and
 * peak process RSS over a region.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** Peak memory seen over a measured region. */
export interface PeakMemory {
  /** Largest sum of live tensor bytes tracked by the tfjs engine. */
  peakTensorBytes: number;
  /** Largest resident set size of the whole process. */
  peakRssBytes: number;
  /** Largest device (GPU) bytes, when the backend reports them (webgpu, webgl). */
  peakDeviceBytes?: number;
}

/** Samples every `intervalMs` by default; a step that blocks the event loop needs `sample()` calls. */
export const defaultSampleIntervalMs = 50;

/**
 * Tracks peak memory from construction until {@link MemoryMeter.stop}. A timer samples while the
 * event loop runs; synchronous code (a training step) should call {@link MemoryMeter.sample} at
 * the points where memory peaks, e.g. right after computing gradients.
 */
export class MemoryMeter {
  #peak: PeakMemory = { peakTensorBytes: 0, peakRssBytes: 0 };
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Starts measuring; `intervalMs` ≤ 0 turns the timer off (manual `sample()` only). */
  constructor(intervalMs: number = defaultSampleIntervalMs) {
    this.sample();
    if (intervalMs > 0) {
      const timer = setInterval(() => this.sample(), intervalMs);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** Records current tensor, device and RSS usage into the peaks. */
  sample(): void {
    const info = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
    this.#peak.peakTensorBytes = Math.max(this.#peak.peakTensorBytes, info.numBytes);
    this.#peak.peakRssBytes = Math.max(this.#peak.peakRssBytes, Deno.memoryUsage().rss);
    if (typeof info.numBytesInGPU === "number") {
      this.#peak.peakDeviceBytes = Math.max(this.#peak.peakDeviceBytes ?? 0, info.numBytesInGPU);
    }
  }

  /** Takes a last sample, stops the timer and returns the peaks. */
  stop(): PeakMemory {
    this.sample();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    return { ...this.#peak };
  }
}
