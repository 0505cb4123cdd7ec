/**
 * rouge-score's default tokenizer: lowercase, every run of characters outside `[a-z0-9]` is a
 * separator, optional Porter stemming of tokens longer than 3 characters. The fast path maps
 * tokens straight to integer ids through {@link TokenTable} without building a string per
 * token, and records where `\n` splits sentences (for rougeLsum).
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

/** Token entries at which the table starts over (between pairs) to bound memory. */
const TABLE_MAX_ENTRIES = 1_000_000;
const INITIAL_TABLE_SLOTS = 1 << 12;
const INITIAL_TEXT_TOKENS = 256;
const FNV_OFFSET_BASIS = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;
/** `c | ASCII_LOWERCASE_BIT` lowercases A–Z and leaves a–z and 0–9 as they are. */
const ASCII_LOWERCASE_BIT = 0x20;
const CODE_NEWLINE = 10;
const FIRST_NON_ASCII_CODE = 128;

/** 1 for the ASCII codes that belong to a token before lowercasing: `[A-Za-z0-9]`. */
const TOKEN_CHAR = new Uint8Array(FIRST_NON_ASCII_CODE);
for (let c = 0; c < FIRST_NON_ASCII_CODE; c++) {
  const lower = c | ASCII_LOWERCASE_BIT;
  TOKEN_CHAR[c] = (lower >= 97 && lower <= 122) || (c >= 48 && c <= 57) ? 1 : 0;
}

/**
 * Maps raw tokens (runs of `[A-Za-z0-9]`, compared lowercased) to small integer ids with an
 * open-addressing hash table over the token's characters, so a token seen before costs no
 * string allocation. In stemming mode raw tokens that share a stem share an id. Ids are only
 * comparable within one scoring call: {@link TokenTable.resetIfLarge} may start over between
 * pairs.
 */
export class TokenTable {
  /** Entry index + 1 per slot; 0 marks an empty slot. Length is a power of two. */
  #slots = new Int32Array(INITIAL_TABLE_SLOTS);
  /** Per entry: hash, offset of its characters in #chars, length, and the id it maps to. */
  #hashes = new Int32Array(INITIAL_TABLE_SLOTS / 2);
  #offsets = new Int32Array(INITIAL_TABLE_SLOTS / 2);
  #lengths = new Int32Array(INITIAL_TABLE_SLOTS / 2);
  #ids = new Int32Array(INITIAL_TABLE_SLOTS / 2);
  /** Lowercased characters of every entry, back to back (tokens are ASCII). */
  #chars = new Uint8Array(INITIAL_TABLE_SLOTS * 4);
  #charCount = 0;
  #entryCount = 0;
  #idCount = 0;
  /** stem → id; only used in stemming mode. */
  readonly #stemToId = new Map<string, number>();

  /** Creates a table; with `stem`, ids identify Porter stems rather than raw tokens. */
  constructor(readonly stem: boolean) {}

  /** Number of distinct ids handed out so far (ids are `0 … size-1`). */
  get size(): number {
    return this.#idCount;
  }

  /**
   * Returns the id of the token `source[start, end)`, whose characters are `[A-Za-z0-9]` and
   * whose FNV-1a hash over the lowercased characters is `hash`.
   */
  idOf(source: string, start: number, end: number, hash: number): number {
    const length = end - start;
    const mask = this.#slots.length - 1;
    let slot = hash & mask;
    for (let entry = this.#slots[slot] - 1; entry >= 0; entry = this.#slots[slot] - 1) {
      if (this.#hashes[entry] === hash && this.#lengths[entry] === length) {
        const offset = this.#offsets[entry];
        let k = 0;
        while (
          k < length &&
          this.#chars[offset + k] === (source.charCodeAt(start + k) | ASCII_LOWERCASE_BIT)
        ) k++;
        if (k === length) return this.#ids[entry];
      }
      slot = (slot + 1) & mask;
    }
    return this.#insert(source.slice(start, end).toLowerCase(), hash, slot);
  }

  #insert(token: string, hash: number, slot: number): number {
    let id: number;
    if (this.stem) {
      const stem = stemToken(token);
      id = this.#stemToId.get(stem) ?? -1;
      if (id < 0) {
        id = this.#idCount++;
        this.#stemToId.set(stem, id);
      }
    } else {
      id = this.#idCount++;
    }
    const entry = this.#entryCount++;
    if (entry === this.#ids.length) this.#growEntries();
    if (this.#charCount + token.length > this.#chars.length) {
      const chars = new Uint8Array((this.#charCount + token.length) * 2);
      chars.set(this.#chars.subarray(0, this.#charCount));
      this.#chars = chars;
    }
    for (let k = 0; k < token.length; k++) {
      this.#chars[this.#charCount + k] = token.charCodeAt(k);
    }
    this.#hashes[entry] = hash;
    this.#offsets[entry] = this.#charCount;
    this.#lengths[entry] = token.length;
    this.#ids[entry] = id;
    this.#charCount += token.length;
    this.#slots[slot] = entry + 1;
    // Keep the load factor at or below 1/2 so probe chains stay short.
    if (this.#entryCount * 2 > this.#slots.length) this.#rehash(this.#slots.length * 2);
    return id;
  }

  #growEntries(): void {
    const grow = (array: Int32Array) => {
      const grown = new Int32Array(array.length * 2);
      grown.set(array);
      return grown;
    };
    this.#hashes = grow(this.#hashes);
    this.#offsets = grow(this.#offsets);
    this.#lengths = grow(this.#lengths);
    this.#ids = grow(this.#ids);
  }

  #rehash(slotCount: number): void {
    const slots = new Int32Array(slotCount);
    const mask = slotCount - 1;
    for (let entry = 0; entry < this.#entryCount; entry++) {
      let slot = this.#hashes[entry] & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = entry + 1;
    }
    this.#slots = slots;
  }

  /** Forgets every id when the table got large; call only between pairs. */
  resetIfLarge(): void {
    if (this.#entryCount < TABLE_MAX_ENTRIES) return;
    this.#slots = new Int32Array(INITIAL_TABLE_SLOTS);
    this.#stemToId.clear();
    this.#entryCount = 0;
    this.#charCount = 0;
    this.#idCount = 0;
  }
}

/** Token ids of one text plus where its `\n`-separated sentences end; reused between texts. */
export class TokenizedText {
  /** Token ids in `ids[0 … length)`. */
  ids = new Int32Array(INITIAL_TEXT_TOKENS);
  /** Number of tokens. */
  length = 0;
  /**
   * Exclusive token end offset of each non-empty `\n`-separated sentence (rougeLsum's split) in
   * `sentenceEnds[0 … sentenceCount)`; sentences without tokens are left out, as they never
   * change rougeLsum.
   */
  sentenceEnds = new Int32Array(16);
  /** Number of sentences with tokens. */
  sentenceCount = 0;
  /** Whether the text contained a `\n` (otherwise rougeLsum equals rougeL). */
  multiSentence = false;

  #push(id: number): void {
    if (this.length === this.ids.length) {
      const grown = new Int32Array(this.ids.length * 2);
      grown.set(this.ids);
      this.ids = grown;
    }
    this.ids[this.length++] = id;
  }

  #endSentence(): void {
    const previousEnd = this.sentenceCount > 0 ? this.sentenceEnds[this.sentenceCount - 1] : 0;
    if (this.length === previousEnd) return;
    if (this.sentenceCount === this.sentenceEnds.length) {
      const grown = new Int32Array(this.sentenceEnds.length * 2);
      grown.set(this.sentenceEnds);
      this.sentenceEnds = grown;
    }
    this.sentenceEnds[this.sentenceCount++] = this.length;
  }

  /**
   * Replaces the contents with the tokens of `text` under rouge-score's rules, ids from
   * `table`. ASCII text is scanned once without a lowercased copy; text with any non-ASCII
   * character is lowercased first with the full Unicode mapping (as Python's `str.lower`, e.g.
   * `İ` → `i̇`, Kelvin sign → `k`), after which every token character is ASCII.
   */
  fill(text: string, table: TokenTable): void {
    let source = text;
    let lowered = false;
    this.length = 0;
    this.sentenceCount = 0;
    this.multiSentence = false;
    let start = -1;
    let hash = FNV_OFFSET_BASIS;
    for (let i = 0; i <= source.length; i++) {
      const c = i < source.length ? source.charCodeAt(i) : CODE_NEWLINE;
      if (c < FIRST_NON_ASCII_CODE) {
        if (TOKEN_CHAR[c] === 1) {
          if (start < 0) {
            start = i;
            hash = FNV_OFFSET_BASIS;
          }
          hash = Math.imul(hash ^ (c | ASCII_LOWERCASE_BIT), FNV_PRIME);
          continue;
        }
      } else if (!lowered) {
        // Restart on the Unicode-lowercased text; this branch runs at most once.
        source = text.toLowerCase();
        lowered = true;
        this.length = 0;
        this.sentenceCount = 0;
        this.multiSentence = false;
        start = -1;
        i = -1;
        continue;
      }
      if (start >= 0) {
        this.#push(table.idOf(source, start, i, hash));
        start = -1;
      }
      if (c === CODE_NEWLINE) {
        if (i < source.length) this.multiSentence = true;
        this.#endSentence();
      }
    }
  }
}
