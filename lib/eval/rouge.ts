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

import { TokenizedText, TokenTable } from "./tokenize.ts";

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

function zeroScore(): Score {
  return { precision: 0, recall: 0, fmeasure: 0 };
}

/** Bigram key of two token ids; exact as a double while ids stay below 2^26. */
const BIGRAM_ID_RADIX = 0x4000000;
/** Above this many bigram comparisons a hash map beats the quadratic match. */
const QUADRATIC_BIGRAM_MAX_WORK = 4096;
const INITIAL_SCRATCH_LENGTH = 1024;

/**
 * A reusable ROUGE scorer. It keeps a token table and scratch buffers between calls, so
 * scoring many pairs with one scorer is much faster than calling {@link scorePair} per pair.
 * Not safe to share between concurrent workers (it is synchronous, so within one isolate it is).
 */
export class RougeScorer {
  readonly #table: TokenTable;
  readonly #prediction = new TokenizedText();
  readonly #reference = new TokenizedText();
  /** Per-token-id counts; all zero between uses. */
  #countsA = new Int32Array(INITIAL_SCRATCH_LENGTH);
  #countsB = new Int32Array(INITIAL_SCRATCH_LENGTH);
  #lcsRow = new Int32Array(INITIAL_SCRATCH_LENGTH);
  #lcsTable = new Int32Array(INITIAL_SCRATCH_LENGTH);
  #unionMarks = new Uint8Array(INITIAL_SCRATCH_LENGTH);
  #bigramUsed = new Uint8Array(INITIAL_SCRATCH_LENGTH);

  /** Creates a scorer; `stem` selects Porter stemming as in rouge-score's `use_stemmer`. */
  constructor(opts: RougeOptions = {}) {
    this.#table = new TokenTable(opts.stem ?? false);
  }

  /**
   * Scores one prediction against one reference and returns rouge1, rouge2, rougeL and
   * rougeLsum as rouge-score's `score(target=reference, prediction=prediction)` does.
   * Never throws for any strings.
   */
  score(prediction: string, reference: string): PairRouge {
    this.#table.resetIfLarge();
    const p = this.#prediction;
    const r = this.#reference;
    p.fill(prediction, this.#table);
    r.fill(reference, this.#table);
    this.#ensureVocabulary(this.#table.size);
    const rougeL = this.#lcsScore(p, r);
    return {
      rouge1: this.#unigramScore(p, r),
      rouge2: this.#bigramScore(p, r),
      rougeL,
      rougeLsum: p.multiSentence || r.multiSentence
        ? this.#summaryLevelLcs(p, r)
        : { precision: rougeL.precision, recall: rougeL.recall, fmeasure: rougeL.fmeasure },
    };
  }

  #ensureVocabulary(size: number): void {
    if (size <= this.#countsA.length) return;
    const length = Math.max(size, this.#countsA.length * 2);
    this.#countsA = new Int32Array(length);
    this.#countsB = new Int32Array(length);
  }

  #unigramScore(prediction: TokenizedText, reference: TokenizedText): Score {
    const p = prediction.ids;
    const r = reference.ids;
    const counts = this.#countsA;
    for (let i = 0; i < reference.length; i++) counts[r[i]]++;
    let hits = 0;
    for (let i = 0; i < prediction.length; i++) {
      if (counts[p[i]] > 0) {
        hits++;
        counts[p[i]]--;
      }
    }
    for (let i = 0; i < reference.length; i++) counts[r[i]] = 0;
    return makeScore(hits / Math.max(prediction.length, 1), hits / Math.max(reference.length, 1));
  }

  #bigramScore(prediction: TokenizedText, reference: TokenizedText): Score {
    const p = prediction.ids;
    const r = reference.ids;
    const predictionBigrams = Math.max(prediction.length - 1, 0);
    const referenceBigrams = Math.max(reference.length - 1, 0);
    if (predictionBigrams === 0 || referenceBigrams === 0) return zeroScore();
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

  /** LCS length of `a[0, aLength)` and `b[0, bLength)` with one rolling row. */
  #lcsLength(a: Int32Array, aLength: number, b: Int32Array, bLength: number): number {
    if (this.#lcsRow.length <= bLength) this.#lcsRow = new Int32Array((bLength + 1) * 2);
    const row = this.#lcsRow;
    row.fill(0, 0, bLength + 1);
    for (let i = 0; i < aLength; i++) {
      const ai = a[i];
      let diagonal = 0; // row[j-1] of the previous row
      for (let j = 1; j <= bLength; j++) {
        const above = row[j];
        if (ai === b[j - 1]) row[j] = diagonal + 1;
        else if (row[j - 1] > above) row[j] = row[j - 1];
        diagonal = above;
      }
    }
    return row[bLength];
  }

  #lcsScore(prediction: TokenizedText, reference: TokenizedText): Score {
    if (prediction.length === 0 || reference.length === 0) return zeroScore();
    const lcs = this.#lcsLength(reference.ids, reference.length, prediction.ids, prediction.length);
    return makeScore(lcs / prediction.length, lcs / reference.length);
  }

  /**
   * Marks in `marks[k - refStart]` the reference indices k of the LCS of `ref[refStart, refEnd)`
   * and `can[canStart, canEnd)` found by rouge-score's `_backtrack_norec` (on a match take it;
   * else move left when t[i][j-1] > t[i-1][j], else up).
   */
  #markLcs(
    ref: Int32Array,
    refStart: number,
    refEnd: number,
    can: Int32Array,
    canStart: number,
    canEnd: number,
    marks: Uint8Array,
  ): void {
    const refLength = refEnd - refStart;
    const canLength = canEnd - canStart;
    const columns = canLength + 1;
    const cells = (refLength + 1) * columns;
    if (this.#lcsTable.length < cells) this.#lcsTable = new Int32Array(cells * 2);
    const t = this.#lcsTable;
    t.fill(0, 0, cells);
    for (let i = 1; i <= refLength; i++) {
      const refToken = ref[refStart + i - 1];
      const rowStart = i * columns;
      const previousRowStart = rowStart - columns;
      for (let j = 1; j <= canLength; j++) {
        if (refToken === can[canStart + j - 1]) t[rowStart + j] = t[previousRowStart + j - 1] + 1;
        else {
          const up = t[previousRowStart + j];
          const left = t[rowStart + j - 1];
          t[rowStart + j] = up > left ? up : left;
        }
      }
    }
    let i = refLength;
    let j = canLength;
    while (i > 0 && j > 0) {
      if (ref[refStart + i - 1] === can[canStart + j - 1]) {
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
    if (prediction.length === 0 || reference.length === 0) return zeroScore();
    const referenceCounts = this.#countsA;
    const predictionCounts = this.#countsB;
    for (let i = 0; i < reference.length; i++) referenceCounts[r[i]]++;
    for (let i = 0; i < prediction.length; i++) predictionCounts[p[i]]++;
    let hits = 0;
    let sentenceStart = 0;
    for (let s = 0; s < reference.sentenceCount; s++) {
      const sentenceEnd = reference.sentenceEnds[s];
      const sentenceLength = sentenceEnd - sentenceStart;
      if (this.#unionMarks.length < sentenceLength) {
        this.#unionMarks = new Uint8Array(sentenceLength * 2);
      }
      const marks = this.#unionMarks;
      marks.fill(0, 0, sentenceLength);
      let candidateStart = 0;
      for (let c = 0; c < prediction.sentenceCount; c++) {
        const candidateEnd = prediction.sentenceEnds[c];
        this.#markLcs(r, sentenceStart, sentenceEnd, p, candidateStart, candidateEnd, marks);
        candidateStart = candidateEnd;
      }
      for (let k = 0; k < sentenceLength; k++) {
        if (marks[k] === 0) continue;
        const token = r[sentenceStart + k];
        if (predictionCounts[token] > 0 && referenceCounts[token] > 0) {
          hits++;
          predictionCounts[token]--;
          referenceCounts[token]--;
        }
      }
      sentenceStart = sentenceEnd;
    }
    for (let i = 0; i < reference.length; i++) referenceCounts[r[i]] = 0;
    for (let i = 0; i < prediction.length; i++) predictionCounts[p[i]] = 0;
    return makeScore(hits / prediction.length, hits / reference.length);
  }
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
