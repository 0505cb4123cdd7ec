/** Learning-rate schedules: linear warmup, then linear, cosine or no decay (as in HF transformers). */

/** Shape of the decay after warmup. */
export type DecayShape = "linear" | "cosine" | "constant";

/** Everything a schedule needs. */
export interface ScheduleOptions {
  /** Peak learning rate, reached at the end of warmup. */
  learningRate: number;
  /** Optimizer steps of linear warmup from 0. */
  warmupSteps: number;
  /** Total optimizer steps of the run. */
  totalSteps: number;
  /** Decay after warmup. */
  decay: DecayShape;
}

/**
 * Learning rate for 0-based optimizer step `step`: `lr·step/warmup` during warmup, then
 * `lr·(total−step)/(total−warmup)` (linear), `lr·½(1+cos(π·progress))` (cosine) or `lr` (constant),
 * exactly as `get_linear_schedule_with_warmup` / `get_cosine_schedule_with_warmup`.
 */
export function learningRateAt(step: number, opts: ScheduleOptions): number {
  const { learningRate, warmupSteps, totalSteps, decay } = opts;
  if (step < warmupSteps) return learningRate * step / Math.max(1, warmupSteps);
  if (decay === "constant") return learningRate;
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  if (decay === "linear") return learningRate * Math.max(0, 1 - progress);
  return learningRate * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}
