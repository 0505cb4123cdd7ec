/**
 * `report.html`: one self-contained page (inline CSS and SVG, no scripts, nothing fetched) with
 * the metrics table, the charts and sample predictions beside their references.
 *
 * @module
 */

import { renderSvg, rougeVsMemorySpec, rougeVsParamsSpec, validationLossSpec } from "./charts.ts";
import type { RunMetrics, SamplePrediction } from "./run_metrics.ts";
import type { MetricsTable } from "./table.ts";
import { DISPLAY_COLUMNS, TABLE_NOTES } from "./table_files.ts";
import type { Verdict } from "./verdict.ts";

/** How the report page is built. */
export interface ReportOptions {
  /** Page title and heading. */
  title?: string;
  /** How many test examples to show with every method's prediction (default 5). */
  sampleCount?: number;
  /** The verdict and paired differences to show under the table. */
  verdict?: Verdict | null;
}

/** Default page title. */
export const DEFAULT_REPORT_TITLE = "peftlab: prompt tuning vs LoRA vs fine-tuning";
/** Default number of sample predictions shown. */
export const DEFAULT_SAMPLE_COUNT = 5;
/** Documents longer than this are cut in the preview; the full text is one click away. */
const DOCUMENT_PREVIEW_CHARS = 500;

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/** One test example and what each method predicted for it. */
export interface SampleComparison {
  /** The example (document and reference) as the first method's run has it. */
  example: SamplePrediction;
  /** Method name → its prediction, in table order. */
  predictions: Map<string, string>;
}

/**
 * Picks up to `count` test examples that every method predicted, in the order the first method's
 * run lists them, using each method's lowest seed. Returns an empty list when no id is shared.
 */
export function pickSamples(
  table: MetricsTable,
  runs: readonly RunMetrics[],
  count: number,
): SampleComparison[] {
  const firstRuns = table.rows.map((row) =>
    runs.find((run) => run.method === row.method && run.seed === row.seeds[0])!
  );
  const byId = firstRuns.map((run) => new Map(run.samples.map((sample) => [sample.id, sample])));
  const picked: SampleComparison[] = [];
  for (const example of firstRuns[0].samples) {
    if (picked.length >= count) break;
    if (!byId.every((samples) => samples.has(example.id))) continue;
    const predictions = new Map(
      firstRuns.map((run, index) => [run.method, byId[index].get(example.id)!.prediction]),
    );
    picked.push({ example, predictions });
  }
  return picked;
}

function tableHtml(table: MetricsTable): string {
  const head = DISPLAY_COLUMNS.map((column) => `<th scope="col">${escapeHtml(column.header)}</th>`)
    .join("");
  const body = table.rows.map((row) => {
    const cells = DISPLAY_COLUMNS.map((column, index) => {
      const detail = column.detail?.(row);
      const text = escapeHtml(column.cell(row)) +
        (detail === undefined ? "" : ` <span class="detail">${escapeHtml(detail)}</span>`);
      return index === 0 ? `<th scope="row">${text}</th>` : `<td>${text}</td>`;
    });
    return `<tr>${cells.join("")}</tr>`;
  });
  const notes = TABLE_NOTES.map((note) => `<li>${escapeHtml(note)}</li>`).join("");
  return `<div class="table-scroll"><table class="metrics">
<thead><tr>${head}</tr></thead>
<tbody>
${body.join("\n")}
</tbody>
</table></div>
<ul class="notes">${notes}</ul>`;
}

const METRIC_HEADERS = { rouge1: "ROUGE-1", rouge2: "ROUGE-2", rougeL: "ROUGE-L" } as const;

function verdictHtml(verdict: Verdict | null | undefined): string {
  if (!verdict) return "";
  const claims = verdict.claims.map((claim) => `<li>${escapeHtml(claim.text)}</li>`).join("\n");
  const rows = verdict.pairwise
    .filter((d) => d.metric === verdict.metric)
    .map((d) => {
      const cells = (["rouge1", "rouge2", "rougeL"] as const).map((metric) => {
        const on = verdict.pairwise.find((p) => p.a === d.a && p.b === d.b && p.metric === metric)!;
        const text = `${(on.difference * 100).toFixed(2)} [${(on.interval[0] * 100).toFixed(2)}, ${
          (on.interval[1] * 100).toFixed(2)
        }]`;
        return `<td class="${on.distinguishable ? "" : "tie"}">${escapeHtml(text)}</td>`;
      });
      return `<tr><th scope="row">${escapeHtml(`${d.a} − ${d.b}`)}</th>${cells.join("")}</tr>`;
    }).join("\n");
  const head = Object.values(METRIC_HEADERS).map((h) => `<th scope="col">${h}</th>`).join("");
  return `<section id="verdict">
<h2>Verdict</h2>
<ul class="verdict">${claims}</ul>
<p class="notes">Paired over the same ${verdict.examples} test examples: ${
    100 * verdict.bootstrap.confidence
  }% bootstrap intervals from ${verdict.bootstrap.samples} resamples shared by every method. Grey: the interval contains 0 (not distinguishable).</p>
<div class="table-scroll"><table class="metrics">
<thead><tr><th scope="col">Difference (F ×100)</th>${head}</tr></thead>
<tbody>
${rows}
</tbody>
</table></div>
</section>`;
}

function documentHtml(document: string): string {
  if (document.length <= DOCUMENT_PREVIEW_CHARS) {
    return `<p class="document">${escapeHtml(document)}</p>`;
  }
  return `<details class="document"><summary>${
    escapeHtml(document.slice(0, DOCUMENT_PREVIEW_CHARS))
  }… <span class="more">(show all ${document.length} characters)</span></summary><p>${
    escapeHtml(document)
  }</p></details>`;
}

function samplesHtml(samples: SampleComparison[]): string {
  if (samples.length === 0) {
    return `<p class="empty">No test example was predicted by every method.</p>`;
  }
  return samples.map(({ example, predictions }) => {
    const columns = [
      `<div class="summary reference"><h4>Reference</h4><p>${
        escapeHtml(example.reference)
      }</p></div>`,
      ...[...predictions].map(([method, prediction]) =>
        `<div class="summary"><h4>${escapeHtml(method)}</h4><p>${escapeHtml(prediction)}</p></div>`
      ),
    ];
    return `<article class="sample">
<h3>Example <code>${escapeHtml(example.id)}</code></h3>
${documentHtml(example.document)}
<div class="summaries">${columns.join("\n")}</div>
</article>`;
  }).join("\n");
}

function figureHtml(svg: string, caption: string): string {
  return `<figure class="chart">${svg}<figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}

const STYLE = `
:root { --ink: #1f2328; --muted: #59636e; --line: #d0d7de; --soft: #f6f8fa; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1360px; margin: 0 auto; padding: 32px 24px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 40px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 0 0 8px; }
h4 { font-size: 12px; margin: 0 0 4px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.lead { color: var(--muted); margin: 0; }
.table-scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; }
table.metrics { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: 14px; }
table.metrics th, table.metrics td { padding: 8px 7px; text-align: right; white-space: nowrap;
  border-bottom: 1px solid var(--line); }
table.metrics thead th { background: var(--soft); font-weight: 600; white-space: normal; vertical-align: bottom; }
table.metrics th[scope=row], table.metrics thead th:first-child { text-align: left; }
table.metrics tbody tr:last-child > * { border-bottom: none; }
table.metrics tbody tr:nth-child(even) { background: #fbfcfd; }
.detail { display: block; color: var(--muted); font-size: 11.5px; }
.notes { color: var(--muted); font-size: 13px; margin: 8px 0 0; padding-left: 20px; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; }
figure.chart { margin: 0; padding: 12px; border: 1px solid var(--line); border-radius: 8px; max-width: 100%; overflow-x: auto; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 6px; max-width: 640px; }
.sample { border: 1px solid var(--line); border-radius: 8px; padding: 16px; margin: 0 0 16px; }
.document { color: var(--muted); font-size: 14px; margin: 0 0 12px; white-space: pre-wrap; }
details.document summary { cursor: pointer; }
.more { color: var(--accent); }
.summaries { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 12px; }
.summary { background: var(--soft); border-radius: 6px; padding: 10px 12px; }
.summary p { margin: 0; white-space: pre-wrap; }
.summary.reference { background: #eef6ee; }
ul.verdict { padding-left: 20px; }
ul.verdict li { margin: 0 0 6px; }
td.tie { color: var(--muted); }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; }
`;

/**
 * Builds the whole `report.html` page as a string: the table, the validation-loss curves, ROUGE
 * vs trainable parameters (log x) and ROUGE vs peak memory as inline SVG rendered by Vega, and
 * sample predictions side by side with references, all user text HTML-escaped. The page carries
 * a Content-Security-Policy that forbids scripts and every fetch. Throws if a chart fails to
 * render.
 */
export async function renderReportHtml(
  table: MetricsTable,
  runs: readonly RunMetrics[],
  options: ReportOptions = {},
): Promise<string> {
  const title = options.title ?? DEFAULT_REPORT_TITLE;
  const samples = pickSamples(table, runs, options.sampleCount ?? DEFAULT_SAMPLE_COUNT);
  const [lossSvg, paramsSvg, memorySvg] = await Promise.all([
    renderSvg(validationLossSpec(runs)),
    renderSvg(rougeVsParamsSpec(table)),
    renderSvg(rougeVsMemorySpec(table)),
  ]);
  const methods = table.rows.map((row) => row.method).join(", ");
  const seedCount = new Set(runs.map((run) => run.seed)).size;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header>
<h1>${escapeHtml(title)}</h1>
<p class="lead">${table.rows.length} methods (${
    escapeHtml(methods)
  }), ${runs.length} runs, ${seedCount} seed${seedCount === 1 ? "" : "s"}.</p>
</header>
<section id="metrics">
<h2>Metrics</h2>
${tableHtml(table)}
</section>
${verdictHtml(options.verdict)}
<section id="charts">
<h2>Charts</h2>
<div class="charts">
${figureHtml(lossSvg, "Validation loss after each epoch; one line per run (method × seed).")}
${
    figureHtml(
      paramsSvg,
      "Test ROUGE (mean over seeds, bars: 95% bootstrap CI) against the number of trained parameters, log scale.",
    )
  }
${
    figureHtml(
      memorySvg,
      "Test ROUGE against peak training memory: process RSS (left) and TensorFlow.js tensor bytes (right).",
    )
  }
</div>
</section>
<section id="samples">
<h2>Sample predictions</h2>
${samplesHtml(samples)}
</section>
</main>
</body>
</html>
`;
}
