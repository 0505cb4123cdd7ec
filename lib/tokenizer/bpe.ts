/**
 * GPT-2 byte-level BPE loaded from a checkpoint's `tokenizer.json` or `vocab.json` + `merges.txt`.
 *
 * Why our own ~150 lines instead of a library: `gpt-tokenizer` (already a dependency) ships fixed
 * encodings and cannot load a checkpoint's own vocabulary and merges; `@huggingface/tokenizers`
 * is a native Node add-on and `@huggingface/transformers` pulls in onnxruntime. The algorithm is
 * small and fully specified (OpenAI's `encoder.py`); the tests check it against `gpt-tokenizer`'s
 * r50k_base (= GPT-2) on varied text, and a per-word cache makes a corpus encode in seconds.
 *
 * @module
 */

/** A tokenizer: text ↔ token ids. */
export interface Tokenizer {
  /** Number of ids (the model's `vocab_size` must be at least this). */
  vocabSize: number;
  /** Id of `<|endoftext|>` (end of sequence). */
  eosId: number;
  /** Token ids of `text`; special tokens such as `<|endoftext|>` written in the text map to their id. */
  encode(text: string): number[];
  /** Text of `ids`; byte sequences that are not valid UTF-8 become U+FFFD. */
  decode(ids: number[]): string;
}

/** A tokenizer whose tokens are byte strings (what the compact vocabulary is built on). */
export interface ByteTokenizer extends Tokenizer {
  /** The bytes token `id` stands for. Throws TokenizerError for an unknown id. */
  tokenBytes(id: number): Uint8Array;
  /** Whether `id` is a special token such as `<|endoftext|>` (never split into bytes). */
  isSpecial(id: number): boolean;
}

/** A tokenizer file that cannot be used or an id/text the tokenizer cannot handle. */
export class TokenizerError extends Error {
  /** Creates the error; `file` is prefixed to the message when given. */
  constructor(message: string, readonly file?: string) {
    super(file ? `${file}: ${message}` : message);
    this.name = "TokenizerError";
  }
}

/** The end-of-text token of GPT-2. */
export const endOfText = "<|endoftext|>";

/** GPT-2's pre-tokenizer: contractions, letters, numbers, other symbols, whitespace. */
const gpt2Split = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's byte → printable character table (`bytes_to_unicode` in OpenAI's encoder.py). */
function byteToChar(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return table;
}

const byteChars = byteToChar();
const charBytes = new Map(byteChars.map((c, b) => [c, b]));

/** Byte-level BPE with GPT-2's pre-tokenizer and special tokens. */
export class BPETokenizer implements ByteTokenizer {
  /** Number of ids. */
  readonly vocabSize: number;
  /** Id of `<|endoftext|>`. */
  readonly eosId: number;
  private readonly tokenIds: Map<string, number>;
  private readonly tokenStrings: string[];
  private readonly mergeRanks: Map<string, number>;
  private readonly merges: [string, string][];
  private readonly specials: Map<string, number>;
  private readonly specialSplit: RegExp | null;
  private readonly unknownId: number | undefined;
  private readonly wordCache = new Map<string, number[]>();
  private mergeParentsOf?: Map<number, [number, number]>;

  /**
   * Builds from a vocabulary (byte-level token string → id), merges in priority order (pairs of
   * token strings) and special tokens (text → id). Throws TokenizerError when there is no
   * `<|endoftext|>` or the ids are not 0..n-1 without gaps.
   */
  constructor(
    vocab: Record<string, number>,
    merges: [string, string][],
    specials: Record<string, number> = {},
    source = "tokenizer",
  ) {
    this.tokenIds = new Map(Object.entries(vocab));
    for (const [text, id] of Object.entries(specials)) this.tokenIds.set(text, id);
    const size = Math.max(-1, ...this.tokenIds.values()) + 1;
    this.tokenStrings = new Array(size);
    for (const [text, id] of this.tokenIds) {
      if (!Number.isInteger(id) || id < 0) {
        throw new TokenizerError(`token ${JSON.stringify(text)} has id ${id}`, source);
      }
      this.tokenStrings[id] = text;
    }
    this.vocabSize = size;
    this.merges = merges;
    this.mergeRanks = new Map(merges.map(([a, b], rank) => [`${a} ${b}`, rank]));
    this.specials = new Map(Object.entries(specials));
    if (!this.specials.has(endOfText) && vocab[endOfText] !== undefined) {
      this.specials.set(endOfText, vocab[endOfText]);
    }
    const eos = this.specials.get(endOfText);
    if (eos === undefined) throw new TokenizerError(`no ${endOfText} token`, source);
    this.eosId = eos;
    this.unknownId = vocab["<unk>"] ?? specials["<unk>"];
    const escaped = [...this.specials.keys()].sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    this.specialSplit = escaped.length ? new RegExp(`(${escaped.join("|")})`) : null;
  }

  /** Token ids of `text`. Throws TokenizerError when a byte has no token and there is no `<unk>`. */
  encode(text: string): number[] {
    const ids: number[] = [];
    const parts = this.specialSplit ? text.split(this.specialSplit) : [text];
    for (const [index, part] of parts.entries()) {
      if (index % 2 === 1) {
        ids.push(this.specials.get(part)!);
        continue;
      }
      for (const word of part.match(gpt2Split) ?? []) {
        let wordIds = this.wordCache.get(word);
        if (!wordIds) {
          wordIds = this.encodeWord(word);
          if (this.wordCache.size > 100_000) this.wordCache.clear();
          this.wordCache.set(word, wordIds);
        }
        for (const id of wordIds) ids.push(id);
      }
    }
    return ids;
  }

  /** Text of `ids`. Throws TokenizerError for an id outside the vocabulary. */
  decode(ids: number[]): string {
    const bytes: number[] = [];
    for (const id of ids) for (const b of this.tokenBytes(id)) bytes.push(b);
    return new TextDecoder().decode(new Uint8Array(bytes));
  }

  /** The bytes of token `id` (a special token's UTF-8 text). Throws TokenizerError for an unknown id. */
  tokenBytes(id: number): Uint8Array {
    const text = this.tokenStrings[id];
    if (text === undefined) {
      throw new TokenizerError(`token id ${id} is outside the vocabulary of ${this.vocabSize}`);
    }
    if (this.isSpecial(id)) return new TextEncoder().encode(text);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const b = charBytes.get(text[i]);
      if (b === undefined) return new TextEncoder().encode(text); // e.g. "<unk>"
      out[i] = b;
    }
    return out;
  }

  /** Whether `id` is a special token. */
  isSpecial(id: number): boolean {
    const text = this.tokenStrings[id];
    return text !== undefined && this.specials.get(text) === id;
  }

  /** The id of a byte-level token string (as in vocab.json), if it is in the vocabulary. */
  encodeTokenString(token: string): number | undefined {
    return this.tokenIds.get(token);
  }

  /** The byte-level token string of `id` (as in vocab.json). */
  tokenString(id: number): string | undefined {
    return this.tokenStrings[id];
  }

  /**
   * The two tokens whose merge made token `id` (the lowest-ranked merge that spells it), or
   * undefined for a byte, a special token or a token no merge produces.
   */
  mergeParents(id: number): [number, number] | undefined {
    if (!this.mergeParentsOf) {
      this.mergeParentsOf = new Map();
      for (const [a, b] of this.merges) {
        const merged = this.tokenIds.get(a + b);
        const left = this.tokenIds.get(a);
        const right = this.tokenIds.get(b);
        if (merged === undefined || left === undefined || right === undefined) continue;
        if (!this.mergeParentsOf.has(merged)) this.mergeParentsOf.set(merged, [left, right]);
      }
    }
    return this.mergeParentsOf.get(id);
  }

  /** `vocab.json` and `merges.txt` contents that rebuild this tokenizer (specials included in the vocab). */
  toFiles(): { vocabJson: string; mergesTxt: string } {
    const vocab: Record<string, number> = {};
    for (const [text, id] of this.tokenIds) vocab[text] = id;
    const lines = ["#version: 0.2", ...this.merges.map(([a, b]) => `${a} ${b}`)];
    return { vocabJson: JSON.stringify(vocab), mergesTxt: lines.join("\n") + "\n" };
  }

  /** Applies the merges to one pre-tokenized word, lowest rank first, as OpenAI's `bpe()` does. */
  private encodeWord(word: string): number[] {
    const bytes = new TextEncoder().encode(word);
    let symbols = Array.from(bytes, (b) => byteChars[b]);
    while (symbols.length > 1) {
      let bestRank = Infinity;
      let bestPair = "";
      for (let i = 0; i + 1 < symbols.length; i++) {
        const pair = `${symbols[i]} ${symbols[i + 1]}`;
        const rank = this.mergeRanks.get(pair);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          bestPair = pair;
        }
      }
      if (bestRank === Infinity) break;
      const [first, second] = bestPair.split(" ");
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === first && symbols[i + 1] === second) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(symbols[i]);
        }
      }
      symbols = merged;
    }
    return symbols.map((symbol) => {
      const id = this.tokenIds.get(symbol);
      if (id !== undefined) return id;
      if (this.unknownId !== undefined) return this.unknownId;
      throw new TokenizerError(`no token for ${JSON.stringify(symbol)} and no <unk> token`);
    });
  }
}

/** Parses merges.txt lines ("a b", optional "#version" header). */
export function parseMerges(text: string, file: string): [string, string][] {
  const merges: [string, string][] = [];
  for (const [index, line] of text.split("\n").entries()) {
    const trimmed = line.replace(/\r$/, "");
    if (trimmed === "" || (index === 0 && trimmed.startsWith("#version"))) continue;
    const parts = trimmed.split(" ");
    if (parts.length !== 2) {
      throw new TokenizerError(
        `line ${index + 1}: a merge must be two tokens separated by one space`,
        file,
      );
    }
    merges.push([parts[0], parts[1]]);
  }
  return merges;
}

/**
 * Builds from a Hugging Face `tokenizer.json` object (model type BPE, merges as "a b" strings or
 * [a, b] pairs, `added_tokens` as specials). Throws TokenizerError when it is not a BPE tokenizer.
 */
export function fromTokenizerJson(json: unknown, file: string): BPETokenizer {
  const root = json as {
    model?: { type?: string; vocab?: unknown; merges?: unknown };
    added_tokens?: unknown;
  };
  const model = root?.model;
  if (
    !model || model.type !== "BPE" || typeof model.vocab !== "object" ||
    !Array.isArray(model.merges)
  ) {
    throw new TokenizerError(
      "not a byte-level BPE tokenizer.json (model.type, vocab, merges)",
      file,
    );
  }
  const merges = (model.merges as unknown[]).map((m, i): [string, string] => {
    if (typeof m === "string") {
      const parts = m.split(" ");
      if (parts.length === 2) return [parts[0], parts[1]];
    } else if (Array.isArray(m) && m.length === 2) return [String(m[0]), String(m[1])];
    throw new TokenizerError(`merge ${i} is not "a b" or [a, b]`, file);
  });
  const specials: Record<string, number> = {};
  for (const token of Array.isArray(root.added_tokens) ? root.added_tokens : []) {
    if (token && typeof token.content === "string" && Number.isInteger(token.id)) {
      specials[token.content] = token.id;
    }
  }
  return new BPETokenizer(model.vocab as Record<string, number>, merges, specials, file);
}
