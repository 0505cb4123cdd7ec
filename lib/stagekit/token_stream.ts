/**
 * The corpus stage's output format, read by pretraining: each split is one stream of token ids
 * (documents each followed by `<|endoftext|>`) stored as little-endian uint16, so 27 M tokens take
 * 54 MB and load in one read.
 *
 * @module
 */
import { join } from "node:path";

/** Streams the corpus stage writes. */
export const streamSplits = ["train", "validation"] as const;
/** A stream name. */
export type StreamSplit = typeof streamSplits[number];

/** Largest vocabulary a uint16 stream can hold. */
export const maxStreamVocab = 65536;

/** File of one stream inside a corpus output folder. */
export function streamFile(dir: string, split: StreamSplit): string {
  return join(dir, `${split}.bin`);
}

/** Writes `ids` as little-endian uint16; throws RangeError for an id outside 0..65535. */
export async function writeTokenStream(path: string, ids: ArrayLike<number>): Promise<void> {
  const bytes = new Uint8Array(ids.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= maxStreamVocab) {
      throw new RangeError(`token id ${id} at ${i} does not fit a uint16 stream`);
    }
    view.setUint16(i * 2, id, true);
  }
  await Deno.writeFile(path, bytes);
}

/** Reads a stream written by {@link writeTokenStream}; throws RangeError for an odd byte count. */
export async function readTokenStream(path: string): Promise<Uint16Array> {
  const bytes = await Deno.readFile(path);
  if (bytes.length % 2 !== 0) {
    throw new RangeError(`${path}: ${bytes.length} bytes is not a whole number of uint16 tokens`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ids = new Uint16Array(bytes.length / 2);
  for (let i = 0; i < ids.length; i++) ids[i] = view.getUint16(i * 2, true);
  return ids;
}
