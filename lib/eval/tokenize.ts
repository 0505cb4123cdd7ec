/**
 * rouge-score's default tokenizer: lowercase, every run of characters outside `[a-z0-9]` is a
 * separator, optional Porter stemming of tokens longer than 3 characters. The fast path maps
 * tokens straight to integer ids and records where `\n` splits sentences (for rougeLsum).
 *
 * @module
 */

import { stemToken } from "./porter.ts";

/**
 * Splits text into rouge-score tokens, as `rouge_score.tokenize.tokenize(text, stemmer)` does.
 * With `stem`, tokens longer than 3 characters are Porter-stemmed (NLTK_EXTENSIONS mode).
 * Never throws; returns `[]` for text without letters or digits.
 */
export function tokenize(text: string, opts: { stem?: boolean } = {}): string[] {
  const tokens = text.toLowerCase().split(/[^a-z0-9]+/).filter((token) => token.length > 0);
  return opts.stem ? tokens.map(stemToken) : tokens;
}

/** Vocabulary size at which the interner starts over (between pairs) to bound memory. */
const INTERNER_MAX_ENTRIES = 1_000_000;

/**
 * Maps token strings to small integer ids. In stemming mode raw tokens that share a stem share
 * an id. Ids are only comparable within one scoring call: {@link TokenInterner.resetIfLarge}
 * may start over between pairs.
 */
export class TokenInterner {
  /** raw token → id (after stemming when `stem` is set). */
  readonly #rawToId = new Map<string, number>();
  /** stem → id; only used in stemming mode. */
  readonly #stemToId = new Map<string, number>();
  #size = 0;

  /** Creates an interner; with `stem`, ids identify Porter stems rather than raw tokens. */
  constructor(readonly stem: boolean) {}

  /** Number of distinct ids handed out so far. */
  get size(): number {
    return this.#size;
  }

  /** Returns the id of a raw (lowercase) token, stemming it first in stemming mode. */
  id(token: string): number {
    let id = this.#rawToId.get(token);
    if (id !== undefined) return id;
    if (this.stem) {
      const stem = stemToken(token);
      id = this.#stemToId.get(stem);
      if (id === undefined) {
        id = this.#size++;
        this.#stemToId.set(stem, id);
      }
    } else {
      id = this.#size++;
    }
    this.#rawToId.set(token, id);
    return id;
  }

  /** Forgets every id when the vocabulary got large; call only between pairs. */
  resetIfLarge(): void {
    if (this.#rawToId.size < INTERNER_MAX_ENTRIES) return;
    this.#rawToId.clear();
    this.#stemToId.clear();
    this.#size = 0;
  }
}

/** Token ids of one text plus the token offsets where its `\n`-separated sentences end. */
export interface TokenizedText {
  /** Token ids, in order. */
  ids: Int32Array;
  /**
   * Exclusive token end offset of each non-empty `\n`-separated sentence (rougeLsum's split);
   * sentences without tokens are left out, as they never change rougeLsum.
   */
  sentenceEnds: number[];
  /** Whether the text contained a `\n` (otherwise rougeLsum equals rougeL). */
  multiSentence: boolean;
}

const CODE_NEWLINE = 10;
const CODE_0 = 48;
const CODE_9 = 57;
const CODE_UPPER_A = 65;
const CODE_UPPER_Z = 90;
const CODE_A = 97;
const CODE_Z = 122;
const FIRST_NON_ASCII_CODE = 128;

/**
 * Tokenizes text to ids with the rouge-score rules. ASCII text is scanned once without building
 * a lowercased copy; text with any non-ASCII character is lowercased first with the full Unicode
 * mapping (as Python's `str.lower`, e.g. `İ` → `i̇`, Kelvin sign → `k`).
 */
export function tokenizeToIds(
  text: string,
  interner: TokenInterner,
  scratch: Int32Array,
): TokenizedText {
  let source = text;
  let lowered = false;
  let count = 0;
  const sentenceEnds: number[] = [];
  let multiSentence = false;
  let ids = scratch;
  let start = -1;
  let hasUpper = false;
  for (let i = 0; i <= source.length; i++) {
    const c = i < source.length ? source.charCodeAt(i) : CODE_NEWLINE;
    if ((c >= CODE_A && c <= CODE_Z) || (c >= CODE_0 && c <= CODE_9)) {
      if (start < 0) start = i;
      continue;
    }
    if (c >= CODE_UPPER_A && c <= CODE_UPPER_Z) {
      if (start < 0) start = i;
      hasUpper = true;
      continue;
    }
    if (c >= FIRST_NON_ASCII_CODE && !lowered) {
      // Restart on the Unicode-lowercased text; this branch runs at most once.
      source = text.toLowerCase();
      lowered = true;
      count = 0;
      sentenceEnds.length = 0;
      multiSentence = false;
      start = -1;
      hasUpper = false;
      i = -1;
      continue;
    }
    if (start >= 0) {
      let token = source.slice(start, i);
      if (hasUpper) token = token.toLowerCase();
      if (count === ids.length) {
        const grown = new Int32Array(ids.length * 2);
        grown.set(ids);
        ids = grown;
      }
      ids[count++] = interner.id(token);
      start = -1;
      hasUpper = false;
    }
    if (c === CODE_NEWLINE) {
      if (i < source.length) multiSentence = true;
      const previousEnd = sentenceEnds.length > 0 ? sentenceEnds[sentenceEnds.length - 1] : 0;
      if (count > previousEnd) sentenceEnds.push(count);
    }
  }
  return { ids: ids.slice(0, count), sentenceEnds, multiSentence };
}
