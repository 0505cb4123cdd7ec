import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  buildMetricsTable,
  pickSamples,
  renderReportHtml,
  renderSvg,
  rougeVsParamsSpec,
  type RunMetrics,
  validationLossSpec,
} from "../lib/report/mod.ts";

function fakeRun(method: string, seed: number, level: number, trainableParams: number): RunMetrics {
  return {
    method,
    seed,
    rouge1: 0.30 + 0.02 * level,
    rouge1Ci: [0.28 + 0.02 * level, 0.32 + 0.02 * level],
    rouge2: 0.10 + 0.02 * level,
    rouge2Ci: [0.09 + 0.02 * level, 0.11 + 0.02 * level],
    rougeL: 0.25 + 0.02 * level,
    rougeLCi: [0.24 + 0.02 * level, 0.26 + 0.02 * level],
    validationLoss: 3 - 0.1 * level,
    validationLossCurve: [4.5 - 0.1 * level, 3.4 - 0.1 * level, 3 - 0.1 * level],
    trainableParams,
    totalParams: 3_000_000,
    trainSeconds: 60 + level,
    validationSeconds: 6,
    checkpointSeconds: 2,
    tokensPerSecond: 2000 + 10 * level,
    peakTrainRssBytes: 400e6 + 10e6 * level,
    peakTrainTensorBytes: 20e6 + 5e6 * level,
    peakEvalRssBytes: 300e6,
    peakEvalTensorBytes: 10e6,
    evalSeconds: 30,
    samples: ["b", "a", "c"].map((id) => ({
      id,
      document: `Document ${id}: Tom & Jerry <b>bold</b> "quoted" 'single'.`,
      reference: `Reference ${id} <i>ref</i>`,
      prediction: `${method}-${seed} predicts ${id} <script>alert("${id}")</script>`,
    })),
  };
}

const runs = [
  fakeRun("prompt", 0, 0, 7_680),
  fakeRun("prompt", 1, 1, 7_680),
  fakeRun("lora", 0, 2, 147_456),
  fakeRun("full", 0, 3, 2_100_000),
];

Deno.test("report html: user text is escaped and no script or fetch survives", async () => {
  const html = await renderReportHtml(buildMetricsTable(runs), runs, { title: "A <b> & C" });
  assert(!/<script/i.test(html), "no <script> element, escaped or generated");
  assert(html.includes("lora-0 predicts a &lt;script&gt;alert(&quot;a&quot;)&lt;/script&gt;"));
  assert(
    html.includes("Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt; &quot;quoted&quot; &#39;single&#39;"),
  );
  assert(html.includes("<title>A &lt;b&gt; &amp; C</title>"));
  assert(!/<(link|img|iframe|object)\b/i.test(html), "nothing embedded from outside");
  const urls = [...html.matchAll(/(?:src|href)\s*=\s*["']?([^"' >]+)/gi)].map((m) => m[1]);
  assertEquals(urls, [], "no src/href attributes at all");
  assert(html.includes("default-src 'none'"), "a CSP forbids every fetch");

  const odd = [...runs, fakeRun('x<y&"z"', 0, 1, 5_000)];
  const oddHtml = await renderReportHtml(buildMetricsTable(odd), odd);
  assert(!oddHtml.includes("x<y"), "a method name is escaped in the table, samples and SVG");
  assert(oddHtml.includes("x&lt;y&amp;&quot;z&quot;"));
});

Deno.test("report html: table and three inline SVG charts are in the page", async () => {
  const html = await renderReportHtml(buildMetricsTable(runs), runs);
  const svgs = html.match(/<svg[\s>]/g) ?? [];
  assert(svgs.length >= 3, `expected 3 inline SVG charts, found ${svgs.length}`);
  for (const title of ["Validation loss per epoch", "ROUGE vs trainable parameters"]) {
    assert(html.includes(title), title);
  }
  assert(html.includes("ROUGE vs peak training memory"));
  const rows = html.match(/<tr><th scope="row">[^<]+/g)!.map((row) => row.split(">").at(-1));
  assertEquals(rows, ["prompt", "lora", "full"]);
  assert(html.includes("31.00 ± 1.41"), "prompt ROUGE-1 mean ± std over its two seeds");
  assert(html.includes("38.00"), "full ROUGE-1 from its own run");
  const ids = [...html.matchAll(/id="([^"]+)"/g)].map((m) => m[1]);
  assertEquals(ids.length, new Set(ids).size, "no duplicate element ids across inline SVGs");
});

Deno.test("report charts: trainable parameters on a log axis, every method in the legend", async () => {
  const table = buildMetricsTable(runs);
  const svg = await renderSvg(rougeVsParamsSpec(table));
  const labels = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
  for (const tick of ["10k", "100k", "1M"]) {
    assert(labels.includes(tick), `log-scale tick ${tick} in ${labels.join(" ")}`);
  }
  assert(!labels.includes("500k"), "a linear axis would show 500k");
  const loss = await renderSvg(validationLossSpec(runs));
  const lossLabels = [...loss.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
  for (const method of ["prompt", "lora", "full"]) assert(lossLabels.includes(method), method);
  const lines = [
    ...loss.matchAll(
      /<path aria-label="[^"]*Method: (\w+); seed: (\d+)"[^>]*aria-roledescription="line mark"[^>]*stroke="([^"]+)"/g,
    ),
  ];
  assertEquals(lines.map((m) => `${m[1]}/${m[2]}`), ["prompt/0", "prompt/1", "lora/0", "full/0"]);
  const colour = Object.fromEntries(lines.map((m) => [m[1], m[3]]));
  assertEquals(new Set(Object.values(colour)).size, 3, "one colour per method");
  assertEquals(lines[0][3], lines[1][3], "seeds of one method share its colour");
});

Deno.test("report samples: shared ids only, each method's own prediction, lowest seed", () => {
  const partial = { ...fakeRun("ia3", 4, 1, 9_000) };
  partial.samples = partial.samples.filter((sample) => sample.id !== "b");
  const all = [...runs, partial];
  const picked = pickSamples(buildMetricsTable(all), all, 5);
  assertEquals(picked.map((sample) => sample.example.id), ["a", "c"]);
  const predictions = picked[0].predictions;
  assertEquals([...predictions.keys()], ["prompt", "lora", "full", "ia3"]);
  assert(predictions.get("prompt")!.startsWith("prompt-0 predicts a"));
  assert(predictions.get("ia3")!.startsWith("ia3-4 predicts a"));
  assertEquals(pickSamples(buildMetricsTable(all), all, 1).length, 1);
});
