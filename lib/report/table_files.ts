/**
 * The metrics table as files: `metrics.md` for people (and the console), `metrics.json` and
 * `metrics.csv` (RFC 4180) for programs, with raw numbers in base units.
 *
 * @module
 */

import { join } from "node:path";
import {
  formatBytes,
  formatCount,
  formatDuration,
  formatInterval,
  formatLoss,
  formatPercent,
  formatRouge,
} from "./format.ts";
import { INTERVAL_FIELDS, type RunMetrics } from "./run_metrics.ts";
import { type MethodRow, type MetricsTable, type Summary, SUMMARY_FIELDS } from "./table.ts";
import type { Verdict } from "./verdict.ts";

/** A column of the human-readable table: its header and how a row shows in it. */
export interface DisplayColumn {
  /** Column header. */
  header: string;
  /** The main cell text for one row. */
  cell(row: MethodRow): string;
  /** Secondary text shown after the main text (a CI, a share); undefined for none. */
  detail?(row: MethodRow): string | undefined;
}

/** The columns of `metrics.md` and of the table in `report.html`, in order. */
export const DISPLAY_COLUMNS: readonly DisplayColumn[] = [
  { header: "Method", cell: (row) => row.method },
  { header: "Seeds", cell: (row) => String(row.seeds.length) },
  {
    header: "ROUGE-1",
    cell: (row) => formatRouge(row.rouge1),
    detail: (row) => formatInterval(row.rouge1Ci),
  },
  {
    header: "ROUGE-2",
    cell: (row) => formatRouge(row.rouge2),
    detail: (row) => formatInterval(row.rouge2Ci),
  },
  {
    header: "ROUGE-L",
    cell: (row) => formatRouge(row.rougeL),
    detail: (row) => formatInterval(row.rougeLCi),
  },
  { header: "Val. loss", cell: (row) => formatLoss(row.validationLoss) },
  {
    header: "Trainable params",
    cell: (row) => formatCount(row.trainableParams),
    detail: (row) => `(${formatPercent(row.trainablePercent)})`,
  },
  {
    header: "Train time",
    cell: (row) => formatDuration(row.trainSeconds),
    detail: (row) =>
      row.trainSeconds.mean === null
        ? undefined
        : `(+${formatDuration(row.validationSeconds)} val., ${
          formatDuration(row.checkpointSeconds)
        } ckpt.)`,
  },
  {
    header: "Peak train memory",
    cell: (row) => formatBytes(row.peakTrainRssBytes),
    detail: (row) => memoryDetail(row.peakTrainTensorBytes, row.peakTrainDeviceBytes),
  },
  {
    header: "Peak eval memory",
    cell: (row) => formatBytes(row.peakEvalRssBytes),
    detail: (row) => memoryDetail(row.peakEvalTensorBytes, row.peakEvalDeviceBytes),
  },
  { header: "Tokens/s", cell: (row) => formatCount(row.tokensPerSecond) },
];

/** `(tensors X)`, or `(tensors X, device Y)` on a backend with a device. */
function memoryDetail(tensors: Summary, device: Summary): string {
  const deviceText = device.mean === null ? "" : `, device ${formatBytes(device)}`;
  return `(tensors ${formatBytes(tensors)}${deviceText})`;
}

/** The full text of a column's cell for one row: main text, then its detail if any. */
export function cellText(column: DisplayColumn, row: MethodRow): string {
  const detail = column.detail?.(row);
  return detail === undefined ? column.cell(row) : `${column.cell(row)} ${detail}`;
}

/** What the figures mean; printed under the Markdown table and the HTML table. */
export const TABLE_NOTES: readonly string[] = [
  "ROUGE: F-measure ×100 on the test split; [95% bootstrap CI] (with several seeds, the mean of the per-seed bounds).",
  "With several seeds: mean ± sample standard deviation over seeds. Val. loss: nats per token of the evaluated checkpoint.",
  "Train time: wall time of the optimisation steps only (forward, backward, clipping, update); validation passes (val.) and checkpoint writes (ckpt.) are shown apart in brackets. Tokens/s: real (non-padding) training tokens per second of that time.",
  "Memory: peak process RSS, sampled (the whole process); in brackets the exact peak of live tensor storage, counted at every allocation and free with each buffer once — the same meter for training (weights, optimizer moments, gradients, what back-propagation keeps) and evaluation (weights, test-loss pass, generation with its KV cache) — and, on webgpu, the peak GPU bytes tfjs had allocated, its buffer pool included. 1 MB = 10^6 bytes.",
];

/** `text` as one Markdown table cell: pipes escaped, whitespace runs (newlines too) one space. */
export function markdownCell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll(/\s+/g, " ").trim();
}

/** The verdict as Markdown: a heading, then one bullet per claim. Empty without a verdict. */
export function renderVerdictMarkdown(verdict: Verdict | null): string[] {
  if (!verdict) return [];
  const { samples, confidence } = verdict.bootstrap;
  return [
    "## Verdict",
    "",
    ...verdict.claims.map((claim) => `- ${claim.text}`),
    "",
    `Differences are paired over the same ${verdict.examples} test examples: ${
      100 * confidence
    }% bootstrap intervals from ${samples} resamples shared by every method; ` +
    `"not distinguishable" means the interval contains 0.`,
    "",
  ];
}

/**
 * The table as Markdown with padded columns, so it reads well both rendered and printed to a
 * terminal, followed by notes on units and, when given, the verdict. Returns the text; writes
 * nothing.
 */
export function renderMarkdown(table: MetricsTable, verdict: Verdict | null = null): string {
  const header = DISPLAY_COLUMNS.map((column) => markdownCell(column.header));
  const body = table.rows.map((row) =>
    DISPLAY_COLUMNS.map((column) => markdownCell(cellText(column, row)))
  );
  const widths = header.map((text, index) =>
    Math.max(3, text.length, ...body.map((cells) => cells[index].length))
  );
  const line = (cells: string[]) =>
    `| ${cells.map((text, index) => text.padEnd(widths[index])).join(" | ")} |`;
  const rule = `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`;
  const notes = TABLE_NOTES.map((note) => `- ${note}`);
  return [
    line(header),
    rule,
    ...body.map(line),
    "",
    ...notes,
    "",
    ...renderVerdictMarkdown(verdict),
  ]
    .join("\n");
}

/** The machine-readable table: units, one object per method row, and the per-run records. */
export interface MetricsJson {
  /** Units of the raw numbers. */
  units: Record<string, string>;
  /** The table rows (means, sample standard deviations, mean CI bounds). */
  rows: MethodRow[];
  /** The runs the rows were computed from, without their predictions. */
  runs: Omit<RunMetrics, "samples">[];
  /** Paired differences between every two methods and the conclusions; null without tuned rows. */
  verdict: Verdict | null;
}

/** Units of every raw figure in `metrics.json` and `metrics.csv`. */
export const RAW_UNITS: Readonly<Record<string, string>> = {
  rouge: "F-measure as a fraction 0..1; *Ci = [low, high] 95% bootstrap interval",
  validationLoss: "nats per token",
  params: "count",
  trainablePercent: "percent of totalParams",
  seconds: "s",
  trainSeconds: "wall seconds of optimisation steps only (no validation, no checkpoints)",
  validationSeconds: "wall seconds of validation passes during training",
  checkpointSeconds: "wall seconds of checkpoint writes during training",
  bytes: "bytes",
  peakTensorBytes:
    "exact peak of live tensor storage (each buffer once), the same meter for train and eval",
  peakRssBytes: "sampled peak resident set size of the whole process",
  peakDeviceBytes:
    "webgpu only: peak GPU bytes tfjs allocated, buffer pool included; null on CPU backends",
  tokensPerSecond: "training tokens per second",
  std: "sample standard deviation over seeds (n - 1); null with one seed",
  missing: "null: a baseline row has no such figure (it trains nothing)",
  verdict:
    "pairwise differences a - b of mean F-measure (fractions) with paired 95% bootstrap intervals",
};

/** The table as `metrics.json` content: {@linkcode MetricsJson}, pretty-printed. */
export function renderJson(
  table: MetricsTable,
  runs: readonly RunMetrics[],
  verdict: Verdict | null = null,
): string {
  const content: MetricsJson = {
    units: { ...RAW_UNITS },
    rows: table.rows,
    runs: runs.map(({ samples: _samples, ...figures }) => figures),
    verdict,
  };
  return JSON.stringify(content, null, 2) + "\n";
}

function csvField(value: string | number | null): string {
  const text = value === null ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * The table as RFC 4180 CSV (CRLF line ends, quoted where needed) with raw numbers: `method`,
 * `baseline` (true for a row that trains nothing),
 * `seeds` (count), `seed_list` (space-separated), then `<field>.mean` / `<field>.std` for every
 * summarised field and `<interval>.low` / `<interval>.high` for every ROUGE CI.
 */
export function renderCsv(table: MetricsTable): string {
  const header = ["method", "baseline", "seeds", "seed_list"];
  for (const field of SUMMARY_FIELDS) header.push(`${field}.mean`, `${field}.std`);
  for (const field of INTERVAL_FIELDS) header.push(`${field}.low`, `${field}.high`);
  const lines = [header.map(csvField).join(",")];
  for (const row of table.rows) {
    const cells: (string | number | null)[] = [
      row.method,
      String(row.baseline),
      row.seeds.length,
      row.seeds.join(" "),
    ];
    for (const field of SUMMARY_FIELDS) cells.push(row[field].mean, row[field].std);
    for (const field of INTERVAL_FIELDS) cells.push(row[field][0], row[field][1]);
    lines.push(cells.map(csvField).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

/** Paths of the files {@linkcode writeMetricsFiles} wrote, and the Markdown text. */
export interface WrittenMetrics {
  /** The Markdown table, for printing to the console. */
  markdown: string;
  /** Path of `metrics.md`. */
  markdownPath: string;
  /** Path of `metrics.json`. */
  jsonPath: string;
  /** Path of `metrics.csv`. */
  csvPath: string;
}

/**
 * Writes `metrics.md`, `metrics.json` and `metrics.csv` (with the verdict, when given) into `dir`
 * (which must exist) and returns
 * their paths with the Markdown text. Throws what `Deno.writeTextFile` throws.
 */
export async function writeMetricsFiles(
  dir: string,
  table: MetricsTable,
  runs: readonly RunMetrics[],
  verdict: Verdict | null = null,
): Promise<WrittenMetrics> {
  const markdown = renderMarkdown(table, verdict);
  const written = {
    markdown,
    markdownPath: join(dir, "metrics.md"),
    jsonPath: join(dir, "metrics.json"),
    csvPath: join(dir, "metrics.csv"),
  };
  await Deno.writeTextFile(written.markdownPath, markdown);
  await Deno.writeTextFile(written.jsonPath, renderJson(table, runs, verdict));
  await Deno.writeTextFile(written.csvPath, renderCsv(table));
  return written;
}
