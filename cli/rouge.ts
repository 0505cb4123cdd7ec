/**
 * `deno task rouge PAIRS.jsonl [--stem]`: scores a JSONL file of
 * `{"prediction": "...", "reference": "..."}` lines with rouge-score's ROUGE and prints the mean
 * F-measures as JSON `{"rouge1","rouge2","rougeL","rougeLsum","n"}`.
 *
 * Exit codes: 0 on success; 2 on a usage error or a bad input file (one line naming file:line).
 *
 * @module
 */

import { parseFlags, UsageError } from "./args.ts";
import { corpusRouge, type RougePair } from "../lib/eval/mod.ts";
import { DataError, type RawLine, readLineBlocks } from "../lib/data/mod.ts";

const USAGE = "usage: deno task rouge PAIRS.jsonl [--stem]";
const EXIT_USAGE_OR_INPUT = 2;

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** Parses one line of the pairs file; undefined for a blank line, DataError for a bad one. */
function parsePair(path: string, raw: RawLine): RougePair | undefined {
  const fail = (reason: string) => new DataError([{ file: path, line: raw.line, reason }]);
  if (raw.error !== undefined) throw fail(raw.error);
  if (raw.text.trim() === "") return undefined;
  let row: unknown;
  try {
    row = JSON.parse(raw.text);
  } catch (error) {
    throw fail(`not JSON (${(error as Error).message})`);
  }
  if (row === null || typeof row !== "object" || Array.isArray(row)) {
    throw fail(`not a JSON object (got ${describeType(row)})`);
  }
  const record = row as Record<string, unknown>;
  for (const field of ["prediction", "reference"]) {
    if (!Object.hasOwn(record, field)) throw fail(`missing field "${field}"`);
    if (typeof record[field] !== "string") {
      throw fail(`field "${field}" is ${describeType(record[field])}, not a string`);
    }
  }
  return { prediction: record.prediction as string, reference: record.reference as string };
}

/** Reads and validates the pairs file; throws DataError at the first bad line. */
async function readPairs(path: string): Promise<RougePair[]> {
  const pairs: RougePair[] = [];
  for await (const block of readLineBlocks(path)) {
    for (const raw of block) {
      const pair = parsePair(path, raw);
      if (pair !== undefined) pairs.push(pair);
    }
  }
  if (pairs.length === 0) throw new DataError([{ file: path, line: 0, reason: "no pairs" }]);
  return pairs;
}

async function main(args: string[]): Promise<void> {
  const parsed = parseFlags({
    args,
    options: { stem: { type: "boolean", default: false }, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
  });
  if (parsed.values.help) {
    console.log(USAGE);
    return;
  }
  if (parsed.positionals.length !== 1) {
    throw new UsageError(`expected one PAIRS.jsonl file, got ${parsed.positionals.length}`);
  }
  const path = parsed.positionals[0];
  const scores = corpusRouge(await readPairs(path), { stem: parsed.values.stem });
  console.log(JSON.stringify({
    rouge1: scores.rouge1.fmeasure,
    rouge2: scores.rouge2.fmeasure,
    rougeL: scores.rougeL.fmeasure,
    rougeLsum: scores.rougeLsum.fmeasure,
    n: scores.n,
  }));
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`rouge: ${error.message}\n${USAGE}`);
      Deno.exit(EXIT_USAGE_OR_INPUT);
    }
    if (error instanceof DataError) {
      console.error(`rouge: ${error.message}`);
      Deno.exit(EXIT_USAGE_OR_INPUT);
    }
    throw error;
  }
}
