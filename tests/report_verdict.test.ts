import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { excludesZero, PairedBootstrap } from "../lib/eval/mod.ts";
import {
  buildMetricsTable,
  computeVerdict,
  renderMarkdown,
  ReportInputError,
  type RunMetrics,
  type Verdict,
} from "../lib/report/mod.ts";
import { leadWords } from "../stages/evaluate.ts";

const EXAMPLES = 60;

/** Per-example ROUGE-1 of a method: `level` plus a deterministic wobble of `noise` per example. */
function scoresOf(level: number, noise: number, phase = 0): number[] {
  return Array.from(
    { length: EXAMPLES },
    (_, i) => Math.min(1, Math.max(0, level + noise * Math.sin(1.7 * i + phase))),
  );
}

/** A run whose per-example scores are `rouge1` (ROUGE-2 and -L follow it). */
function run(method: string, rouge1: number[], cost: Partial<RunMetrics> = {}): RunMetrics {
  const mean = rouge1.reduce((a, b) => a + b, 0) / rouge1.length;
  const baseline = method === "lead" || method === "base";
  return {
    method,
    seed: 0,
    baseline,
    rouge1: mean,
    rouge1Ci: [mean, mean],
    rouge2: mean / 2,
    rouge2Ci: [mean / 2, mean / 2],
    rougeL: mean,
    rougeLCi: [mean, mean],
    validationLoss: method === "lead" ? null : 3,
    validationLossCurve: method === "lead" ? [] : [3],
    trainableParams: baseline ? 0 : 1000,
    totalParams: method === "lead" ? null : 2_000_000,
    trainSeconds: baseline ? null : 60,
    validationSeconds: baseline ? null : 6,
    checkpointSeconds: baseline ? null : 2,
    tokensPerSecond: baseline ? null : 1000,
    peakTrainRssBytes: baseline ? null : 500e6,
    peakTrainTensorBytes: baseline ? null : 100e6,
    peakEvalRssBytes: method === "lead" ? null : 300e6,
    peakEvalTensorBytes: method === "lead" ? null : 20e6,
    evalSeconds: 5,
    samples: rouge1.map((score, i) => ({
      id: `x${i}`,
      document: "d",
      reference: "r",
      prediction: method,
      rouge1: score,
      rouge2: score / 2,
      rougeL: score,
    })),
    ...cost,
  };
}

function verdictOf(runs: RunMetrics[]): Verdict {
  const verdict = computeVerdict(buildMetricsTable(runs), runs, { samples: 500, seed: 3 });
  assert(verdict !== null);
  return verdict;
}

function claim(verdict: Verdict, kind: string) {
  const found = verdict.claims.find((c) => c.kind === kind);
  assert(found, `no ${kind} claim in ${JSON.stringify(verdict.claims)}`);
  return found;
}

Deno.test("paired bootstrap: a constant lead on every example has a zero-width interval at that lead", () => {
  const a = Float64Array.from(scoresOf(0.4, 0.3));
  const b = a.map((x) => x - 0.05);
  const paired = new PairedBootstrap(
    new Map([["a", { rouge1: a }], ["b", { rouge1: b }]]),
    { samples: 300, seed: 1 },
  );
  const d = paired.difference("a", "b", "rouge1");
  assert(Math.abs(d.value - 0.05) < 1e-12);
  assert(Math.abs(d.interval.low - 0.05) < 1e-9 && Math.abs(d.interval.high - 0.05) < 1e-9);
  assert(excludesZero(d.interval));
});

Deno.test("paired bootstrap: the pairing removes the spread both methods share", () => {
  // Both methods vary a lot per example, in step; the difference is small but consistent.
  const a = Float64Array.from(scoresOf(0.5, 0.4));
  const b = Float64Array.from(a, (x, i) => x - 0.02 - 0.01 * Math.cos(i));
  const paired = new PairedBootstrap(
    new Map([["a", { rouge1: a }], ["b", { rouge1: b }]]),
    { samples: 400, seed: 2 },
  );
  const difference = paired.difference("a", "b", "rouge1").interval;
  const meanA = paired.estimate((mean) => mean("a", "rouge1")).interval;
  assert(excludesZero(difference), `paired ${JSON.stringify(difference)}`);
  // Unpaired, the two means' intervals overlap: they could not separate the methods.
  const meanB = paired.estimate((mean) => mean("b", "rouge1")).interval;
  assert(meanA.low < meanB.high, "unpaired intervals overlap");
});

Deno.test("paired bootstrap: methods that differ only by noise are not distinguishable", () => {
  const a = Float64Array.from(scoresOf(0.3, 0.2, 0));
  const b = Float64Array.from(scoresOf(0.3, 0.2, 2));
  const paired = new PairedBootstrap(
    new Map([["a", { rouge1: a }], ["b", { rouge1: b }]]),
    { samples: 400, seed: 4 },
  );
  assert(!excludesZero(paired.difference("a", "b", "rouge1").interval));
});

Deno.test("verdict: names the best method, what it adds over both baselines, and the ties", () => {
  const runs = [
    run("lead", scoresOf(0.25, 0.2)),
    run("base", scoresOf(0.05, 0.05)),
    run("prompt", scoresOf(0.15, 0.1), { trainableParams: 640 }),
    run("lora", scoresOf(0.31, 0.2, 1), { trainableParams: 16_000, peakTrainTensorBytes: 300e6 }),
    run("full", scoresOf(0.31, 0.2, 3), { trainableParams: 200_000, peakTrainTensorBytes: 150e6 }),
  ];
  const verdict = verdictOf(runs);
  assertEquals(verdict.examples, EXAMPLES);
  const best = claim(verdict, "best-quality");
  assert(best.method === "lora" || best.method === "full");
  assert(best.text.includes("not distinguishable"), best.text); // lora vs full: noise only
  assert(best.text.includes("prompt +"), best.text); // prompt is clearly behind
  const overBase = claim(verdict, "over-base");
  assert(overBase.estimate!.distinguishable && overBase.estimate!.value > 0.2, overBase.text);
  const overLead = claim(verdict, "over-lead");
  assert(overLead.estimate!.value > 0, overLead.text);
  const cheapest = claim(verdict, "cheapest");
  assert(cheapest.text.includes("lora, full") || cheapest.text.includes("full, lora"));
  assert(cheapest.text.includes("by trainable parameters: lora"), cheapest.text);
  assert(cheapest.text.includes("by peak training memory: full"), cheapest.text);
  // Every pair on every metric: 5 methods → 10 pairs × 3 metrics.
  assertEquals(verdict.pairwise.length, 30);
  const leadVsBase = verdict.pairwise.find((d) =>
    d.a === "lead" && d.b === "base" && d.metric === "rouge1"
  )!;
  assert(leadVsBase.distinguishable && Math.abs(leadVsBase.difference - 0.2) < 0.01);
});

Deno.test("verdict: training times within 10% are not ranked; a clearly faster method is named", () => {
  const cheapestText = (loraSeconds: number) =>
    claim(
      verdictOf([
        run("lead", scoresOf(0.25, 0.2)),
        run("base", scoresOf(0.05, 0.05)),
        run("lora", scoresOf(0.31, 0.2, 1), { trainSeconds: loraSeconds }),
        run("full", scoresOf(0.31, 0.2, 3), { trainSeconds: 100 }),
      ]),
      "cheapest",
    ).text;
  assert(
    cheapestText(95).includes("by training time: lora and full (within 10% of each other)"),
    cheapestText(95),
  );
  assert(cheapestText(80).endsWith("by training time: lora."), cheapestText(80));
});

Deno.test("verdict: per-parameter efficiency is the gain over the base per 1,000 parameters", () => {
  const runs = [
    run("base", scoresOf(0.1, 0)),
    run("prompt", scoresOf(0.2, 0), { trainableParams: 1_000 }), // +10 points per 1k
    run("lora", scoresOf(0.3, 0), { trainableParams: 10_000 }), // +2 points per 1k
  ];
  const perParameter = claim(verdictOf(runs), "per-parameter");
  assertEquals(perParameter.method, "prompt");
  assert(Math.abs(perParameter.estimate!.value - 0.08) < 1e-9, perParameter.text);
  assert(perParameter.estimate!.distinguishable);
});

Deno.test("verdict: the table's Markdown ends with the verdict and baselines read '—' for training cost", () => {
  const runs = [run("lead", scoresOf(0.25, 0.1)), run("lora", scoresOf(0.3, 0.1))];
  const table = buildMetricsTable(runs);
  const markdown = renderMarkdown(table, computeVerdict(table, runs, { samples: 100 }));
  const leadLine = markdown.split("\n").find((line) => line.startsWith("| lead"))!;
  assert(leadLine.includes("—"), leadLine);
  assert(leadLine.includes("| 0 "), leadLine);
  assert(markdown.includes("## Verdict"));
  assert(markdown.includes("Over the lead-words extractor: lora"));
});

Deno.test("verdict: a run without per-example scores is refused, naming the run", () => {
  const runs = [run("lora", scoresOf(0.3, 0.1)), run("full", scoresOf(0.3, 0.1))];
  delete runs[1].samples[4].rouge2;
  try {
    computeVerdict(buildMetricsTable(runs), runs);
    throw new Error("expected a ReportInputError");
  } catch (error) {
    assert(error instanceof ReportInputError, String(error));
    assert(error.message.includes("method=full"), error.message);
  }
});

Deno.test("report table: a tuned run may not leave out a training figure; a baseline may", () => {
  const tuned = run("lora", scoresOf(0.3, 0.1), { trainSeconds: null });
  try {
    buildMetricsTable([tuned]);
    throw new Error("expected a ReportInputError");
  } catch (error) {
    assert(error instanceof ReportInputError && error.message.includes("trainSeconds"));
  }
  const lead = run("lead", scoresOf(0.3, 0.1));
  assertEquals(buildMetricsTable([lead]).rows[0].trainSeconds, { mean: null, std: null });
});

Deno.test("lead baseline: the first k whitespace-separated words of the document", () => {
  assertEquals(leadWords("  We study\n the  problem of X in Y. ", 4), "We study the problem");
  assertEquals(leadWords("Short one.", 10), "Short one.");
});
