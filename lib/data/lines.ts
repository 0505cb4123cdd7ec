/**
 * Streams a text file as lines of validated UTF-8 without loading it whole. Text is decoded with
 * a fatal decoder, so invalid UTF-8 is reported with its line number; a line longer than the
 * byte limit is reported (and its bytes dropped) instead of being buffered.
 *
 * @module
 */

import { DataError } from "./errors.ts";
import { concatBytes } from "../util/bytes.ts";

/** Default bound on one line: longer lines are reported as absurdly long. */
export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

/** One physical line: its decoded text (without `\n`, with any `\r`) or why it is unusable. */
export type RawLine =
  | { line: number; text: string; error?: undefined }
  | { line: number; text?: undefined; error: string };

/**
 * Yields every line of the file (1-based numbers; a final line without `\n` included, an empty
 * file yields nothing). A path ending in `.gz` is decompressed (gzip) as it streams. Lines that
 * are not valid UTF-8 or exceed `maxLineBytes` come back with `error` set instead of `text`.
 * Throws {@link DataError} (line 0) when the file cannot be read.
 */
export async function* readLines(
  path: string,
  opts: { maxLineBytes?: number } = {},
): AsyncGenerator<RawLine> {
  for await (const block of readLineBlocks(path, opts)) yield* block;
}

/**
 * The lines of {@link readLines} in blocks, one block per chunk read from the file, in order.
 * A block of well-formed lines is decoded with one UTF-8 decode instead of one per line, and
 * consuming blocks avoids one await per line, so this is the fast way to read large files.
 * Throws {@link DataError} (line 0) when the file cannot be read.
 */
export async function* readLineBlocks(
  path: string,
  opts: { maxLineBytes?: number } = {},
): AsyncGenerator<RawLine[]> {
  const maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    throw new DataError([{
      file: path,
      line: 0,
      reason: `cannot open: ${(error as Error).message}`,
    }]);
  }
  const splitter = new LineSplitter(maxLineBytes);
  try {
    const bytes = isGzipPath(path)
      ? file.readable.pipeThrough(new DecompressionStream("gzip"))
      : file.readable;
    for await (const chunk of bytes) {
      const block = splitter.push(chunk);
      if (block.length > 0) yield block;
    }
  } catch (error) {
    if (error instanceof DataError) throw error;
    throw new DataError([{
      file: path,
      line: splitter.nextLine,
      reason: `cannot read: ${(error as Error).message}`,
    }]);
  }
  const last = splitter.finish();
  if (last.length > 0) yield last;
}

const NEWLINE_BYTE = 10;

/** Cuts a byte stream into {@link RawLine}s; keeps the unfinished last line between chunks. */
class LineSplitter {
  readonly #decoder = new TextDecoder("utf-8", { fatal: true });
  /** Bytes of the unfinished line (empty once it is known to be too long). */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #tooLong = false;
  /** Number of the next line to finish. */
  nextLine = 1;

  constructor(readonly maxLineBytes: number) {}

  /** Returns the lines that `chunk` finishes. */
  push(chunk: Uint8Array): RawLine[] {
    const lastNewline = chunk.lastIndexOf(NEWLINE_BYTE);
    if (lastNewline < 0) {
      this.#append(chunk.slice());
      return [];
    }
    const lines = this.#pendingBytes === 0 && !this.#tooLong
      ? this.#wholeLines(chunk.subarray(0, lastNewline + 1))
      : null;
    const block = lines ?? this.#lineByLine(chunk, lastNewline);
    // Copy: the stream may reuse its chunk buffers.
    this.#append(chunk.slice(lastNewline + 1));
    return block;
  }

  /** Returns the final line when the data does not end with `\n`. */
  finish(): RawLine[] {
    return this.#pendingBytes > 0 ? [this.#finishLine()] : [];
  }

  /**
   * Decodes `bytes` (complete lines, ending in `\n`) at once; null when one of its lines is
   * too long or not UTF-8, so the caller goes line by line to say which.
   */
  #wholeLines(bytes: Uint8Array): RawLine[] | null {
    for (let start = 0; start < bytes.length;) {
      const end = bytes.indexOf(NEWLINE_BYTE, start);
      if (end - start > this.maxLineBytes) return null;
      start = end + 1;
    }
    let text: string;
    try {
      text = this.#decoder.decode(bytes);
    } catch {
      return null;
    }
    const texts = text.split("\n");
    texts.pop(); // the empty string after the final "\n"
    return texts.map((lineText) => ({ line: this.nextLine++, text: lineText }));
  }

  #lineByLine(chunk: Uint8Array, lastNewline: number): RawLine[] {
    const block: RawLine[] = [];
    for (let start = 0; start <= lastNewline;) {
      const end = chunk.indexOf(NEWLINE_BYTE, start);
      this.#append(chunk.subarray(start, end));
      block.push(this.#finishLine());
      start = end + 1;
    }
    return block;
  }

  #append(bytes: Uint8Array): void {
    this.#pendingBytes += bytes.length;
    if (this.#pendingBytes > this.maxLineBytes) {
      this.#tooLong = true;
      this.#pending = [];
    } else if (bytes.length > 0) {
      this.#pending.push(bytes);
    }
  }

  #finishLine(): RawLine {
    const line = this.nextLine++;
    const byteCount = this.#pendingBytes;
    const parts = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#tooLong) {
      this.#tooLong = false;
      return { line, error: `line is longer than ${this.maxLineBytes} bytes (${byteCount} bytes)` };
    }
    const bytes = parts.length === 1 ? parts[0] : concatBytes(parts);
    try {
      return { line, text: this.#decoder.decode(bytes) };
    } catch {
      return { line, error: `invalid UTF-8 at byte ${firstInvalidUtf8Offset(bytes)} of the line` };
    }
  }
}

/** Whether `path` names a gzip-compressed file (`.gz`), read decompressed. */
export function isGzipPath(path: string): boolean {
  return path.toLowerCase().endsWith(".gz");
}

/** 1-based offset of the first byte of the first invalid UTF-8 sequence in `bytes`. */
function firstInvalidUtf8Offset(bytes: Uint8Array): number {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const decodes = (length: number, stream: boolean) => {
    try {
      // stream: true tolerates a truncated sequence at the end of the prefix.
      decoder.decode(bytes.subarray(0, length), { stream });
      return true;
    } catch {
      return false;
    } finally {
      try {
        decoder.decode();
      } catch {
        // resetting after a truncated sequence throws; the decoder is reset anyway
      }
    }
  };
  // Longest prefix that is valid up to a possibly unfinished last character.
  let low = 0;
  let high = bytes.length;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (decodes(middle, true)) low = middle;
    else high = middle - 1;
  }
  // Step back over the unfinished character to where the bad sequence starts.
  let complete = low;
  while (complete > 0 && !decodes(complete, false)) complete--;
  return complete + 1;
}
