/**
 * The tokenize stage's output format, read by every later stage: one JSONL file per split, each
 * line an example with its token ids and where the prompt ends (labels are derived, not stored).
 *
 * @module
 */
import { join } from "node:path";
import { ignoreLabel } from "../util/labels.ts";

/** One tokenized example: the text (for references and predictions) and the training sequence. */
export interface TokenizedExample {
  id: string;
  document: string;
  summary: string;
  /** Prompt (truncated document + template) then summary then end-of-text. */
  ids: number[];
  /** How many leading ids are prompt: generation starts from `ids.slice(0, promptLength)`. */
  promptLength: number;
}

/** Splits the tokenize stage writes. */
export const splitNames = ["train", "validation", "test"] as const;
/** A split name. */
export type Split = typeof splitNames[number];

/** File of one split inside a tokenize output folder. */
export function splitFile(dir: string, split: Split): string {
  return join(dir, `${split}.jsonl`);
}

/** Folder of the tokenizer inside a tokenize output folder. */
export function tokenizerDir(dir: string): string {
  return join(dir, "tokenizer");
}

/** Labels of an example: the ids on the summary part, {@link ignoreLabel} on the prompt. */
export function labelsOf(example: Pick<TokenizedExample, "ids" | "promptLength">): number[] {
  return example.ids.map((id, i) => i < example.promptLength ? ignoreLabel : id);
}

/** Writes one split as JSONL. */
export async function writeSplit(
  dir: string,
  split: Split,
  examples: TokenizedExample[],
): Promise<void> {
  const lines = examples.map((e) => JSON.stringify(e));
  await Deno.writeTextFile(splitFile(dir, split), lines.join("\n") + (lines.length ? "\n" : ""));
}

/** Reads one split written by {@link writeSplit}; `limit` keeps the first N examples. */
export async function readSplit(
  dir: string,
  split: Split,
  limit?: number,
): Promise<TokenizedExample[]> {
  const text = await Deno.readTextFile(splitFile(dir, split));
  const examples: TokenizedExample[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    examples.push(JSON.parse(line) as TokenizedExample);
    if (limit !== undefined && examples.length >= limit) break;
  }
  return examples;
}
