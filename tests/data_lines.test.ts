import { deepStrictEqual, equal } from "node:assert/strict";
import { type RawLine, readLineBlocks, readLines } from "../lib/data/mod.ts";

const encoder = new TextEncoder();
const MAX_LINE_BYTES = 5000;

/** What readLines must yield for `bytes`: each `\n`-separated line decoded on its own. */
function expectedLines(bytes: Uint8Array): RawLine[] {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const lines: RawLine[] = [];
  let start = 0;
  for (let line = 1; start < bytes.length; line++) {
    let end = bytes.indexOf(10, start);
    if (end < 0) end = bytes.length;
    const part = bytes.subarray(start, end);
    if (part.length > MAX_LINE_BYTES) {
      lines.push({
        line,
        error: `line is longer than ${MAX_LINE_BYTES} bytes (${part.length} bytes)`,
      });
    } else {
      try {
        lines.push({ line, text: decoder.decode(part) });
      } catch {
        lines.push({ line, error: "invalid UTF-8" });
      }
    }
    start = end + 1;
  }
  return lines;
}

/** Lines of multi-byte text long enough to span many read chunks, with bad lines here and there. */
function bigFile(): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 3000; i++) {
    if (i % 997 === 500) parts.push(new Uint8Array([0x7b, 0xe9, 0x7d])); // Latin-1 é: not UTF-8
    else if (i % 1409 === 700) parts.push(encoder.encode("x".repeat(MAX_LINE_BYTES + 1)));
    else parts.push(encoder.encode(`{"n": ${i}, "text": "${"ünïcödé ✓ ".repeat(i % 40)}"}`));
    parts.push(new Uint8Array([10]));
  }
  parts.push(encoder.encode("last line without newline ✓"));
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

Deno.test("lines: reading in blocks gives every line, bad ones flagged, across chunk boundaries", async () => {
  const bytes = bigFile();
  const path = await Deno.makeTempFile({ suffix: ".jsonl" });
  try {
    await Deno.writeFile(path, bytes);
    const got: RawLine[] = [];
    let blocks = 0;
    for await (const block of readLineBlocks(path, { maxLineBytes: MAX_LINE_BYTES })) {
      blocks++;
      got.push(...block);
    }
    const want = expectedLines(bytes);
    equal(got.length, want.length);
    equal(blocks > 1, true, "the file spans several blocks");
    // Same text for good lines; an error (the reader's own words) exactly where expected.
    const normalise = (line: RawLine) =>
      line.error === undefined ? line : {
        line: line.line,
        error: line.error.startsWith("invalid UTF-8") ? "invalid UTF-8" : line.error,
      };
    deepStrictEqual(got.map(normalise), want);
    const flat: RawLine[] = [];
    for await (const line of readLines(path, { maxLineBytes: MAX_LINE_BYTES })) flat.push(line);
    deepStrictEqual(flat, got);
  } finally {
    await Deno.remove(path);
  }
});
