/**
 * Where a run starts and what it leaves for a resumed one: the fresh state, resuming from a
 * checkpoint written by an identical run, and writing one.
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { AppliedMethod } from "../peft/types.ts";
import type { TrainingExample } from "./batch.ts";
import { readCheckpoint, type TrainState, writeCheckpoint } from "./checkpoint.ts";
import { type AdamW, assignSaved, readValues } from "./optimizer.ts";
import type { TrainOptions } from "./options.ts";

/** The training and validation examples of a run. */
export interface TrainData {
  /** Examples the optimizer learns from. */
  train: TrainingExample[];
  /** Examples the validation loss is measured on (may be empty). */
  validation: TrainingExample[];
}

/** A run's position and curves, plus the best weights so far (when `restoreBest`). */
export interface Session {
  /** Position, curves and early-stopping state (what `state.json` holds). */
  state: TrainState;
  /** Weights of the best validation so far; null before one (or without `restoreBest`). */
  best: Map<string, Float32Array> | null;
}

/** FNV-1a over the examples, so a checkpoint is only resumed on the same data. */
function hashExamples(hash: number, examples: TrainingExample[]): number {
  const mix = (value: number) => {
    hash ^= value & 0xffffffff;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  };
  for (const e of examples) {
    mix(e.ids.length);
    for (const id of e.ids) mix(id);
    for (const label of e.labels) mix(label);
  }
  return hash;
}

/** What must be equal for a checkpoint to be resumed: method, options, data and trainable shapes. */
function fingerprintOf(method: AppliedMethod, data: TrainData, opts: TrainOptions): string {
  const shapes = [...method.trainable].map(([name, v]) => [name, v.shape]);
  const dataHash = hashExamples(hashExamples(0x811c9dc5, data.train), data.validation);
  return JSON.stringify({ method: method.method, opts, shapes, dataHash });
}

function freshState(fingerprint: string): TrainState {
  return {
    version: 1,
    fingerprint,
    step: 0,
    epoch: 0,
    batchInEpoch: 0,
    trainTokens: 0,
    trainSeconds: 0,
    validationSeconds: 0,
    checkpointSeconds: 0,
    trainLoss: [],
    validationLoss: [],
    validationSteps: [],
    validationEpochs: [],
    bestIndex: -1,
    validationsWithoutImprovement: 0,
    stoppedEarly: false,
  };
}

/** Puts saved values back into the variables; RangeError when one is missing or misshapen. */
export function restoreWeights(
  trainable: Map<string, tf.Variable>,
  values: Map<string, Float32Array>,
): void {
  assignSaved(
    trainable,
    values,
    (name) => `saved weights for "${name}" are missing or have the wrong size`,
  );
}

/**
 * The session to run: resumed from `checkpointDir` when it holds a checkpoint of an identical run
 * (its weights and optimizer moments are put back), otherwise fresh. Throws CheckpointError when a
 * checkpoint exists but is unreadable.
 */
export async function startSession(
  method: AppliedMethod,
  data: TrainData,
  opts: TrainOptions,
  optimizer: AdamW,
  checkpointDir: string | undefined,
): Promise<Session> {
  const fingerprint = fingerprintOf(method, data, opts);
  const saved = checkpointDir ? await readCheckpoint(checkpointDir) : null;
  if (!saved || saved.state.fingerprint !== fingerprint) {
    return { state: freshState(fingerprint), best: null };
  }
  restoreWeights(method.trainable, saved.tensors.trainable);
  optimizer.importState({ step: saved.state.step, m: saved.tensors.m, v: saved.tensors.v });
  return { state: saved.state, best: saved.tensors.best };
}

/** Writes the session, the trainable weights and the optimizer moments to `checkpointDir`. */
export async function saveSession(
  checkpointDir: string,
  session: Session,
  trainable: Map<string, tf.Variable>,
  optimizer: AdamW,
): Promise<void> {
  const moments = await optimizer.exportState();
  const shapes = new Map([...trainable].map(([key, v]) => [key, v.shape]));
  await writeCheckpoint(checkpointDir, session.state, {
    trainable: await readValues(trainable),
    m: moments.m,
    v: moments.v,
    best: session.best,
  }, shapes);
}
