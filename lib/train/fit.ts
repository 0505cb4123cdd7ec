/**
 * Fitting a training batch into the engine's tensor storage: when a micro-batch would not fit
 * (the wasm heap of the `blas` and `wasm` backends holds 4 GiB at most), it runs in parts whose
 * gradients are summed with the same weights, so the loss and the update are the same.
 */
import type { ModelShape } from "../peft/types.ts";
import { ConfigError } from "../config/errors.ts";

/** Share of the engine's limit a step plans to use; the rest absorbs estimate error and fragmentation. */
const usableShareOfLimit = 0.8;
const bytesPerFloat = 4;

/**
 * Tensor bytes one row of `positions` keeps alive in a training step, before any is measured: per
 * block that back-propagation records, the saved activations (about 12·C + 2·inner floats per
 * position and two nh·T attention maps), plus the logits, their softmax and gradient.
 */
function estimatedBytesPerRow(model: ModelShape, recordedBlocks: number, positions: number) {
  const C = model.nEmbd;
  const perBlock = positions * (12 * C + 8 * C) + 2 * model.nHead * positions * positions;
  return bytesPerFloat * (recordedBlocks * perBlock + 3 * positions * model.vocabSize);
}

/** How a training run fits its micro-batches into the engine's tensor storage. */
export class BatchFit {
  /** Micro-batches that ran in more than one part because they would not fit. */
  splitBatches = 0;
  /** Fewest rows a part has had; Infinity while nothing was split. */
  smallestPartRows = Infinity;
  #measuredBytesPerSlot = 0;

  /**
   * `limit` is the engine's tensor storage limit (null: none of its own, nothing is split);
   * `recordedBlocks` the blocks back-propagation records (those above the frozen ones).
   */
  constructor(
    readonly limit: { bytes: number; name: string } | null,
    readonly model: ModelShape,
    readonly recordedBlocks: number,
  ) {}

  /** Bytes one row of `positions` is expected to add: measured once seen, else estimated. */
  bytesPerRow(positions: number): number {
    const measured = this.#measuredBytesPerSlot * positions;
    return measured > 0
      ? measured
      : estimatedBytesPerRow(this.model, this.recordedBlocks, positions);
  }

  /**
   * Rows per part for a micro-batch of `rows` × `positions` while `liveBytes` are already held.
   * Throws ConfigError (one line: the need, the limit, what to change) when one row cannot fit.
   */
  rowsPerPart(rows: number, positions: number, liveBytes: number): number {
    if (!this.limit) return rows;
    const budget = this.limit.bytes * usableShareOfLimit - liveBytes;
    const perRow = this.bytesPerRow(positions);
    const fitting = Math.floor(budget / perRow);
    if (fitting < 1) {
      const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;
      throw new ConfigError(
        "training.batch_size",
        `one example of ${positions} positions needs about ${gb(perRow)} of tensor storage on ` +
          `top of ${gb(liveBytes)} held, but ${this.limit.name} holds ${gb(this.limit.bytes)}; ` +
          `lower max_input_tokens/max_output_tokens or train on a backend without this limit ` +
          `(settings.backend: cpu)`,
      );
    }
    if (fitting >= rows) return rows;
    this.splitBatches++;
    this.smallestPartRows = Math.min(this.smallestPartRows, fitting);
    return fitting;
  }

  /** Records what a part of `rows` × `positions` actually added at its peak, bytes. */
  measured(rows: number, positions: number, addedBytes: number): void {
    const perSlot = addedBytes / (rows * positions);
    this.#measuredBytesPerSlot = Math.max(this.#measuredBytesPerSlot, perSlot);
  }
}
