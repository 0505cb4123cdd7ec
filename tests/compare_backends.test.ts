import { assert, assertEquals } from "./asserts.ts";
import type { LockEntry, LockFile } from "../lib/cache/mod.ts";
import type { MetricValue } from "../lib/run/types.ts";
import {
  compareBackendLocks,
  crossBackendTolerance,
  formatChecks,
} from "../scripts/compare_backends.ts";

function entry(metrics: Record<string, MetricValue>): LockEntry {
  return {
    key: "k",
    uses: "stages/x.ts",
    code: { files: {}, packages: [] },
    params: {},
    deps: {},
    upstream: {},
    output: "o",
    duration_s: 1,
    metrics,
    finished_at: "2026-12-01T00:00:00Z",
  };
}

/** A blas smoke lock in miniature: one train stage and its evaluation. */
const blas: LockFile = {
  version: 1,
  stages: {
    "train-lora": entry({
      backend: "blas",
      trainableParams: 16384,
      totalParams: 1923968,
      validationLoss: 4.3214,
      trainSeconds: 37.3,
    }),
    "evaluate[method=lora]": entry({
      backend: "blas",
      testLoss: 4.321,
      rouge1: 0.25,
      rouge1Ci: [0.2, 0.3],
      rougeL: 0.22,
      rougeLCi: [0.18, 0.27],
    }),
  },
};

/** The same runs on webgpu, each number moved by `change`. */
function webgpu(change: Record<string, Record<string, MetricValue>> = {}): LockFile {
  const stages: Record<string, LockEntry> = {};
  for (const [name, e] of Object.entries(blas.stages)) {
    stages[name] = entry({ ...e.metrics, backend: "webgpu", trainSeconds: 900, ...change[name] });
  }
  return { version: 1, stages };
}

Deno.test("compare backends: a webgpu run inside every tolerance passes every check", () => {
  const checks = compareBackendLocks(
    blas,
    webgpu({
      "train-lora": { validationLoss: 4.3214 * (1 + 0.9 * crossBackendTolerance.lossRelative) },
      "evaluate[method=lora]": { rouge1: 0.21, rougeL: 0.269 },
    }),
    "webgpu",
  );
  assert(checks.every((c) => c.ok), formatChecks(checks, ["blas", "webgpu"]));
  assertEquals(
    checks.map((c) => `${c.stage} ${c.metric}`).sort(),
    [
      "evaluate[method=lora] backend",
      "evaluate[method=lora] rouge1",
      "evaluate[method=lora] rougeL",
      "evaluate[method=lora] testLoss",
      "train-lora backend",
      "train-lora totalParams",
      "train-lora trainableParams",
      "train-lora validationLoss",
    ],
  );
});

Deno.test("compare backends: a loss off by more than 1e-3 relative fails, and only that check", () => {
  const checks = compareBackendLocks(
    blas,
    webgpu({ "train-lora": { validationLoss: 4.3214 * 1.0011 } }),
  );
  const failed = checks.filter((c) => !c.ok);
  assertEquals(failed.map((c) => `${c.stage} ${c.metric}`), ["train-lora validationLoss"]);
});

Deno.test("compare backends: one trainable parameter more is a failure", () => {
  const checks = compareBackendLocks(blas, webgpu({ "train-lora": { trainableParams: 16385 } }));
  assertEquals(checks.filter((c) => !c.ok).map((c) => c.metric), ["trainableParams"]);
});

Deno.test("compare backends: ROUGE outside the reference's bootstrap interval fails", () => {
  const checks = compareBackendLocks(
    blas,
    webgpu({ "evaluate[method=lora]": { rouge1: 0.31, rougeL: 0.18 } }),
  );
  assertEquals(checks.filter((c) => !c.ok).map((c) => c.metric), ["rouge1"]);
  const table = formatChecks(checks, ["blas", "webgpu"]);
  assert(/✖\s+evaluate\[method=lora\]\s+rouge1\s+0\.250000\s+0\.310000/.test(table), table);
});

Deno.test("compare backends: a stage missing from the candidate, or run on the CPU, fails", () => {
  const partial = webgpu();
  delete partial.stages["evaluate[method=lora]"];
  partial.stages["train-lora"].metrics.backend = "blas";
  const failed = compareBackendLocks(blas, partial, "webgpu").filter((c) => !c.ok);
  assertEquals(
    failed.map((c) => `${c.stage} ${c.metric}`),
    ["train-lora backend", "evaluate[method=lora] (stage)"],
  );
});

Deno.test("compare backends: machine metrics (times, versions) are never compared", () => {
  const checks = compareBackendLocks(blas, webgpu({ "train-lora": { trainSeconds: 1 } }));
  assert(!checks.some((c) => c.metric === "trainSeconds"));
});
