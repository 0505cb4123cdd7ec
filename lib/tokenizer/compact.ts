/**
 * Compact vocabulary for small models trained here: ids 0..255 are the 256 bytes, 256 is
 * `<|endoftext|>`, and 257.. are the K most frequent multi-byte GPT-2 tokens of a training corpus.
 * Text is first GPT-2-tokenized; a GPT-2 token outside the kept set is split along the BPE merge
 * that made it, recursively, until every piece is kept or a byte. So a rare word becomes a few
 * sub-word pieces the model sees often (" Reweighting" → " Re" "we" "ighting"), not a run of
 * bytes it must learn to spell. The embedding stays small (257 + K rows) while kept tokens keep
 * GPT-2's segmentation. Files written before this split (no `fallback` field) keep their meaning:
 * a token outside the kept set is written as its bytes.
 *
 * Saved as `compact_vocab.json` (the kept GPT-2 token strings, in id order) next to the base
 * `vocab.json` + `merges.txt`, so the directory is self-contained for `loadTokenizer`.
 *
 * @module
 */
import { join } from "node:path";
import { type BPETokenizer, endOfText, type Tokenizer, TokenizerError } from "./bpe.ts";

/** File name of the compact mapping inside a model directory. */
export const compactVocabFileName = "compact_vocab.json";
/** Value of the `format` field of `compact_vocab.json`. */
export const compactVocabFormat = "peftlab-compact-vocab/1";
/** Number of byte tokens (ids 0..255). */
const byteTokens = 256;

/** How a GPT-2 token outside the kept set is written: split along its merges, or as bytes. */
export type CompactFallback = "merges" | "bytes";

/** A Tokenizer over bytes + `<|endoftext|>` + kept GPT-2 tokens. */
export class CompactTokenizer implements Tokenizer {
  /** 257 + number of kept tokens. */
  readonly vocabSize: number;
  /** Id of `<|endoftext|>` (256). */
  readonly eosId = byteTokens;
  /** Base ids of the kept tokens; compact id = 257 + index. */
  readonly keptBaseIds: number[];
  private readonly compactOf: Map<number, number>;

  private readonly pieces = new Map<number, number[]>();

  /**
   * Wraps `base`, keeping `keptBaseIds` (multi-byte, non-special base tokens) in that order;
   * `fallback` says how other tokens are written.
   */
  constructor(
    readonly base: BPETokenizer,
    keptBaseIds: number[],
    readonly fallback: CompactFallback = "merges",
  ) {
    this.keptBaseIds = keptBaseIds;
    this.compactOf = new Map(keptBaseIds.map((id, i) => [id, byteTokens + 1 + i]));
    this.vocabSize = byteTokens + 1 + keptBaseIds.length;
  }

  /** Compact ids of `text`: GPT-2 tokens, kept ones by their compact id, others split. */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const baseId of this.base.encode(text)) {
      const kept = this.compactOf.get(baseId);
      if (kept !== undefined) ids.push(kept);
      else if (baseId === this.base.eosId) ids.push(this.eosId);
      else for (const id of this.piecesOf(baseId)) ids.push(id);
    }
    return ids;
  }

  /** Compact ids spelling a GPT-2 token outside the kept set (memoized). */
  private piecesOf(baseId: number): number[] {
    let pieces = this.pieces.get(baseId);
    if (pieces) return pieces;
    const parents = this.fallback === "merges" ? this.base.mergeParents(baseId) : undefined;
    pieces = parents
      ? parents.flatMap((parent) => {
        const kept = this.compactOf.get(parent);
        return kept !== undefined ? [kept] : this.piecesOf(parent);
      })
      : [...this.base.tokenBytes(baseId)];
    this.pieces.set(baseId, pieces);
    return pieces;
  }

  /** Text of compact `ids`. Throws TokenizerError for an id ≥ vocabSize. */
  decode(ids: number[]): string {
    const bytes: number[] = [];
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new TokenizerError(
          `token id ${id} is outside the compact vocabulary of ${this.vocabSize}`,
        );
      }
      if (id < byteTokens) bytes.push(id);
      else if (id === this.eosId) bytes.push(...new TextEncoder().encode(endOfText));
      else bytes.push(...this.base.tokenBytes(this.keptBaseIds[id - byteTokens - 1]));
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  }

  /** Writes `compact_vocab.json`, `vocab.json` and `merges.txt` into `dir` (created when missing). */
  async save(dir: string): Promise<void> {
    await Deno.mkdir(dir, { recursive: true });
    const { vocabJson, mergesTxt } = this.base.toFiles();
    await Deno.writeTextFile(join(dir, "vocab.json"), vocabJson);
    await Deno.writeTextFile(join(dir, "merges.txt"), mergesTxt);
    const kept = this.keptBaseIds.map((id) => this.base.tokenString(id));
    await Deno.writeTextFile(
      join(dir, compactVocabFileName),
      JSON.stringify(
        {
          format: compactVocabFormat,
          vocab_size: this.vocabSize,
          eos_id: this.eosId,
          fallback: this.fallback,
          kept,
        },
        null,
        1,
      ) +
        "\n",
    );
  }

  /** Rebuilds from a parsed `compact_vocab.json` over `base`; throws TokenizerError naming `file`. */
  static fromJson(base: BPETokenizer, json: unknown, file: string): CompactTokenizer {
    const data = json as { format?: unknown; kept?: unknown; fallback?: unknown };
    if (data?.format !== compactVocabFormat || !Array.isArray(data.kept)) {
      throw new TokenizerError(`not a ${compactVocabFormat} file (format, kept)`, file);
    }
    const fallback = data.fallback ?? "bytes";
    if (fallback !== "merges" && fallback !== "bytes") {
      throw new TokenizerError(
        `fallback must be "merges" or "bytes", got ${JSON.stringify(fallback)}`,
        file,
      );
    }
    const ids = data.kept.map((token, i) => {
      const id = typeof token === "string" ? base.encodeTokenString(token) : undefined;
      if (id === undefined) {
        throw new TokenizerError(
          `kept token ${i} ${JSON.stringify(token)} is not in vocab.json`,
          file,
        );
      }
      return id;
    });
    return new CompactTokenizer(base, ids, fallback);
  }
}

/**
 * Builds a compact vocabulary from the `keep` most frequent multi-byte, non-special GPT-2 tokens of
 * `corpus` (ties broken by the lower GPT-2 id, so the result is deterministic). Throws RangeError
 * when `keep` is negative or not an integer.
 */
export function buildCompactTokenizer(
  base: BPETokenizer,
  corpus: Iterable<string>,
  keep: number,
): CompactTokenizer {
  if (!Number.isInteger(keep) || keep < 0) {
    throw new RangeError(`keep must be a non-negative integer, got ${keep}`);
  }
  const counts = new Map<number, number>();
  for (const text of corpus) {
    for (const id of base.encode(text)) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const candidates = [...counts.entries()]
    .filter(([id]) => !base.isSpecial(id) && base.tokenBytes(id).length > 1)
    .sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return new CompactTokenizer(base, candidates.slice(0, keep).map(([id]) => id));
}
