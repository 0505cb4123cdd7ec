/**
 * Dataset readers (JSONL/CSV/Parquet) with row validation and reports, the sha256 hash split, prompt
 * formatting and token-length statistics.
 *
 * @module
 */

export { type BadRow, DataError, LISTED_OFFENDERS_MAX, TemplateError } from "./errors.ts";
export { DEFAULT_MAX_LINE_BYTES, type RawLine, readLineBlocks, readLines } from "./lines.ts";
export {
  type BadRowPolicy,
  DATA_FORMATS,
  type DataFormat,
  type DataReport,
  type Example,
  LISTED_DUPLICATES_MAX,
  readExamples,
  type ReadOptions,
} from "./read.ts";
export {
  hashBucket,
  SPLIT_NAMES,
  splitByHash,
  type SplitName,
  splitOf,
  TRAIN_BUCKETS_BELOW,
  VALIDATION_BUCKETS_BELOW,
} from "./split.ts";
export {
  DEFAULT_TEMPLATE,
  END_OF_TEXT_MARKER,
  formatExample,
  type FormatOptions,
  formatPrompt,
  type FormattedExample,
  type PromptTokenizer,
} from "./format.ts";
export { type TokenLengthStatistics, tokenLengthStatistics } from "./stats.ts";
