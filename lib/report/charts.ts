/**
 * The report's charts as Vega-Lite specs, compiled and rendered to static SVG strings at build
 * time (no browser, no scripts), ready to inline into `report.html`.
 *
 * @module
 */

import * as vega from "vega";
import * as vl from "vega-lite";
import type { RunMetrics } from "./run_metrics.ts";
import type { MetricsTable } from "./table.ts";

/** A Vega-Lite top-level spec (kept loose: Vega-Lite validates it when compiling). */
export type ChartSpec = vl.TopLevelSpec;

const CHART_WIDTH_PX = 330;
const CHART_HEIGHT_PX = 280;
const HALF_CHART_WIDTH_PX = 320;
const BYTES_PER_MB = 1e6;

const CHART_CONFIG = {
  font: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
  view: { stroke: "#d0d7de" },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: "#eaeef2" },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: "start" as const },
};

/** Colour by method, legend in table order (not alphabetical), the same colour in every chart. */
function methodColor(methods: readonly string[]) {
  return {
    field: "method",
    type: "nominal" as const,
    title: "Method",
    scale: { scheme: "tableau10", domain: [...methods] },
  };
}

function methodsOf(runs: readonly { method: string }[]): string[] {
  return [...new Set(runs.map((run) => run.method))];
}

/**
 * Validation loss per epoch, one line per run, coloured by method (several seeds of one method
 * share its colour).
 */
export function validationLossSpec(runs: readonly RunMetrics[]): ChartSpec {
  const values = runs.flatMap((run) =>
    run.validationLossCurve.map((loss, index) => ({
      method: run.method,
      seed: run.seed,
      epoch: index + 1,
      loss,
    }))
  );
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Validation loss per epoch",
    width: CHART_WIDTH_PX,
    height: CHART_HEIGHT_PX,
    config: CHART_CONFIG,
    data: { values },
    mark: { type: "line", point: true, strokeWidth: 2 },
    encoding: {
      x: {
        field: "epoch",
        type: "quantitative",
        title: "Epoch",
        axis: { tickMinStep: 1, format: "d" },
      },
      y: {
        field: "loss",
        type: "quantitative",
        title: "Validation loss (nats/token)",
        scale: { zero: false },
      },
      color: methodColor(methodsOf(runs)),
      detail: { field: "seed", type: "nominal" },
    },
  };
}

interface RougePoint {
  method: string;
  metric: string;
  rouge: number;
  low: number;
  high: number;
  trainableParams: number;
  peakTrainRssMb: number;
  peakTrainTensorMb: number;
}

/** The tuned rows' ROUGE points (baselines train nothing, so they have no x position). */
function rougePoints(table: MetricsTable): RougePoint[] {
  const metrics = [
    ["ROUGE-1", "rouge1", "rouge1Ci"],
    ["ROUGE-2", "rouge2", "rouge2Ci"],
    ["ROUGE-L", "rougeL", "rougeLCi"],
  ] as const;
  return table.rows.filter((row) => !row.baseline).flatMap((row) =>
    metrics.map(([metric, field, interval]) => ({
      method: row.method,
      metric,
      rouge: (row[field].mean ?? 0) * 100,
      low: row[interval][0] * 100,
      high: row[interval][1] * 100,
      trainableParams: row.trainableParams.mean ?? 0,
      peakTrainRssMb: (row.peakTrainRssBytes.mean ?? 0) / BYTES_PER_MB,
      peakTrainTensorMb: (row.peakTrainTensorBytes.mean ?? 0) / BYTES_PER_MB,
    }))
  );
}

/** The baseline rows' ROUGE-1, drawn as labelled dashed lines across the ROUGE charts. */
function baselineLines(table: MetricsTable): { method: string; rouge: number; label: string }[] {
  return table.rows.filter((row) => row.baseline).map((row) => ({
    method: row.method,
    rouge: (row.rouge1.mean ?? 0) * 100,
    label: `${row.method} (ROUGE-1)`,
  }));
}

/** ROUGE axes start at 0 and span at least this many points, so all-zero scores still read. */
const MIN_ROUGE_AXIS_POINTS = 10;

function rougeLayers(
  x: Record<string, unknown>,
  methods: readonly string[],
  points: readonly RougePoint[],
  baselines: readonly { method: string; rouge: number; label: string }[],
) {
  const color = methodColor(methods);
  const highest = Math.max(
    MIN_ROUGE_AXIS_POINTS,
    ...points.map((point) => point.high),
    ...baselines.map((line) => line.rouge),
  );
  const y = {
    field: "rouge",
    type: "quantitative",
    title: "ROUGE F ×100 (95% CI)",
    scale: { domain: [0, highest], nice: true },
    axis: { format: "~r" },
  };
  return [
    {
      mark: { type: "rule", strokeWidth: 1.5, opacity: 0.7 },
      encoding: {
        x,
        y: { ...y, field: "low" },
        y2: { field: "high" },
        color,
      },
    },
    {
      mark: { type: "point", filled: true, size: 90, opacity: 0.95 },
      encoding: {
        x,
        y,
        color,
        shape: { field: "metric", type: "nominal", title: "Score" },
      },
    },
    ...(baselines.length === 0 ? [] : [
      {
        data: { values: baselines },
        mark: { type: "rule", strokeDash: [6, 4], strokeWidth: 1.5 },
        encoding: { y, color },
      },
      {
        data: { values: baselines },
        mark: { type: "text", align: "left", dx: 4, dy: -6, fontSize: 11 },
        encoding: { y, x: { value: 0 }, text: { field: "label" }, color },
      },
    ]),
  ];
}

/** ROUGE-1/2/L (mean, with 95% CI bars) against trainable parameters on a log scale. */
export function rougeVsParamsSpec(table: MetricsTable): ChartSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "ROUGE vs trainable parameters",
    width: CHART_WIDTH_PX,
    height: CHART_HEIGHT_PX,
    config: CHART_CONFIG,
    data: { values: rougePoints(table) },
    layer: rougeLayers(
      {
        field: "trainableParams",
        type: "quantitative",
        title: "Trainable parameters (log scale)",
        scale: { type: "log" },
        axis: { format: "~s" },
      },
      methodsOf(table.rows),
      rougePoints(table),
      baselineLines(table),
    ),
  } as ChartSpec;
}

/** ROUGE-1/2/L (mean, with 95% CI bars) against peak training RSS and peak tensor memory. */
export function rougeVsMemorySpec(table: MetricsTable): ChartSpec {
  const panel = (field: string, title: string) => ({
    width: HALF_CHART_WIDTH_PX,
    height: CHART_HEIGHT_PX,
    layer: rougeLayers(
      {
        field,
        type: "quantitative",
        title,
        scale: { zero: false, padding: 20 },
      },
      methodsOf(table.rows),
      rougePoints(table),
      baselineLines(table),
    ),
  });
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "ROUGE vs peak training memory",
    config: CHART_CONFIG,
    data: { values: rougePoints(table) },
    hconcat: [
      panel("peakTrainRssMb", "Peak train RSS (MB)"),
      panel("peakTrainTensorMb", "Peak train tensor memory (MB)"),
    ],
  } as ChartSpec;
}

/**
 * Compiles a Vega-Lite spec and renders it headlessly to an SVG string. Throws if Vega-Lite
 * rejects the spec or Vega fails to render it.
 */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
