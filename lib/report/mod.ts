/**
 * The metrics table (`metrics.md`, `metrics.json`, `metrics.csv`; mean ± sample standard
 * deviation over seeds) and the self-contained `report.html` with Vega-Lite charts rendered to SVG.
 *
 * Input: one {@linkcode RunMetrics} per evaluated run (method × seed).
 *
 * @module
 */

export {
  BASELINE_OPTIONAL_FIELDS,
  type ConfidenceInterval,
  DEVICE_FIELDS,
  EXAMPLE_SCORE_FIELDS,
  ReportInputError,
  RUN_METRIC_KEYS,
  type RunMetrics,
  type SamplePrediction,
  validateRunMetrics,
} from "./run_metrics.ts";
export {
  buildMetricsTable,
  mean,
  type MethodRow,
  type MetricsTable,
  sampleStd,
  type Summary,
  SUMMARY_FIELDS,
  type SummaryField,
} from "./table.ts";
export {
  formatBytes,
  formatCount,
  formatDuration,
  formatInterval,
  formatLoss,
  formatPercent,
  formatRouge,
} from "./format.ts";
export {
  DISPLAY_COLUMNS,
  markdownCell,
  type MetricsJson,
  renderCsv,
  renderJson,
  renderMarkdown,
  renderVerdictMarkdown,
  writeMetricsFiles,
  type WrittenMetrics,
} from "./table_files.ts";
export { renderSvg, rougeVsMemorySpec, rougeVsParamsSpec, validationLossSpec } from "./charts.ts";
export {
  DEFAULT_REPORT_TITLE,
  DEFAULT_SAMPLE_COUNT,
  escapeHtml,
  pickSamples,
  renderReportHtml,
  type ReportOptions,
} from "./html.ts";
export {
  BASE_METHOD,
  type Claim,
  computeVerdict,
  LEAD_METHOD,
  type PairedDifference,
  type Verdict,
  type VerdictMetric,
  type VerdictOptions,
} from "./verdict.ts";
