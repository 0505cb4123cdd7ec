/**
 * ROUGE exactly as Google's `rouge-score` computes it (rouge1, rouge2, rougeL, rougeLsum, with
 * optional NLTK Porter stemming), corpus means and seeded bootstrap confidence intervals.
 *
 * @module
 */

export { porterStem, stemToken } from "./porter.ts";
export { tokenize } from "./tokenize.ts";
export {
  type PairRouge,
  ROUGE_TYPES,
  type RougeOptions,
  RougeScorer,
  type RougeType,
  type Score,
  scorePair,
} from "./rouge.ts";
export {
  type CorpusRouge,
  corpusRouge,
  type CorpusRougeOptions,
  type CorpusScore,
  type RougePair,
} from "./corpus.ts";
export {
  bootstrapMeanIntervals,
  bootstrapMeans,
  type BootstrapOptions,
  type ConfidenceInterval,
  percentileInterval,
} from "./bootstrap.ts";
export { quantileSorted } from "../util/stats.ts";
export { seededRandom } from "../util/random.ts";
export {
  type ExampleScores,
  excludesZero,
  type MeanStatistic,
  PairedBootstrap,
  type PairedEstimate,
} from "./paired.ts";
