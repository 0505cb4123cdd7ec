/**
 * Flattens a training result into stage metrics with the names the report reads, so pretrain and
 * every tuning method account for their cost the same way.
 *
 * @module
 */
import type { TrainProgress, TrainResult } from "../train/mod.ts";
import type { MetricValue } from "../run/types.ts";

/** The cost and curves of one training run as flat metrics. */
export function trainMetrics(result: TrainResult): Record<string, MetricValue> {
  const metrics: Record<string, MetricValue> = {
    trainableParams: result.trainableParams,
    totalParams: result.totalParams,
    trainSeconds: result.trainSeconds,
    validationSeconds: result.validationSeconds,
    checkpointSeconds: result.checkpointSeconds,
    trainTokens: result.trainTokens,
    tokensPerSecond: result.tokensPerSecond,
    steps: result.steps,
    epochs: result.epochs,
    validationLossCurve: result.validationLoss,
    validationLoss: result.bestValidationLoss,
    bestEpoch: result.bestEpoch,
    stoppedEarly: result.stoppedEarly,
    resumedFromStep: result.resumedFromStep,
    splitBatches: result.splitBatches,
    finalTrainLoss: result.trainLoss.at(-1) ?? NaN,
    peakTrainRssBytes: result.peakMemory.peakRssBytes,
    peakTrainTensorBytes: result.peakMemory.peakTensorBytes,
  };
  if (result.peakMemory.peakDeviceBytes !== undefined) {
    metrics.peakTrainDeviceBytes = result.peakMemory.peakDeviceBytes;
  }
  return metrics;
}

/** A progress callback for the trainer that drives the stage's progress line. */
export function trainProgress(
  progress: (done: number, total: number, message?: string) => void,
): (update: TrainProgress) => void {
  return (update) => {
    const eta = Number.isFinite(update.etaSeconds) ? ` eta ${Math.round(update.etaSeconds)}s` : "";
    const validation = update.validationLoss !== undefined
      ? ` val ${update.validationLoss.toFixed(4)}`
      : "";
    progress(
      update.step,
      update.totalSteps,
      `epoch ${update.epoch} loss ${update.loss.toFixed(4)}${validation} ` +
        `${Math.round(update.tokensPerSecond)} tok/s${eta}`,
    );
  };
}
