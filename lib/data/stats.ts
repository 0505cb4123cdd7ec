/**
 * Token-length statistics of a formatted dataset, flat so they drop straight into a stage's
 * metrics (how many documents the input budget truncates, typical and extreme lengths).
 *
 * @module
 */

import { quantileSorted } from "../util/stats.ts";

/** Flat token-length statistics (all counts in tokens unless named otherwise). */
export interface TokenLengthStatistics {
  /** Number of examples measured. */
  examples: number;
  /** Documents longer than maxInputTokens (cut to their beginning). */
  documentsTruncated: number;
  /** Summaries longer than maxOutputTokens. */
  summariesTruncated: number;
  /** Median document length before truncation. */
  documentTokensMedian: number;
  /** 90th percentile of document length. */
  documentTokensP90: number;
  /** Longest document. */
  documentTokensMax: number;
  /** Median summary length. */
  summaryTokensMedian: number;
  /** 90th percentile of summary length. */
  summaryTokensP90: number;
  /** Longest summary. */
  summaryTokensMax: number;
}

/** numpy-style quantile (linear interpolation) of sorted numbers; 0 for an empty list. */
function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? 0 : quantileSorted(sorted, q);
}

/**
 * Summarizes untruncated token lengths (e.g. `documentTokens` / `summaryTokens` from
 * `formatExample`) against the budgets: truncation counts, median (mean of the two middle values
 * for an even count), p90 (linear interpolation) and max. All zero for no examples. Never throws.
 */
export function tokenLengthStatistics(
  lengths: readonly { documentTokens: number; summaryTokens: number }[],
  budgets: { maxInputTokens: number; maxOutputTokens: number },
): TokenLengthStatistics {
  const documents = lengths.map((l) => l.documentTokens).sort((a, b) => a - b);
  const summaries = lengths.map((l) => l.summaryTokens).sort((a, b) => a - b);
  return {
    examples: lengths.length,
    documentsTruncated: documents.filter((n) => n > budgets.maxInputTokens).length,
    summariesTruncated: summaries.filter((n) => n > budgets.maxOutputTokens).length,
    documentTokensMedian: quantile(documents, 0.5),
    documentTokensP90: quantile(documents, 0.9),
    documentTokensMax: documents.at(-1) ?? 0,
    summaryTokensMedian: quantile(summaries, 0.5),
    summaryTokensP90: quantile(summaries, 0.9),
    summaryTokensMax: summaries.at(-1) ?? 0,
  };
}
