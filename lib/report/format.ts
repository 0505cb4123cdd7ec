/**
 * Human-readable figures for the Markdown table and the HTML report: ROUGE ×100, MB, s, 1.2M.
 * A ± standard deviation is written in the same unit as its mean so the two read together.
 *
 * @module
 */

import type { ConfidenceInterval } from "./run_metrics.ts";
import type { Summary } from "./table.ts";

const BYTES_PER_KB = 1e3;
const BYTES_PER_MB = 1e6;
const BYTES_PER_GB = 1e9;
const SECONDS_PER_MINUTE = 60;
const SECONDS_PER_HOUR = 3600;
/** Durations from this long are shown in minutes, and from the next one in hours. */
const SHOW_MINUTES_FROM_SECONDS = 120;
const SHOW_HOURS_FROM_SECONDS = 2 * SECONDS_PER_HOUR;

/** What a cell shows for a figure a run does not have (a baseline's training cost). */
export const MISSING_FIGURE = "—";

/** `value` with `digits` significant digits, no exponent, trailing zeros dropped. */
export function significant(value: number, digits = 3): string {
  if (value === 0 || !Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 10 ** digits) return Math.round(value).toString();
  return String(Number(value.toPrecision(digits)));
}

function withStd(summary: Summary, scale: number, show: (value: number) => string): string {
  if (summary.mean === null) return MISSING_FIGURE;
  const mean = show(summary.mean / scale);
  if (summary.std === null) return mean;
  return `${mean} ± ${showStd(summary.std / scale)}`;
}

/** A standard deviation with two significant digits; exactly zero reads `0`. */
function showStd(std: number): string {
  return significant(std, 2);
}

function unitFor(value: number, units: readonly [number, string][]): [number, string] {
  let chosen = units[0];
  for (const unit of units) if (Math.abs(value) >= unit[0]) chosen = unit;
  return chosen;
}

/** A ROUGE F-measure (0..1) as points out of 100 with two decimals: `41.23 ± 0.52`. */
export function formatRouge(summary: Summary): string {
  if (summary.mean === null) return MISSING_FIGURE;
  const fixed = (value: number) => value.toFixed(2);
  if (summary.std === null) return fixed(summary.mean * 100);
  return `${fixed(summary.mean * 100)} ± ${fixed(summary.std * 100)}`;
}

/** A ROUGE confidence interval as points out of 100: `[40.10, 42.35]`. */
export function formatInterval(interval: ConfidenceInterval): string {
  return `[${(interval[0] * 100).toFixed(2)}, ${(interval[1] * 100).toFixed(2)}]`;
}

/** A loss in nats with three decimals: `2.345 ± 0.012`. */
export function formatLoss(summary: Summary): string {
  if (summary.mean === null) return MISSING_FIGURE;
  const fixed = (value: number) => value.toFixed(3);
  if (summary.std === null) return fixed(summary.mean);
  return `${fixed(summary.mean)} ± ${fixed(summary.std)}`;
}

/** A count with a k/M/B suffix and three significant digits: `1.2M`, `12.3k ± 0.5k`, `950`. */
export function formatCount(summary: Summary): string {
  if (summary.mean === null) return MISSING_FIGURE;
  const [scale, suffix] = unitFor(summary.mean, [[1, ""], [1e3, "k"], [1e6, "M"], [1e9, "B"]]);
  const show = (value: number) => significant(value) + suffix;
  const mean = show(summary.mean / scale);
  if (summary.std === null) return mean;
  return `${mean} ± ${summary.std === 0 ? "0" : showStd(summary.std / scale) + suffix}`;
}

/** A percentage with two significant digits below 1%, one decimal above: `0.052%`, `12.5%`. */
export function formatPercent(summary: Summary): string {
  if (summary.mean === null) return MISSING_FIGURE;
  const show = (value: number) =>
    Math.abs(value) < 1 ? significant(value, 2) : String(Number(value.toFixed(1)));
  if (summary.std === null) return `${show(summary.mean)}%`;
  return `${show(summary.mean)} ± ${show(summary.std)}%`;
}

/** Bytes in decimal units chosen by the mean: `412 MB`, `1.25 ± 0.01 GB`, `950 B`. */
export function formatBytes(summary: Summary): string {
  if (summary.mean === null) return MISSING_FIGURE;
  const [scale, unit] = unitFor(summary.mean, [
    [1, "B"],
    [BYTES_PER_KB, "kB"],
    [BYTES_PER_MB, "MB"],
    [BYTES_PER_GB, "GB"],
  ]);
  return `${withStd(summary, scale, (value) => significant(value))} ${unit}`;
}

/** A duration in s, min or h chosen by the mean: `12.3 s`, `5.2 ± 0.1 min`, `2.5 h`. */
export function formatDuration(summary: Summary): string {
  if (summary.mean === null) return MISSING_FIGURE;
  const [divisor, unit] = summary.mean >= SHOW_HOURS_FROM_SECONDS
    ? [SECONDS_PER_HOUR, "h"]
    : summary.mean >= SHOW_MINUTES_FROM_SECONDS
    ? [SECONDS_PER_MINUTE, "min"]
    : [1, "s"];
  return `${withStd(summary, divisor, (value) => significant(value))} ${unit}`;
}
