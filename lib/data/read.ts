/**
 * Reads summarization examples from JSONL, CSV or Parquet, streaming, and validates every row:
 * rows that are not JSON (or not well-quoted CSV), lack a field, have empty, null or non-string
 * text, are not valid UTF-8 or are absurdly long are reported with file:line (for Parquet, the
 * 1-based row number). Exact duplicates are reported.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { CsvRecordParser } from "./csv.ts";
import { type BadRow, DataError, LISTED_OFFENDERS_MAX } from "./errors.ts";
import { DEFAULT_MAX_LINE_BYTES, isGzipPath, readLineBlocks, readLines } from "./lines.ts";
import { openParquet } from "./parquet.ts";
import { type SplitName, splitOf } from "./split.ts";

/** One summarization example. */
export interface Example {
  /** The row's id field, or `sha256:<16 hex of the document>` when the file has no id. */
  id: string;
  /** Text to summarize. */
  document: string;
  /** Reference summary. */
  summary: string;
}

/** The file formats {@link readExamples} reads. */
export const DATA_FORMATS = ["jsonl", "csv", "parquet"] as const;
/** One of {@link DATA_FORMATS}. */
export type DataFormat = typeof DATA_FORMATS[number];

/** What to do with a bad row: stop with a {@link DataError} (default) or skip and count it. */
export type BadRowPolicy = "fail" | "skip";

/** Options of {@link readExamples}. */
export interface ReadOptions {
  /**
   * File format; default from the extension (`.gz` ignored): `.csv` → csv, `.parquet` →
   * parquet, else jsonl.
   */
  format?: DataFormat;
  /** Field (JSON key or CSV column) holding the document; default `document`. */
  documentField?: string;
  /** Field holding the summary; default `summary`. */
  summaryField?: string;
  /** Field holding the id; default `id`. Optional in the data. */
  idField?: string;
  /** Bad-row policy; default `fail`. */
  onBadRow?: BadRowPolicy;
  /** Longest acceptable line in bytes; default 1 MiB. */
  maxLineBytes?: number;
  /** Keep only the first N good examples (after split filtering) and stop reading. */
  limit?: number;
  /** One-file mode: keep only the rows whose id hashes into this split (see `splitOf`). */
  split?: SplitName;
}

/** How many duplicate locations a report lists. */
export const LISTED_DUPLICATES_MAX = 5;

/** What reading a file found. */
export interface DataReport {
  /** File path as given. */
  file: string;
  /** Format used. */
  format: DataFormat;
  /** Data rows seen (good and bad; not blank lines or the CSV header). */
  rowsRead: number;
  /** Examples returned. */
  examples: number;
  /** Rows rejected (with `skip`; with `fail` an error is thrown instead). */
  badRows: number;
  /** The first few rejected rows. */
  badRowSamples: BadRow[];
  /** Rows with exactly the same document and summary as an earlier row (they are kept). */
  duplicates: { count: number; samples: { line: number; firstLine: number }[] };
  /** Rows whose id was already used by an earlier row with different text (they are kept). */
  duplicateIds: { count: number; samples: { line: number; firstLine: number; id: string }[] };
  /** With `split`: good rows that belong to another split and were left out. */
  rowsInOtherSplits: number;
  /** Whether reading stopped early because `limit` examples were collected. */
  limitReached: boolean;
}

interface FieldNames {
  id: string;
  document: string;
  summary: string;
}

type RowResult = { example: Example } | { reason: string };

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** The format a path's extension implies: `.csv` → csv, `.parquet` → parquet, else jsonl. */
function formatOfPath(path: string): DataFormat {
  const lower = path.toLowerCase();
  if (lower.endsWith(".csv")) return "csv";
  if (lower.endsWith(".parquet")) return "parquet";
  return "jsonl";
}

function contentId(document: string): string {
  return "sha256:" + createHash("sha256").update(document, "utf8").digest("hex").slice(0, 16);
}

/** Validates one row given as a field lookup; `has(name)` distinguishes missing from empty. */
function validateRow(
  get: (name: string) => unknown,
  has: (name: string) => boolean,
  fields: FieldNames,
): RowResult {
  const texts: string[] = [];
  for (const name of [fields.document, fields.summary]) {
    if (!has(name)) return { reason: `missing field "${name}"` };
    const value = get(name);
    if (typeof value !== "string") {
      return { reason: `field "${name}" is ${typeName(value)}, not a string` };
    }
    if (value.trim() === "") return { reason: `field "${name}" is empty` };
    texts.push(value);
  }
  const [document, summary] = texts;
  let id: string;
  if (has(fields.id)) {
    const rawId = get(fields.id);
    if (typeof rawId === "number" && Number.isFinite(rawId)) id = String(rawId);
    else if (typeof rawId === "bigint") id = String(rawId); // Parquet INT64
    else if (typeof rawId === "string" && rawId.trim() !== "") id = rawId;
    else if (typeof rawId === "string") return { reason: `field "${fields.id}" is empty` };
    else return { reason: `field "${fields.id}" is ${typeName(rawId)}, not a string or number` };
  } else {
    id = contentId(document);
  }
  return { example: { id, document, summary } };
}

function parseJsonRow(text: string, fields: FieldNames): RowResult {
  let row: unknown;
  try {
    row = JSON.parse(text);
  } catch (error) {
    return { reason: `not JSON (${(error as Error).message})` };
  }
  if (row === null || typeof row !== "object" || Array.isArray(row)) {
    return { reason: `not a JSON object (got ${typeName(row)})` };
  }
  const record = row as Record<string, unknown>;
  return validateRow((name) => record[name], (name) => Object.hasOwn(record, name), fields);
}

/**
 * Reads every example of a JSONL, CSV or Parquet file (streamed; UTF-8 checked line by line;
 * Parquet one row group at a time). JSONL: one object per line; blank lines are ignored. CSV:
 * RFC 4180 with a header row naming the columns. Parquet: top-level columns named like the
 * fields; a row's "line" is its 1-based row number. With `onBadRow: "fail"` (default) any bad
 * row makes it throw one {@link DataError} listing the first 5 offenders as file:line: reason
 * (after reading the whole file, so the total is known); with `"skip"` bad rows are left out
 * and counted in the report. Also throws {@link DataError} when the file cannot be read, a CSV
 * header or Parquet schema lacks a named column, or no example is left (an empty dataset is
 * never silently accepted).
 */
export async function readExamples(
  path: string,
  opts: ReadOptions = {},
): Promise<{ examples: Example[]; report: DataReport }> {
  const plainName = isGzipPath(path) ? path.slice(0, -3) : path;
  const format = opts.format ?? formatOfPath(plainName);
  const fields: FieldNames = {
    id: opts.idField ?? "id",
    document: opts.documentField ?? "document",
    summary: opts.summaryField ?? "summary",
  };
  const policy = opts.onBadRow ?? "fail";
  const maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const limit = opts.limit ?? Infinity;

  const examples: Example[] = [];
  const badRowSamples: BadRow[] = [];
  const report: DataReport = {
    file: path,
    format,
    rowsRead: 0,
    examples: 0,
    badRows: 0,
    badRowSamples,
    duplicates: { count: 0, samples: [] },
    duplicateIds: { count: 0, samples: [] },
    rowsInOtherSplits: 0,
    limitReached: false,
  };
  const firstLineByContent = new Map<string, number>();
  const firstByIdLine = new Map<string, { line: number; contentKey: string }>();

  const reject = (line: number, reason: string) => {
    report.rowsRead++;
    report.badRows++;
    if (badRowSamples.length < LISTED_OFFENDERS_MAX) {
      badRowSamples.push({ file: path, line, reason });
    }
  };

  /** Returns true when the limit is reached. */
  const accept = (line: number, example: Example): boolean => {
    report.rowsRead++;
    if (opts.split !== undefined && splitOf(example.id) !== opts.split) {
      report.rowsInOtherSplits++;
      return false;
    }
    const contentKey = createHash("sha256")
      .update(example.document, "utf8").update("\u0000").update(example.summary, "utf8")
      .digest("base64");
    const firstLine = firstLineByContent.get(contentKey);
    if (firstLine === undefined) firstLineByContent.set(contentKey, line);
    else {
      report.duplicates.count++;
      if (report.duplicates.samples.length < LISTED_DUPLICATES_MAX) {
        report.duplicates.samples.push({ line, firstLine });
      }
    }
    const sameId = firstByIdLine.get(example.id);
    if (sameId === undefined) firstByIdLine.set(example.id, { line, contentKey });
    else if (sameId.contentKey !== contentKey) {
      report.duplicateIds.count++;
      if (report.duplicateIds.samples.length < LISTED_DUPLICATES_MAX) {
        report.duplicateIds.samples.push({ line, firstLine: sameId.line, id: example.id });
      }
    }
    examples.push(example);
    return examples.length >= limit;
  };

  if (format === "jsonl") {
    lines: for await (const block of readLineBlocks(path, { maxLineBytes })) {
      for (const raw of block) {
        if (raw.error !== undefined) {
          reject(raw.line, raw.error);
          continue;
        }
        if (raw.text.trim() === "") continue;
        const result = parseJsonRow(raw.text, fields);
        if ("reason" in result) reject(raw.line, result.reason);
        else if (accept(raw.line, result.example)) {
          report.limitReached = true;
          break lines;
        }
      }
    }
  } else if (format === "parquet") {
    const parquet = await openParquet(path);
    try {
      for (const name of [fields.document, fields.summary]) {
        if (!parquet.columns.includes(name)) {
          throw new DataError([{
            file: path,
            line: 0,
            reason: `Parquet file has no column "${name}" (columns: ${parquet.columns.join(", ")})`,
          }]);
        }
      }
      const columns = [fields.document, fields.summary, fields.id]
        .filter((name) => parquet.columns.includes(name));
      const has = (name: string) => columns.includes(name);
      groups: for await (const rows of parquet.rowGroups(columns)) {
        for (const { row, values } of rows) {
          const result = validateRow((name) => values[name], has, fields);
          if ("reason" in result) reject(row, result.reason);
          else if (accept(row, result.example)) {
            report.limitReached = true;
            break groups;
          }
        }
      }
    } finally {
      await parquet.close();
    }
  } else {
    const parser = new CsvRecordParser(maxLineBytes);
    let header: string[] | null = null;
    let headerLine = 0;
    lines: for await (const raw of readLines(path, { maxLineBytes })) {
      if (raw.error !== undefined) {
        const broken = parser.abandonRecord();
        if (broken && broken.startLine !== raw.line) reject(broken.startLine, broken.reason);
        if (header === null) {
          throw new DataError([{ file: path, line: raw.line, reason: `CSV header: ${raw.error}` }]);
        }
        reject(raw.line, raw.error);
        continue;
      }
      const result = parser.pushLine(raw.text, raw.line);
      if (result.kind === "blank" || result.kind === "pending") continue;
      if (result.kind === "bad") {
        if (header === null) {
          throw new DataError([{
            file: path,
            line: result.startLine,
            reason: `CSV header: ${result.reason}`,
          }]);
        }
        reject(result.startLine, result.reason);
        continue;
      }
      if (header === null) {
        header = result.fields.map((name) => name.trim());
        headerLine = result.startLine;
        for (const name of [fields.document, fields.summary]) {
          if (!header.includes(name)) {
            throw new DataError([{
              file: path,
              line: headerLine,
              reason: `CSV header has no column "${name}" (columns: ${header.join(", ")})`,
            }]);
          }
        }
        continue;
      }
      const columns: string[] = header;
      if (result.fields.length !== columns.length) {
        reject(
          result.startLine,
          `expected ${columns.length} fields (as the header on line ${headerLine}), got ` +
            `${result.fields.length}`,
        );
        continue;
      }
      const values = result.fields;
      const row = validateRow(
        (name) => values[columns.indexOf(name)],
        (name) => columns.includes(name),
        fields,
      );
      if ("reason" in row) reject(result.startLine, row.reason);
      else if (accept(result.startLine, row.example)) {
        report.limitReached = true;
        break lines;
      }
    }
    if (!report.limitReached) {
      const unclosed = parser.finish();
      if (unclosed?.kind === "bad") reject(unclosed.startLine, unclosed.reason);
    }
  }

  report.examples = examples.length;
  if (report.badRows > 0 && policy === "fail") throw new DataError(badRowSamples, report.badRows);
  if (examples.length === 0) {
    const reason = report.rowsInOtherSplits > 0
      ? `no rows in split "${opts.split}" (${report.rowsInOtherSplits} rows in other splits)`
      : report.badRows > 0
      ? `no usable rows (${report.badRows} bad rows skipped)`
      : "no examples (the file is empty)";
    throw new DataError([{ file: path, line: 0, reason }]);
  }
  return { examples, report };
}
