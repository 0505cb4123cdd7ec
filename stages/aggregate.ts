/**
 * aggregate (role `runs`): reads every evaluate cell wired to `runs` (`evaluate[method=lora]`,
 * `evaluate[method=lora,seed=1]`, …) and writes the metrics table (`metrics.md`, `metrics.json`,
 * `metrics.csv`) and `report.html` into its output directory.
 *
 * Each evaluate output directory must hold:
 * - `metrics.json`: `{ "metrics": { … } }` with every key of `RUN_METRIC_KEYS` (lib/report):
 *   `rouge1`, `rouge2`, `rougeL` (F-measure 0..1), `rouge1Ci`, `rouge2Ci`, `rougeLCi`
 *   (`[low, high]`), `validationLoss`, `validationLossCurve` (number[] per epoch),
 *   `trainableParams`, `totalParams`, `trainSeconds`, `validationSeconds`, `checkpointSeconds`,
 *   `tokensPerSecond`, `peakTrainRssBytes`, `peakTrainTensorBytes`, `peakEvalRssBytes`,
 *   `peakEvalTensorBytes`, `evalSeconds`; `peakTrainDeviceBytes` and `peakEvalDeviceBytes` where
 *   the backend has a device (webgpu); optionally
 *   `method` (string) and `seed` (integer), which must agree with the cell name when both say.
 * - `predictions.jsonl`: one `{"id","document","reference","prediction"}` object per line.
 *
 * Params: `title` (page title), `samples` (how many examples the report shows, default 5).
 *
 * @module
 */
import { join } from "node:path";
import {
  BASELINE_OPTIONAL_FIELDS,
  buildMetricsTable,
  computeVerdict,
  DEFAULT_REPORT_TITLE,
  DEFAULT_SAMPLE_COUNT,
  DEVICE_FIELDS,
  EXAMPLE_SCORE_FIELDS,
  renderReportHtml,
  ReportInputError,
  RUN_METRIC_KEYS,
  type RunMetrics,
  type SamplePrediction,
  validateRunMetrics,
  writeMetricsFiles,
} from "../lib/report/mod.ts";
import type { MetricValue, StageContext, StageResult } from "../lib/run/types.ts";
import { Params } from "../lib/stagekit/params.ts";
import { neededFolders } from "../lib/stagekit/needs.ts";
import { ConfigError } from "../lib/config/errors.ts";

/** The matrix values in a cell name: `evaluate[method=lora,seed=1]` → {method: "lora", seed: "1"}. */
function cellValues(name: string): { base: string; values: Map<string, string> } {
  const open = name.indexOf("[");
  if (open < 0 || !name.endsWith("]")) return { base: name, values: new Map() };
  const values = new Map<string, string>();
  for (const pair of name.slice(open + 1, -1).split(",")) {
    const equals = pair.indexOf("=");
    if (equals > 0) values.set(pair.slice(0, equals).trim(), pair.slice(equals + 1).trim());
  }
  return { base: name.slice(0, open), values };
}

function identity(
  cell: string,
  metricsPath: string,
  metrics: Record<string, unknown>,
): { method: string; seed: number } {
  const fromName = cellValues(cell).values;
  const method = metrics.method ?? fromName.get("method");
  if (typeof method !== "string" || method === "") {
    throw new ReportInputError(
      metricsPath,
      "method",
      "missing (not in metrics nor in the cell name)",
    );
  }
  if (fromName.has("method") && fromName.get("method") !== method) {
    throw new ReportInputError(
      metricsPath,
      "method",
      `is ${JSON.stringify(method)} but the cell is ${cell}`,
    );
  }
  const namedSeed = fromName.has("seed") ? Number(fromName.get("seed")) : undefined;
  const seed = metrics.seed ?? namedSeed ?? 0;
  if (typeof seed !== "number" || !Number.isInteger(seed)) {
    throw new ReportInputError(
      metricsPath,
      "seed",
      `must be an integer, got ${JSON.stringify(seed)}`,
    );
  }
  if (namedSeed !== undefined && namedSeed !== seed) {
    throw new ReportInputError(metricsPath, "seed", `is ${seed} but the cell is ${cell}`);
  }
  return { method, seed };
}

async function readPredictions(path: string): Promise<SamplePrediction[]> {
  const samples: SamplePrediction[] = [];
  const lines = (await Deno.readTextFile(path)).split("\n");
  lines.forEach((line, index) => {
    if (line.trim() === "") return;
    const where = `${path}:${index + 1}`;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line);
    } catch {
      throw new ReportInputError(where, "line", "is not JSON");
    }
    for (const key of ["id", "document", "reference", "prediction"]) {
      if (typeof row?.[key] !== "string") {
        throw new ReportInputError(where, key, "missing or not a string");
      }
    }
    samples.push(row as unknown as SamplePrediction);
  });
  return samples;
}

/** Reads one evaluate cell's output directory into a validated run record. */
async function readRun(cell: string, dir: string): Promise<RunMetrics> {
  const metricsPath = join(dir, "metrics.json");
  const parsed = JSON.parse(await Deno.readTextFile(metricsPath));
  const metrics: Record<string, unknown> = parsed?.metrics ?? {};
  const { method, seed } = identity(cell, metricsPath, metrics);
  const where = `${metricsPath} (method=${method} seed=${seed})`;
  const baseline = metrics.baseline === true;
  for (const key of RUN_METRIC_KEYS) {
    if (metrics[key] !== undefined) continue;
    const optional = baseline ? [...BASELINE_OPTIONAL_FIELDS, ...DEVICE_FIELDS] : DEVICE_FIELDS;
    if ((optional as readonly string[]).includes(key)) {
      metrics[key] = null;
    } else throw new ReportInputError(where, key, "missing");
  }
  const run = Object.fromEntries(RUN_METRIC_KEYS.map((key) => [key, metrics[key]]));
  const record = {
    ...run,
    method,
    seed,
    baseline,
    samples: await readPredictions(join(dir, "predictions.jsonl")),
  } as RunMetrics;
  try {
    return validateRunMetrics(record);
  } catch (error) {
    if (error instanceof ReportInputError) {
      throw new ReportInputError(where, error.field, error.problem);
    }
    throw error;
  }
}

/** Runs the stage (see the module doc); returns headline figures per method, e.g. `rouge1.lora`. */
export async function run(ctx: StageContext): Promise<StageResult> {
  const params = new Params(ctx.params);
  const title = params.string("title", DEFAULT_REPORT_TITLE);
  const sampleCount = params.integer("samples", DEFAULT_SAMPLE_COUNT, 0);
  const cells = neededFolders(ctx, "runs");
  if (cells.length === 0) {
    throw new ConfigError("needs.runs", "missing: name the evaluate stages to tabulate");
  }
  const runs: RunMetrics[] = [];
  for (const [cell, dir] of cells) {
    runs.push(await readRun(cell, dir));
    ctx.progress(runs.length, cells.length, "reading evaluate outputs");
  }
  const table = buildMetricsTable(runs);
  const verdict = computeVerdict(table, runs, {
    metric: params.choice("verdict_metric", EXAMPLE_SCORE_FIELDS, "rouge1"),
    samples: params.integer("bootstrap_samples", 1000, 1),
    seed: params.integer("seed", 0),
  });
  const written = await writeMetricsFiles(ctx.outDir, table, runs, verdict);
  await Deno.writeTextFile(
    join(ctx.outDir, "report.html"),
    await renderReportHtml(table, runs, { title, sampleCount, verdict }),
  );
  ctx.log(written.markdown);

  const metrics: Record<string, MetricValue> = {};
  for (const row of table.rows) {
    metrics[`seeds.${row.method}`] = row.seeds.length;
    for (
      const field of ["rouge1", "rouge2", "rougeL", "validationLoss", "trainableParams"] as const
    ) {
      const value = row[field].mean;
      if (value !== null) metrics[`${field}.${row.method}`] = value;
    }
  }
  // The verdict's sentences, so the lock (and the README written from it) carries the conclusions.
  for (const claim of verdict?.claims ?? []) metrics[`verdict.${claim.kind}`] = claim.text;
  for (const difference of verdict?.pairwise ?? []) {
    const name = `${difference.metric}.${difference.a}-${difference.b}`;
    metrics[name] = difference.difference;
    metrics[`${name}.interval`] = difference.interval;
  }
  return { metrics };
}
