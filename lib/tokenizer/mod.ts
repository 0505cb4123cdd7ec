/**
 * Tokenizers: GPT-2 byte-level BPE from checkpoint files and the compact vocabulary.
 *
 * @module
 */
import { join } from "node:path";
import {
  BPETokenizer,
  fromTokenizerJson,
  parseMerges,
  type Tokenizer,
  TokenizerError,
} from "./bpe.ts";
import { CompactTokenizer, compactVocabFileName } from "./compact.ts";
import { exists } from "../util/fs.ts";

export {
  BPETokenizer,
  type ByteTokenizer,
  endOfText,
  fromTokenizerJson,
  parseMerges,
  type Tokenizer,
  TokenizerError,
} from "./bpe.ts";
export {
  buildCompactTokenizer,
  CompactTokenizer,
  compactVocabFileName,
  compactVocabFormat,
} from "./compact.ts";

/**
 * The tokenizer saved in `dir`: a compact vocabulary (`compact_vocab.json` over `vocab.json` +
 * `merges.txt`) when present, else `tokenizer.json`, else `vocab.json` + `merges.txt`. Throws
 * TokenizerError naming the file when none is there or one is malformed.
 */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const compactPath = join(dir, compactVocabFileName);
  if (await exists(compactPath)) {
    return CompactTokenizer.fromJson(
      await loadVocabMerges(dir),
      await readJson(compactPath),
      compactPath,
    );
  }
  const tokenizerJson = join(dir, "tokenizer.json");
  if (await exists(tokenizerJson)) {
    return fromTokenizerJson(await readJson(tokenizerJson), tokenizerJson);
  }
  return await loadVocabMerges(dir);
}

/** The base BPE of `dir` from `tokenizer.json` or `vocab.json` + `merges.txt` (never compact). */
export async function loadBaseTokenizer(dir: string): Promise<BPETokenizer> {
  const tokenizerJson = join(dir, "tokenizer.json");
  if (await exists(tokenizerJson)) {
    return fromTokenizerJson(await readJson(tokenizerJson), tokenizerJson);
  }
  return await loadVocabMerges(dir);
}

async function loadVocabMerges(dir: string): Promise<BPETokenizer> {
  const vocabPath = join(dir, "vocab.json");
  const mergesPath = join(dir, "merges.txt");
  if (!(await exists(vocabPath)) || !(await exists(mergesPath))) {
    throw new TokenizerError(
      "no tokenizer.json, compact_vocab.json or vocab.json + merges.txt",
      dir,
    );
  }
  const vocab = await readJson(vocabPath);
  if (typeof vocab !== "object" || vocab === null || Array.isArray(vocab)) {
    throw new TokenizerError("not a JSON object of token → id", vocabPath);
  }
  const merges = parseMerges(await Deno.readTextFile(mergesPath), mergesPath);
  return new BPETokenizer(vocab as Record<string, number>, merges, {}, vocabPath);
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new TokenizerError(`cannot read JSON (${(e as Error).message})`, path);
  }
}
