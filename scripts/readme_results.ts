/**
 * Writes the README's "Result of the default pipeline" figures from `pipeline.lock`, so the numbers
 * a reader sees are the ones the last recorded run produced and cannot drift from them:
 *
 *     deno task readme            # rewrite the block between the markers in README.md
 *     deno task readme --check    # exit 1 if README.md's block differs from pipeline.lock
 *
 * The table and the verdict come from the lock alone (the evaluate and baseline cells' metrics and
 * the aggregate's recorded verdict). The sample titles come from the predictions those cells
 * wrote, found in the cache under the output hash the lock records; without that cache the
 * samples already in README.md are kept.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readLock } from "../lib/cache/lockfile.ts";
import { outputPath } from "../lib/cache/store.ts";
import type { LockEntry, LockFile } from "../lib/cache/lockfile.ts";
import {
  buildMetricsTable,
  markdownCell,
  renderMarkdown,
  RUN_METRIC_KEYS,
  type RunMetrics,
} from "../lib/report/mod.ts";
import { writeTextFileAtomic } from "../lib/util/fs.ts";

/** First line of the generated block in README.md. */
export const BLOCK_START =
  "<!-- results: written by `deno task readme` from pipeline.lock; edits here are overwritten -->";
/** Last line of the generated block. */
export const BLOCK_END = "<!-- /results -->";
/** Where the lock-derived part ends and the samples (from the cache) begin. */
const SAMPLES_HEADING = "#### Sample titles (first test examples)";
const SAMPLE_COUNT = 4;

/** The lock's cells that evaluated a method or a baseline (they carry ROUGE), in lock order. */
function evaluatedCells(lock: LockFile): [string, LockEntry][] {
  return Object.entries(lock.stages).filter(([, entry]) =>
    typeof entry.metrics.rouge1 === "number"
  );
}

/** One report run per evaluated cell, from the metrics the lock recorded (no predictions). */
export function runsFromLock(lock: LockFile): RunMetrics[] {
  return evaluatedCells(lock).map(([cell, entry]) => {
    const metrics = entry.metrics as Record<string, unknown>;
    const run: Record<string, unknown> = {
      method: metrics.method,
      seed: metrics.seed ?? 0,
      baseline: metrics.baseline === true,
      samples: [],
    };
    for (const key of RUN_METRIC_KEYS) run[key] = metrics[key] ?? null;
    if (run.validationLossCurve === null) run.validationLossCurve = [];
    if (typeof run.method !== "string") {
      throw new Error(`pipeline.lock: ${cell} records no method`);
    }
    return run as unknown as RunMetrics;
  });
}

/** The aggregate's verdict sentences, in the order it recorded them. */
function verdictLines(lock: LockFile): string[] {
  return Object.values(lock.stages).flatMap((entry) =>
    Object.entries(entry.metrics)
      .filter(([key, value]) => key.startsWith("verdict.") && typeof value === "string")
      .map(([, value]) => `- ${value}`)
  );
}

/** Seconds the recorded stages took, summed: the cold run's compute, one stage at a time. */
function stageSeconds(lock: LockFile): number {
  return Object.values(lock.stages).reduce((sum, entry) => sum + entry.duration_s, 0);
}

/**
 * The lock-derived part of the block: the metrics table with its notes, the verdict and the
 * summed stage time. Throws when the lock holds no evaluated cell.
 */
export function lockSection(lock: LockFile): string {
  const runs = runsFromLock(lock);
  if (runs.length === 0) throw new Error("pipeline.lock holds no evaluated method");
  const table = buildMetricsTable(runs);
  const minutes = stageSeconds(lock) / 60;
  return [
    renderMarkdown(table).trimEnd(),
    "",
    "#### Verdict",
    "",
    ...verdictLines(lock),
    "",
    `The recorded stages took ${minutes.toFixed(1)} min of compute in all ` +
    `(sum of \`duration_s\` in pipeline.lock).`,
  ].join("\n");
}

/**
 * The sample titles of the first test examples, one column per method, read from the predictions
 * each evaluated cell wrote (`<cache>/outputs/<output>/predictions.jsonl`). Returns null when a
 * cell's output is not in the cache.
 */
export async function samplesSection(lock: LockFile, cacheDir: string): Promise<string | null> {
  const columns: {
    method: string;
    byId: Map<string, { reference: string; prediction: string }>;
  }[] = [];
  let order: string[] = [];
  for (const [, entry] of evaluatedCells(lock)) {
    let text: string;
    try {
      text = await Deno.readTextFile(
        join(outputPath(cacheDir, entry.output), "predictions.jsonl"),
      );
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
    const rows = text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
    if (order.length === 0) order = rows.map((row) => row.id);
    columns.push({
      method: String(entry.metrics.method),
      byId: new Map(rows.map((row) => [row.id, row])),
    });
  }
  const ids = order.filter((id) => columns.every((column) => column.byId.has(id)))
    .slice(0, SAMPLE_COUNT);
  const header = ["reference", ...columns.map((column) => column.method)];
  return [
    SAMPLES_HEADING,
    "",
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...ids.map((id) =>
      `| ${
        [
          columns[0].byId.get(id)!.reference,
          ...columns.map((column) => column.byId.get(id)!.prediction || "(empty)"),
        ].map(markdownCell).join(" | ")
      } |`
    ),
  ].join("\n");
}

/** The generated block inside `readme`: the text between the markers, or null without them. */
export function currentBlock(readme: string): string | null {
  const start = readme.indexOf(BLOCK_START);
  const end = readme.indexOf(BLOCK_END);
  if (start < 0 || end < start) return null;
  return readme.slice(start + BLOCK_START.length, end).trim();
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      check: { type: "boolean", default: false },
      lock: { type: "string", default: "pipeline.lock" },
      cache: { type: "string", default: "artifacts" },
      readme: { type: "string", default: "README.md" },
    },
  });
  const lock = await readLock(values.lock);
  const readme = await Deno.readTextFile(values.readme);
  const current = currentBlock(readme);
  if (current === null) {
    console.error(`${values.readme}: no ${BLOCK_START} … ${BLOCK_END} block`);
    Deno.exit(1);
  }
  const fromLock = lockSection(lock);
  if (values.check) {
    if (!current.startsWith(fromLock)) {
      console.error(
        `${values.readme}: the results block differs from ${values.lock}; run deno task readme`,
      );
      Deno.exit(1);
    }
    console.log(`${values.readme}: results block matches ${values.lock}`);
  } else {
    const keptSamples = current.includes(SAMPLES_HEADING)
      ? current.slice(current.indexOf(SAMPLES_HEADING))
      : null;
    const samples = (await samplesSection(lock, values.cache)) ?? keptSamples;
    const block = [fromLock, ...(samples ? ["", samples] : [])].join("\n");
    const start = readme.indexOf(BLOCK_START) + BLOCK_START.length;
    const end = readme.indexOf(BLOCK_END);
    await writeTextFileAtomic(
      values.readme,
      `${readme.slice(0, start)}\n\n${block}\n\n${readme.slice(end)}`,
    );
    console.log(`${values.readme}: results block written from ${values.lock}`);
  }
}
