/**
 * Corpus-level ROUGE: the mean of the per-pair scores (what rouge-score gives per pair,
 * averaged), with optional bootstrap confidence intervals of the mean F-measure.
 *
 * @module
 */

import { bootstrapMeanIntervals, type ConfidenceInterval } from "./bootstrap.ts";
import { type PairRouge, ROUGE_TYPES, RougeScorer, type RougeType } from "./rouge.ts";

/** One prediction/reference pair. */
export interface RougePair {
  /** Generated text. */
  prediction: string;
  /** Gold text. */
  reference: string;
}

/** Mean scores of one ROUGE type over a corpus. */
export interface CorpusScore {
  /** Mean precision over the pairs. */
  precision: number;
  /** Mean recall over the pairs. */
  recall: number;
  /** Mean F-measure over the pairs: the corpus score. */
  fmeasure: number;
  /** Bootstrap confidence interval of the mean F-measure, when requested. */
  confidenceInterval?: ConfidenceInterval;
}

/** Result of {@link corpusRouge}. */
export type CorpusRouge = Record<RougeType, CorpusScore> & {
  /** Number of pairs. */
  n: number;
  /** Per-pair scores, in input order. */
  pairScores: PairRouge[];
  /** The bootstrap settings used, when confidence intervals were computed. */
  bootstrap?: { samples: number; seed: number; confidence: number };
};

/** Options of {@link corpusRouge}. */
export interface CorpusRougeOptions {
  /** Porter-stem tokens longer than 3 characters. */
  stem?: boolean;
  /** Percentile bootstrap of the mean F-measure; `confidence` defaults to 0.95. */
  bootstrap?: { samples: number; seed: number; confidence?: number };
}

/**
 * Scores every pair and returns, per ROUGE type, the mean precision, recall and F-measure
 * (corpus score = mean F), the per-pair scores and, with `bootstrap`, a confidence interval of
 * the mean F from a seeded percentile bootstrap (same seed → same interval). Throws a RangeError
 * when `pairs` is empty or the bootstrap settings are invalid.
 */
export function corpusRouge(
  pairs: readonly RougePair[],
  opts: CorpusRougeOptions = {},
): CorpusRouge {
  if (pairs.length === 0) throw new RangeError("corpusRouge: no pairs to score");
  const scorer = new RougeScorer({ stem: opts.stem });
  const pairScores = pairs.map((pair) => scorer.score(pair.prediction, pair.reference));
  const n = pairScores.length;
  const fmeasures = ROUGE_TYPES.map(() => new Float64Array(n));
  const result = { n, pairScores } as CorpusRouge;
  ROUGE_TYPES.forEach((type, t) => {
    let precision = 0;
    let recall = 0;
    let fmeasure = 0;
    for (let i = 0; i < n; i++) {
      const score = pairScores[i][type];
      precision += score.precision;
      recall += score.recall;
      fmeasure += score.fmeasure;
      fmeasures[t][i] = score.fmeasure;
    }
    result[type] = { precision: precision / n, recall: recall / n, fmeasure: fmeasure / n };
  });
  if (opts.bootstrap) {
    const intervals = bootstrapMeanIntervals(fmeasures, opts.bootstrap);
    ROUGE_TYPES.forEach((type, t) => result[type].confidenceInterval = intervals[t]);
    result.bootstrap = {
      samples: opts.bootstrap.samples,
      seed: opts.bootstrap.seed,
      confidence: opts.bootstrap.confidence ?? 0.95,
    };
  }
  return result;
}
