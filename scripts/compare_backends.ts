/**
 * `deno run -A --unstable-ffi scripts/compare_backends.ts [--reference blas] [--candidate webgpu]
 * [--reference-lock FILE] [--candidate-lock FILE] [--timeout-s N] [--json]`
 *
 * Runs the smoke pipeline on two backends (or reads the lock files given) and checks that the
 * candidate reproduces the reference within the cross-backend tolerance (docs/ENGINE.md):
 * - losses (`validationLoss`, `testLoss`) within {@link crossBackendTolerance}.lossRelative;
 * - parameter counts (`trainableParams`, `totalParams`) identical;
 * - each ROUGE score (`rouge1`, `rouge2`, `rougeL`, `rougeLsum`) inside the reference run's 95%
 *   bootstrap interval (`rouge1Ci`, …).
 * Every stage of the reference must have finished in the candidate, and every stage that
 * records its backend must have run on the candidate backend (no silent fallback). Exit 0 when
 * all hold, 1 when one does not (a table names each), 2 on a usage error.
 *
 * @module
 */
import { parseFlags } from "../cli/args.ts";
import type { LockFile } from "../lib/cache/mod.ts";
import { runSmokePipeline } from "./smoke_run.ts";

/** How far a run on another backend may land from the reference, per kind of metric. */
export const crossBackendTolerance = {
  /** |candidate − reference| ≤ lossRelative · |reference| for every loss. */
  lossRelative: 1e-3,
} as const;

/** Losses held to {@link crossBackendTolerance}.lossRelative. */
const lossMetrics = ["validationLoss", "testLoss"];
/** Counts that must be identical. */
const countMetrics = ["trainableParams", "totalParams"];
/** Scores that must fall inside the reference's bootstrap interval (`<name>Ci`). */
const rougeMetrics = ["rouge1", "rouge2", "rougeL", "rougeLsum"];

/** One check of one metric of one stage. */
export interface BackendCheck {
  stage: string;
  /** The metric, or "(stage)" when the stage is missing from the candidate. */
  metric: string;
  /** The rule in words, e.g. "within 0.1% relative" or "inside [0.21, 0.29]". */
  rule: string;
  reference: number | null;
  candidate: number | null;
  ok: boolean;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/**
 * Compares every stage of `reference` with the same stage of `candidate` under the rules of the
 * module doc and returns one {@link BackendCheck} per metric checked (a stage the candidate lacks
 * is one failed check). Metrics a stage does not record are not checked. With `candidateBackend`,
 * a stage whose `backend` metric names another backend fails too.
 */
export function compareBackendLocks(
  reference: LockFile,
  candidate: LockFile,
  candidateBackend?: string,
): BackendCheck[] {
  const checks: BackendCheck[] = [];
  for (const [stage, entry] of Object.entries(reference.stages)) {
    const other = candidate.stages[stage];
    if (other == null) {
      checks.push({
        stage,
        metric: "(stage)",
        rule: "finished in both runs",
        reference: null,
        candidate: null,
        ok: false,
      });
      continue;
    }
    const ours = entry.metrics;
    const theirs = other.metrics;
    if (candidateBackend !== undefined && theirs.backend !== undefined) {
      checks.push({
        stage,
        metric: "backend",
        rule: `ran on ${candidateBackend}: ${theirs.backend}`,
        reference: null,
        candidate: null,
        ok: theirs.backend === candidateBackend,
      });
    }
    for (const metric of lossMetrics) {
      const r = numberOrNull(ours[metric]);
      if (r == null) continue;
      const c = numberOrNull(theirs[metric]);
      const ok = c != null && Math.abs(c - r) <= crossBackendTolerance.lossRelative * Math.abs(r);
      const rule = `within ${crossBackendTolerance.lossRelative} relative`;
      checks.push({ stage, metric, rule, reference: r, candidate: c, ok });
    }
    for (const metric of countMetrics) {
      const r = numberOrNull(ours[metric]);
      if (r == null) continue;
      const c = numberOrNull(theirs[metric]);
      checks.push({ stage, metric, rule: "identical", reference: r, candidate: c, ok: c === r });
    }
    for (const metric of rougeMetrics) {
      const r = numberOrNull(ours[metric]);
      const interval = ours[`${metric}Ci`];
      if (r == null || !Array.isArray(interval) || interval.length !== 2) continue;
      const [low, high] = interval;
      const c = numberOrNull(theirs[metric]);
      checks.push({
        stage,
        metric,
        rule: `inside the reference's 95% interval [${low.toFixed(4)}, ${high.toFixed(4)}]`,
        reference: r,
        candidate: c,
        ok: c != null && c >= low && c <= high,
      });
    }
  }
  return checks;
}

/** The checks as a fixed-width table, failures marked. */
export function formatChecks(checks: BackendCheck[], names: [string, string]): string {
  const show = (v: number | null) =>
    v == null ? "—" : Number.isInteger(v) ? String(v) : v.toFixed(6);
  const rows = [["", "stage", "metric", names[0], names[1], "rule"]];
  for (const c of checks) {
    rows.push([c.ok ? "ok" : "✖", c.stage, c.metric, show(c.reference), show(c.candidate), c.rule]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd())
    .join("\n");
}

function parseCompareArgs(args: string[]) {
  const { values } = parseFlags({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      reference: { type: "string", default: "blas" },
      candidate: { type: "string", default: "webgpu" },
      "reference-lock": { type: "string" },
      "candidate-lock": { type: "string" },
      "timeout-s": { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const timeout = values["timeout-s"];
  if (timeout !== undefined && !(Number(timeout) > 0)) {
    throw new Error(`--timeout-s: a positive number of seconds, got "${timeout}"`);
  }
  return {
    reference: values.reference,
    candidate: values.candidate,
    referenceLock: values["reference-lock"],
    candidateLock: values["candidate-lock"],
    timeoutSeconds: timeout === undefined ? undefined : Number(timeout),
    json: values.json,
  };
}

/** The lock of `backend`'s smoke run: read from `file`, or from a fresh run. */
async function lockOf(backend: string, file: string | undefined, timeoutSeconds?: number) {
  if (file) return JSON.parse(await Deno.readTextFile(file)) as LockFile;
  console.error(`compare-backends: running the smoke pipeline on ${backend}`);
  const run = await runSmokePipeline(backend, {
    timeoutMs: timeoutSeconds ? timeoutSeconds * 1000 : undefined,
  });
  console.error(
    `compare-backends: ${backend} ${run.ok ? "finished" : "FAILED"} in ${run.seconds} s` +
      (run.keptIn ? ` (logs kept in ${run.keptIn})` : ""),
  );
  if (!run.ok) console.error(run.outputTail);
  return run.lock ?? { version: 1 as const, stages: {} };
}

async function main(): Promise<number> {
  let opts: ReturnType<typeof parseCompareArgs>;
  try {
    opts = parseCompareArgs(Deno.args);
  } catch (error) {
    console.error(`compare-backends: ${(error as Error).message}`);
    return 2;
  }
  const reference = await lockOf(opts.reference, opts.referenceLock, opts.timeoutSeconds);
  const candidate = await lockOf(opts.candidate, opts.candidateLock, opts.timeoutSeconds);
  if (Object.keys(reference.stages).length === 0) {
    console.error(`compare-backends: the ${opts.reference} run finished no stage`);
    return 1;
  }
  const checks = compareBackendLocks(reference, candidate, opts.candidate);
  const failed = checks.filter((c) => !c.ok);
  if (opts.json) {
    console.log(JSON.stringify({ reference: opts.reference, candidate: opts.candidate, checks }));
  } else {
    console.log(formatChecks(checks, [opts.reference, opts.candidate]));
  }
  console.log(
    `compare-backends: ${opts.candidate} vs ${opts.reference}: ${checks.length - failed.length} ` +
      `of ${checks.length} checks hold`,
  );
  return failed.length === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
