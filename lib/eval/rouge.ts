/**
 * ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum of one prediction against one reference, exactly as
 * Google's `rouge-score` (`RougeScorer(["rouge1","rouge2","rougeL","rougeLsum"])`) computes
 * them: n-gram overlap with clipped counts, LCS over the whole text, and the summary-level union
 * LCS over `\n`-separated sentences with rouge-score's backtrack tie-breaking.
 *
 * Internally texts become integer token ids and every table is a reused typed array.
 *
 * @module
 */

import { TokenInterner, type TokenizedText, tokenizeToIds } from "./tokenize.ts";

/** Precision, recall and F1 of one ROUGE type. */
export interface Score {
  /** Matched units / units in the prediction. */
  precision: number;
  /** Matched units / units in the reference. */
  recall: number;
  /** Harmonic mean of precision and recall (0 when both are 0). */
  fmeasure: number;
}

/** The four ROUGE types rouge-score reports, in its names. */
export const ROUGE_TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"] as const;
/** One of {@link ROUGE_TYPES}. */
export type RougeType = typeof ROUGE_TYPES[number];

/** Scores of one prediction/reference pair, one {@link Score} per ROUGE type. */
export type PairRouge = Record<RougeType, Score>;

/** Options of {@link scorePair} and {@link RougeScorer}. */
export interface RougeOptions {
  /** Porter-stem tokens longer than 3 characters (rouge-score `use_stemmer=True`). */
  stem?: boolean;
}

function makeScore(precision: number, recall: number): Score {
  const fmeasure = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, fmeasure };
}

const ZERO_SCORE: Readonly<Score> = Object.freeze({ precision: 0, recall: 0, fmeasure: 0 });

/** Bigram key of two token ids; exact as a double while ids stay below 2^26. */
const BIGRAM_ID_RADIX = 0x4000000;
/** Above this many bigram comparisons a hash map beats the quadratic match. */
const QUADRATIC_BIGRAM_MAX_WORK = 4096;
const INITIAL_SCRATCH_LENGTH = 1024;

/**
 * A reusable ROUGE scorer. It keeps an id vocabulary and scratch tables between calls, so
 * scoring many pairs with one scorer is much faster than calling {@link scorePair} per pair.
 * Not safe to share between concurrent workers (it is synchronous, so within one isolate it is).
 */
export class RougeScorer {
  readonly #interner: TokenInterner;
  #tokenScratch = new Int32Array(INITIAL_SCRATCH_LENGTH);
  /** Per-token-id counts; all zero between uses. */
  #countsA = new Int32Array(INITIAL_SCRATCH_LENGTH);
  #countsB = new Int32Array(INITIAL_SCRATCH_LENGTH);
  #lcsRow = new Int32Array(INITIAL_SCRATCH_LENGTH);
  #lcsTable = new Int32Array(INITIAL_SCRATCH_LENGTH);
  #unionMarks = new Uint8Array(INITIAL_SCRATCH_LENGTH);
  #bigramUsed = new Uint8Array(INITIAL_SCRATCH_LENGTH);

  /** Creates a scorer; `stem` selects Porter stemming as in rouge-score's `use_stemmer`. */
  constructor(opts: RougeOptions = {}) {
    this.#interner = new TokenInterner(opts.stem ?? false);
  }

  /**
   * Scores one prediction against one reference and returns rouge1, rouge2, rougeL and
   * rougeLsum as rouge-score's `score(target=reference, prediction=prediction)` does.
   * Never throws for any strings.
   */
  score(prediction: string, reference: string): PairRouge {
    this.#interner.resetIfLarge();
    const predictionTokens = this.#tokenize(prediction);
    const referenceTokens = this.#tokenize(reference);
    this.#ensureVocabulary(this.#interner.size);
    const p = predictionTokens.ids;
    const r = referenceTokens.ids;
    const rougeL = this.#lcsScore(p, r);
    const rougeLsum = predictionTokens.multiSentence || referenceTokens.multiSentence
      ? this.#summaryLevelLcs(predictionTokens, referenceTokens)
      : rougeL;
    return {
      rouge1: this.#unigramScore(p, r),
      rouge2: this.#bigramScore(p, r),
      rougeL,
      rougeLsum: rougeLsum === rougeL ? { ...rougeL } : rougeLsum,
    };
  }

  #tokenize(text: string): TokenizedText {
    const tokens = tokenizeToIds(text, this.#interner, this.#tokenScratch);
    if (tokens.ids.length > this.#tokenScratch.length) {
      this.#tokenScratch = new Int32Array(tokens.ids.length * 2);
    }
    return tokens;
  }

  #ensureVocabulary(size: number): void {
    if (size <= this.#countsA.length) return;
    const length = Math.max(size, this.#countsA.length * 2);
    this.#countsA = new Int32Array(length);
    this.#countsB = new Int32Array(length);
  }

  #unigramScore(p: Int32Array, r: Int32Array): Score {
    const counts = this.#countsA;
    for (let i = 0; i < r.length; i++) counts[r[i]]++;
    let hits = 0;
    for (let i = 0; i < p.length; i++) {
      if (counts[p[i]] > 0) {
        hits++;
        counts[p[i]]--;
      }
    }
    for (let i = 0; i < r.length; i++) counts[r[i]] = 0;
    return makeScore(hits / Math.max(p.length, 1), hits / Math.max(r.length, 1));
  }

  #bigramScore(p: Int32Array, r: Int32Array): Score {
    const predictionBigrams = Math.max(p.length - 1, 0);
    const referenceBigrams = Math.max(r.length - 1, 0);
    if (predictionBigrams === 0 || referenceBigrams === 0) return { ...ZERO_SCORE };
    let hits = 0;
    if (predictionBigrams * referenceBigrams <= QUADRATIC_BIGRAM_MAX_WORK) {
      // Greedy matching of equal bigrams counts sum(min(count_p, count_r)) per bigram.
      if (this.#bigramUsed.length < referenceBigrams) {
        this.#bigramUsed = new Uint8Array(referenceBigrams * 2);
      }
      const used = this.#bigramUsed;
      used.fill(0, 0, referenceBigrams);
      for (let i = 0; i < predictionBigrams; i++) {
        const a = p[i];
        const b = p[i + 1];
        for (let j = 0; j < referenceBigrams; j++) {
          if (used[j] === 0 && r[j] === a && r[j + 1] === b) {
            used[j] = 1;
            hits++;
            break;
          }
        }
      }
    } else {
      const referenceCounts = new Map<number, number>();
      for (let j = 0; j < referenceBigrams; j++) {
        const key = r[j] * BIGRAM_ID_RADIX + r[j + 1];
        referenceCounts.set(key, (referenceCounts.get(key) ?? 0) + 1);
      }
      for (let i = 0; i < predictionBigrams; i++) {
        const key = p[i] * BIGRAM_ID_RADIX + p[i + 1];
        const left = referenceCounts.get(key);
        if (left !== undefined && left > 0) {
          hits++;
          referenceCounts.set(key, left - 1);
        }
      }
    }
    return makeScore(hits / predictionBigrams, hits / referenceBigrams);
  }

  /** LCS length with one rolling row. */
  #lcsLength(a: Int32Array, b: Int32Array): number {
    if (this.#lcsRow.length <= b.length) this.#lcsRow = new Int32Array((b.length + 1) * 2);
    const row = this.#lcsRow;
    row.fill(0, 0, b.length + 1);
    for (let i = 0; i < a.length; i++) {
      const ai = a[i];
      let diagonal = 0; // row[j-1] of the previous row
      for (let j = 1; j <= b.length; j++) {
        const above = row[j];
        if (ai === b[j - 1]) row[j] = diagonal + 1;
        else if (row[j - 1] > above) row[j] = row[j - 1];
        diagonal = above;
      }
    }
    return row[b.length];
  }

  #lcsScore(p: Int32Array, r: Int32Array): Score {
    if (p.length === 0 || r.length === 0) return { ...ZERO_SCORE };
    const lcs = this.#lcsLength(r, p);
    return makeScore(lcs / p.length, lcs / r.length);
  }

  /**
   * Marks in `marks` the reference indices of the LCS of `ref` and `can` found by rouge-score's
   * `_backtrack_norec` (on a match take it; else move left when t[i][j-1] > t[i-1][j], else up).
   */
  #markLcs(ref: Int32Array, can: Int32Array, marks: Uint8Array): void {
    const columns = can.length + 1;
    const cells = (ref.length + 1) * columns;
    if (this.#lcsTable.length < cells) this.#lcsTable = new Int32Array(cells * 2);
    const t = this.#lcsTable;
    t.fill(0, 0, cells);
    for (let i = 1; i <= ref.length; i++) {
      const refToken = ref[i - 1];
      const rowStart = i * columns;
      const previousRowStart = rowStart - columns;
      for (let j = 1; j <= can.length; j++) {
        if (refToken === can[j - 1]) t[rowStart + j] = t[previousRowStart + j - 1] + 1;
        else {
          const up = t[previousRowStart + j];
          const left = t[rowStart + j - 1];
          t[rowStart + j] = up > left ? up : left;
        }
      }
    }
    let i = ref.length;
    let j = can.length;
    while (i > 0 && j > 0) {
      if (ref[i - 1] === can[j - 1]) {
        marks[i - 1] = 1;
        i--;
        j--;
      } else if (t[i * columns + j - 1] > t[(i - 1) * columns + j]) j--;
      else i--;
    }
  }

  /** rouge-score `_summary_level_lcs(ref_sent, can_sent)`. */
  #summaryLevelLcs(prediction: TokenizedText, reference: TokenizedText): Score {
    const p = prediction.ids;
    const r = reference.ids;
    if (p.length === 0 || r.length === 0) return { ...ZERO_SCORE };
    const referenceCounts = this.#countsA;
    const predictionCounts = this.#countsB;
    for (let i = 0; i < r.length; i++) referenceCounts[r[i]]++;
    for (let i = 0; i < p.length; i++) predictionCounts[p[i]]++;
    const predictionSentences = splitSentences(p, prediction.sentenceEnds);
    let hits = 0;
    let sentenceStart = 0;
    for (const sentenceEnd of reference.sentenceEnds) {
      const referenceSentence = r.subarray(sentenceStart, sentenceEnd);
      sentenceStart = sentenceEnd;
      if (this.#unionMarks.length < referenceSentence.length) {
        this.#unionMarks = new Uint8Array(referenceSentence.length * 2);
      }
      const marks = this.#unionMarks;
      marks.fill(0, 0, referenceSentence.length);
      for (const candidate of predictionSentences) {
        this.#markLcs(referenceSentence, candidate, marks);
      }
      for (let k = 0; k < referenceSentence.length; k++) {
        if (marks[k] === 0) continue;
        const token = referenceSentence[k];
        if (predictionCounts[token] > 0 && referenceCounts[token] > 0) {
          hits++;
          predictionCounts[token]--;
          referenceCounts[token]--;
        }
      }
    }
    for (let i = 0; i < r.length; i++) referenceCounts[r[i]] = 0;
    for (let i = 0; i < p.length; i++) predictionCounts[p[i]] = 0;
    return makeScore(hits / p.length, hits / r.length);
  }
}

function splitSentences(ids: Int32Array, sentenceEnds: number[]): Int32Array[] {
  const sentences: Int32Array[] = [];
  let start = 0;
  for (const end of sentenceEnds) {
    sentences.push(ids.subarray(start, end));
    start = end;
  }
  return sentences;
}

const sharedScorers = new Map<boolean, RougeScorer>();

/**
 * Scores one prediction against one reference with rouge1, rouge2, rougeL and rougeLsum,
 * exactly as rouge-score does (its default tokenizer; `stem` = `use_stemmer`). Uses a shared
 * scorer per stemming mode, so repeated calls reuse the vocabulary. Never throws.
 */
export function scorePair(
  prediction: string,
  reference: string,
  opts: RougeOptions = {},
): PairRouge {
  const stem = opts.stem ?? false;
  let scorer = sharedScorers.get(stem);
  if (scorer === undefined) {
    scorer = new RougeScorer({ stem });
    sharedScorers.set(stem, scorer);
  }
  return scorer.score(prediction, reference);
}
