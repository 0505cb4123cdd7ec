/** Training examples and the padded batches the trainer feeds the model. */
import { ignoreLabel } from "../util/labels.ts";

export { ignoreLabel };

/**
 * One tokenized example: `labels` is aligned with `ids` (not shifted) and is -100 wherever the
 * token is not scored, e.g. on the document and the prompt; `formatPrompt`'s output fits.
 */
export interface TrainingExample {
  /** Token ids. */
  ids: number[];
  /** Same length as `ids`; -100 where not scored. */
  labels: number[];
}

/** A padded batch: every row has the batch's longest length; padding has label -100. */
export interface Batch {
  /** Token ids `[B, T]`. */
  ids: number[][];
  /** Labels `[B, T]`. */
  labels: number[][];
  /** Real (non-padding) tokens in the batch. */
  tokens: number;
  /** Real (non-padding) length of each row. */
  lengths: number[];
}

/** Pads `examples` to the longest with `padId` (label -100) into one batch. */
export function collate(examples: TrainingExample[], padId: number): Batch {
  const length = Math.max(...examples.map((e) => e.ids.length));
  let tokens = 0;
  const ids: number[][] = [];
  const labels: number[][] = [];
  for (const e of examples) {
    tokens += e.ids.length;
    const pad = length - e.ids.length;
    ids.push([...e.ids, ...new Array(pad).fill(padId)]);
    labels.push([...e.labels, ...new Array(pad).fill(ignoreLabel)]);
  }
  return { ids, labels, tokens, lengths: examples.map((e) => e.ids.length) };
}

/**
 * Rows `[first, first + count)` of a batch, trimmed to their own longest length (padding sits at
 * the end, so trimming it changes no real position's result).
 */
export function batchRows(batch: Batch, first: number, count: number): Batch {
  const lengths = batch.lengths.slice(first, first + count);
  const length = Math.max(...lengths);
  return {
    ids: batch.ids.slice(first, first + count).map((row) => row.slice(0, length)),
    labels: batch.labels.slice(first, first + count).map((row) => row.slice(0, length)),
    tokens: lengths.reduce((sum, n) => sum + n, 0),
    lengths,
  };
}

/** Scored positions of a batch: labels after the first position that are not -100. */
export function scoredTokens(batch: Batch): number {
  let count = 0;
  for (const row of batch.labels) {
    for (let t = 1; t < row.length; t++) if (row[t] !== ignoreLabel) count++;
  }
  return count;
}
