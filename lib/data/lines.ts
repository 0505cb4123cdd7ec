/**
 * Streams a text file as lines of validated UTF-8 without loading it whole. Each line is
 * decoded with a fatal decoder, so invalid UTF-8 is reported with its line number; a line longer
 * than the byte limit is reported (and its bytes dropped) instead of being buffered.
 *
 * @module
 */

import { DataError } from "./errors.ts";

/** Default bound on one line: longer lines are reported as absurdly long. */
export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

/** One physical line: its decoded text (without `\n`, with any `\r`) or why it is unusable. */
export type RawLine =
  | { line: number; text: string; error?: undefined }
  | { line: number; text?: undefined; error: string };

const NEWLINE_BYTE = 10;

/**
 * Yields every line of the file (1-based numbers; a final line without `\n` included, an empty
 * file yields nothing). A path ending in `.gz` is decompressed (gzip) as it streams. Lines that are not valid UTF-8 or exceed `maxLineBytes` come back with
 * `error` set instead of `text`. Throws {@link DataError} (line 0) when the file cannot be read.
 */
export async function* readLines(
  path: string,
  opts: { maxLineBytes?: number } = {},
): AsyncGenerator<RawLine> {
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
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let tooLong = false;
  let lineNumber = 1;

  const finishLine = (): RawLine => {
    const line = lineNumber++;
    if (tooLong) {
      const result: RawLine = {
        line,
        error: `line is longer than ${maxLineBytes} bytes (${pendingBytes} bytes)`,
      };
      pending = [];
      pendingBytes = 0;
      tooLong = false;
      return result;
    }
    const bytes = pending.length === 1 ? pending[0] : concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    try {
      return { line, text: decoder.decode(bytes) };
    } catch {
      return { line, error: `invalid UTF-8 at byte ${firstInvalidUtf8Offset(bytes)} of the line` };
    }
  };

  const append = (bytes: Uint8Array) => {
    pendingBytes += bytes.length;
    if (pendingBytes > maxLineBytes) {
      tooLong = true;
      pending = [];
    } else if (bytes.length > 0) {
      // Copy: the stream may reuse its chunk buffers.
      pending.push(bytes.slice());
    }
  };

  try {
    const bytes = isGzipPath(path)
      ? file.readable.pipeThrough(new DecompressionStream("gzip"))
      : file.readable;
    for await (const chunk of bytes) {
      let start = 0;
      while (start <= chunk.length) {
        const end = chunk.indexOf(NEWLINE_BYTE, start);
        if (end < 0) {
          append(chunk.subarray(start));
          break;
        }
        append(chunk.subarray(start, end));
        yield finishLine();
        start = end + 1;
      }
    }
  } catch (error) {
    if (error instanceof DataError) throw error;
    throw new DataError([{
      file: path,
      line: lineNumber,
      reason: `cannot read: ${(error as Error).message}`,
    }]);
  }
  if (pendingBytes > 0) yield finishLine();
}

/** Whether `path` names a gzip-compressed file (`.gz`), read decompressed. */
export function isGzipPath(path: string): boolean {
  return path.toLowerCase().endsWith(".gz");
}

function concat(parts: Uint8Array[], totalBytes: number): Uint8Array {
  const bytes = new Uint8Array(totalBytes);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
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
