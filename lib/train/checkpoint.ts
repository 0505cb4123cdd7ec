/**
 * Resumable training checkpoints. A checkpoint is a directory `latest/` under the run's checkpoint
 * directory holding `state.json` (position, curves, early-stopping state, RNG position),
 * `trainable.safetensors` (the trainable weights), `optimizer.safetensors` (AdamW moments) and,
 * when a validation has run, `best.safetensors` (the best weights so far). It is written to a
 * temporary directory first and then swapped in by rename, so a kill at any moment leaves either
 * the previous or the new checkpoint complete.
 */
import {
  CheckpointError,
  readSafetensors,
  type TensorToWrite,
  writeSafetensors,
} from "../model/safetensors.ts";

/** Everything except tensors that a resumed run needs to continue exactly. */
export interface TrainState {
  /** Format version. */
  version: 1;
  /** Hash of options, data and trainable shapes; a checkpoint with another one is not resumed. */
  fingerprint: string;
  /** Optimizer steps done. */
  step: number;
  /** Epoch being run (0-based). */
  epoch: number;
  /** Micro-batches of that epoch already consumed. Shuffling is derived from (seed, epoch). */
  batchInEpoch: number;
  /** Non-padding input tokens processed so far. */
  trainTokens: number;
  /** Seconds spent in optimisation steps (forward, backward, clipping, update) so far. */
  trainSeconds: number;
  /** Seconds spent computing validation losses so far. */
  validationSeconds: number;
  /** Seconds spent writing checkpoints before this one. */
  checkpointSeconds: number;
  /** Mean training loss of every optimizer step. */
  trainLoss: number[];
  /** Validation loss of every validation so far. */
  validationLoss: number[];
  /** Optimizer step at which each validation ran. */
  validationSteps: number[];
  /** 1-based epoch in which each validation ran. */
  validationEpochs: number[];
  /** Index into `validationLoss` of the best one; -1 before any validation. */
  bestIndex: number;
  /** Validations since the best one. */
  validationsWithoutImprovement: number;
  /** True once early stopping fired. */
  stoppedEarly: boolean;
}

/** Tensors of a checkpoint by role. */
export interface CheckpointTensors {
  /** Trainable weights by name. */
  trainable: Map<string, Float32Array>;
  /** AdamW first moments. */
  m: Map<string, Float32Array>;
  /** AdamW second moments. */
  v: Map<string, Float32Array>;
  /** Best weights so far, if any validation ran. */
  best: Map<string, Float32Array> | null;
}

/** Name of the live checkpoint directory inside the run's checkpoint directory. */
export const latestCheckpoint = "latest";

function toWrite(
  values: Map<string, Float32Array>,
  shapes: Map<string, number[]>,
  prefix = "",
): Map<string, TensorToWrite> {
  const out = new Map<string, TensorToWrite>();
  for (const [name, data] of values) {
    out.set(prefix + name, { shape: shapes.get(name) ?? [data.length], data });
  }
  return out;
}

/** Writes a checkpoint atomically (temp dir, then rename) into `dir/latest`. */
export async function writeCheckpoint(
  dir: string,
  state: TrainState,
  tensors: CheckpointTensors,
  shapes: Map<string, number[]>,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const temp = `${dir}/${latestCheckpoint}.tmp-${Deno.pid}`;
  await Deno.remove(temp, { recursive: true }).catch(() => {});
  await Deno.mkdir(temp);
  await Deno.writeFile(
    `${temp}/trainable.safetensors`,
    writeSafetensors(toWrite(tensors.trainable, shapes)),
  );
  const moments = new Map([
    ...toWrite(tensors.m, shapes, "m."),
    ...toWrite(tensors.v, shapes, "v."),
  ]);
  await Deno.writeFile(`${temp}/optimizer.safetensors`, writeSafetensors(moments));
  if (tensors.best) {
    await Deno.writeFile(
      `${temp}/best.safetensors`,
      writeSafetensors(toWrite(tensors.best, shapes)),
    );
  }
  await Deno.writeTextFile(`${temp}/state.json`, JSON.stringify(state));
  const live = `${dir}/${latestCheckpoint}`;
  const old = `${dir}/${latestCheckpoint}.old`;
  await Deno.remove(old, { recursive: true }).catch(() => {});
  try {
    await Deno.rename(live, old);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.rename(temp, live);
  await Deno.remove(old, { recursive: true }).catch(() => {});
}

function readTensors(path: string): Promise<Map<string, Float32Array>> {
  return Deno.readFile(path).then((bytes) => {
    const out = new Map<string, Float32Array>();
    for (const [name, t] of readSafetensors(bytes, path)) out.set(name, t.data);
    return out;
  });
}

/**
 * Reads the checkpoint in `dir` (falling back to the previous one if a swap was interrupted);
 * `null` when there is none. Throws CheckpointError when one exists but is unreadable.
 */
export async function readCheckpoint(
  dir: string,
): Promise<{ state: TrainState; tensors: CheckpointTensors } | null> {
  let base = `${dir}/${latestCheckpoint}`;
  const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
  if (!(await exists(`${base}/state.json`))) {
    base = `${dir}/${latestCheckpoint}.old`;
    if (!(await exists(`${base}/state.json`))) return null;
  }
  let state: TrainState;
  try {
    state = JSON.parse(await Deno.readTextFile(`${base}/state.json`));
  } catch (error) {
    throw new CheckpointError(`${base}/state.json`, `unreadable: ${(error as Error).message}`);
  }
  if (state.version !== 1) {
    throw new CheckpointError(`${base}/state.json`, `unknown version ${state.version}`);
  }
  // Checkpoints written before the time split recorded one wall-clock figure.
  const legacy = state as Partial<TrainState> & { elapsedSeconds?: number };
  state.trainSeconds = legacy.trainSeconds ?? legacy.elapsedSeconds ?? 0;
  state.validationSeconds = legacy.validationSeconds ?? 0;
  state.checkpointSeconds = legacy.checkpointSeconds ?? 0;
  const trainable = await readTensors(`${base}/trainable.safetensors`);
  const moments = await readTensors(`${base}/optimizer.safetensors`);
  const pick = (prefix: string) =>
    new Map(
      [...moments].filter(([n]) => n.startsWith(prefix)).map((
        [n, d],
      ) => [n.slice(prefix.length), d]),
    );
  const best = (await exists(`${base}/best.safetensors`))
    ? await readTensors(`${base}/best.safetensors`)
    : null;
  return { state, tensors: { trainable, m: pick("m."), v: pick("v."), best } };
}
