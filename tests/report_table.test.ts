import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import {
  buildMetricsTable,
  DEVICE_FIELDS,
  formatBytes,
  formatCount,
  formatDuration,
  formatPercent,
  renderCsv,
  renderJson,
  renderMarkdown,
  ReportInputError,
  type RunMetrics,
  SUMMARY_FIELDS,
  writeMetricsFiles,
} from "../lib/report/mod.ts";

function assertStringIncludes(text: string, part: string, what = "") {
  assert(text.includes(part), `${what} expected ${JSON.stringify(part)} in ${text}`);
}

function assertThrows<E extends Error>(
  action: () => unknown,
  type: new (...args: never[]) => E,
  part = "",
): E {
  try {
    action();
  } catch (error) {
    assert(error instanceof type, `expected ${type.name}, got ${error}`);
    assertStringIncludes(error.message, part);
    return error;
  }
  throw new Error(`expected ${type.name} to be thrown`);
}

/** A run whose every figure depends on `level`, so two levels never share a value. */
function fakeRun(method: string, seed: number, level: number): RunMetrics {
  return {
    method,
    seed,
    rouge1: 0.30 + 0.01 * level,
    rouge1Ci: [0.28 + 0.01 * level, 0.32 + 0.01 * level],
    rouge2: 0.10 + 0.01 * level,
    rouge2Ci: [0.09 + 0.01 * level, 0.11 + 0.01 * level],
    rougeL: 0.25 + 0.01 * level,
    rougeLCi: [0.24 + 0.01 * level, 0.26 + 0.01 * level],
    validationLoss: 3 - 0.1 * level,
    validationLossCurve: [4 - 0.1 * level, 3 - 0.1 * level],
    trainableParams: 1000 * (level + 1),
    totalParams: 1_000_000 + level,
    trainSeconds: 60 + level,
    validationSeconds: 6,
    checkpointSeconds: 2,
    tokensPerSecond: 2000 + 10 * level,
    peakTrainRssBytes: 400e6 + 1e6 * level,
    peakTrainTensorBytes: 20e6 + 1e5 * level,
    peakEvalRssBytes: 300e6 + 1e6 * level,
    peakEvalTensorBytes: 10e6 + 1e5 * level,
    evalSeconds: 30 + level,
    samples: [{ id: "a", document: "doc", reference: "ref", prediction: `${method} says` }],
  };
}

function near(actual: number | null, expected: number | null, what: string) {
  assert(actual !== null && expected !== null, `${what}: ${actual} vs ${expected}`);
  assert(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} != ${expected}`);
}

Deno.test("report table: two methods with different inputs each show their own figures", () => {
  const lora = fakeRun("lora", 0, 1);
  const full = fakeRun("full", 0, 7);
  const table = buildMetricsTable([lora, full]);
  assertEquals(table.rows.map((row) => row.method), ["lora", "full"]);
  for (const [row, run] of [[table.rows[0], lora], [table.rows[1], full]] as const) {
    for (const field of SUMMARY_FIELDS) {
      if ((DEVICE_FIELDS as readonly string[]).includes(field)) {
        assertEquals(row[field], { mean: null, std: null }, "no device on a CPU run");
        continue;
      }
      const expected = field === "trainablePercent"
        ? 100 * run.trainableParams / run.totalParams!
        : run[field] ?? null;
      near(row[field].mean, expected, `${row.method}.${field}`);
      assertEquals(row[field].std, null, "one seed has no standard deviation");
    }
    assertEquals(row.rouge2Ci, run.rouge2Ci);
  }
});

Deno.test("report table: several seeds give mean ± sample standard deviation per method", () => {
  const runs = [
    { ...fakeRun("lora", 2, 0), rouge1: 0.34, trainableParams: 3000 },
    { ...fakeRun("lora", 0, 0), rouge1: 0.30, trainableParams: 1000 },
    { ...fakeRun("lora", 1, 0), rouge1: 0.32, trainableParams: 2000 },
    { ...fakeRun("prompt", 5, 3), rouge1: 0.1 },
  ];
  const [lora, prompt] = buildMetricsTable(runs).rows;
  assertEquals(lora.seeds, [0, 1, 2]);
  near(lora.rouge1.mean, 0.32, "mean");
  near(lora.rouge1.std!, 0.02, "sample std (n - 1)");
  near(lora.trainablePercent.mean, 0.2, "% of total, per run then averaged");
  near(lora.trainablePercent.std!, 0.1, "std of % of total");
  assertEquals(lora.validationLoss.std, 0);
  near(lora.rouge1Ci[0], 0.28, "CI low = mean of per-seed lows");
  assertEquals(prompt.seeds, [5]);
  near(prompt.rouge1.mean, 0.1, "prompt keeps its own figure");
});

Deno.test("report table: a missing or bad metric names the method, the seed and the field", () => {
  const cases: [Partial<Record<keyof RunMetrics, unknown>>, string][] = [
    [{ rouge2Ci: undefined }, "method=lora seed=3: rouge2Ci missing"],
    [{ trainSeconds: undefined }, "method=lora seed=3: trainSeconds missing"],
    [{ peakEvalRssBytes: Number.NaN }, "method=lora seed=3: peakEvalRssBytes must be a finite"],
    [{ rouge1: 41.2 }, "rouge1 must be a fraction in 0..1"],
    [{ rougeLCi: [0.3, 0.2] }, "rougeLCi must be [low, high]"],
    [{ validationLossCurve: [] }, "validationLossCurve must be a non-empty list"],
    [{ trainableParams: 5e6 }, "trainableParams (5000000) exceeds totalParams"],
    [{ samples: [{ id: "x", document: "d", reference: "r" }] }, "samples[0].prediction"],
  ];
  for (const [change, message] of cases) {
    const run = { ...fakeRun("lora", 3, 0), ...change } as RunMetrics;
    const error = assertThrows(() => buildMetricsTable([run]), ReportInputError);
    assertStringIncludes(error.message, message);
  }
  assertThrows(() => buildMetricsTable([]), ReportInputError, "no evaluated run");
  assertThrows(
    () => buildMetricsTable([fakeRun("lora", 1, 0), fakeRun("lora", 1, 2)]),
    ReportInputError,
    "method=lora seed=1: seed appears twice",
  );
});

Deno.test("report format: human units", () => {
  const one = (mean: number) => ({ mean, std: null });
  assertEquals(formatBytes(one(412_300_000)), "412 MB");
  assertEquals(formatBytes({ mean: 1_250_000_000, std: 10_000_000 }), "1.25 ± 0.01 GB");
  assertEquals(formatCount(one(1_200_000)), "1.2M");
  assertEquals(formatCount(one(124_439_808)), "124M");
  assertEquals(formatCount({ mean: 12_300, std: 500 }), "12.3k ± 0.5k");
  assertEquals(formatCount(one(950)), "950");
  assertEquals(formatPercent(one(0.0523)), "0.052%");
  assertEquals(formatPercent(one(12.54)), "12.5%");
  assertEquals(formatDuration(one(95.4)), "95.4 s");
  assertEquals(formatDuration({ mean: 312, std: 6 }), "5.2 ± 0.1 min");
  assertEquals(formatDuration(one(9000)), "2.5 h");
});

Deno.test("report markdown: one aligned row per method with its own readable figures", () => {
  const runs = [fakeRun("prompt", 0, 0), fakeRun("prompt", 1, 2), fakeRun("lora", 0, 5)];
  const markdown = renderMarkdown(buildMetricsTable(runs));
  const lines = markdown.split("\n").filter((line) => line.startsWith("|"));
  assertEquals(lines.length, 4, "header, rule, two rows");
  const widths = new Set(lines.map((line) => line.length));
  assertEquals(widths.size, 1, "columns are padded to one width");
  const prompt = lines[2].split("|").map((cell) => cell.trim());
  const lora = lines[3].split("|").map((cell) => cell.trim());
  assertEquals(prompt[1], "prompt");
  assertEquals(prompt[2], "2");
  assertEquals(prompt[3], "31.00 ± 1.41 [29.00, 33.00]", "ROUGE-1 ×100, sample std, mean CI");
  assertEquals(lora[3], "35.00 [33.00, 37.00]", "single seed: no ±");
  assertEquals(lora[7], "6k (0.6%)");
  assertEquals(lora[8], "65 s (+6 s val., 2 s ckpt.)");
  assertEquals(lora[9], "405 MB (tensors 20.5 MB)");
  assertEquals(lora[11], "2.05k");
  assertStringIncludes(markdown, "mean ± sample standard deviation");
  assertStringIncludes(markdown, "optimisation steps only");
});

Deno.test("report: device bytes (webgpu) show beside tensor bytes, labelled; CPU rows show none", () => {
  const gpu = { ...fakeRun("lora", 0, 1), peakTrainDeviceBytes: 64e6, peakEvalDeviceBytes: 32e6 };
  const table = buildMetricsTable([gpu, fakeRun("full", 0, 2)]);
  const lines = renderMarkdown(table).split("\n").filter((line) => line.startsWith("|"));
  const cells = (line: string) => line.split("|").map((cell) => cell.trim());
  assertEquals(cells(lines[2])[9], "401 MB (tensors 20.1 MB, device 64 MB)");
  assertEquals(cells(lines[2])[10], "301 MB (tensors 10.1 MB, device 32 MB)");
  assertEquals(cells(lines[3])[9], "402 MB (tensors 20.2 MB)");
  assertEquals(table.rows[1].peakTrainDeviceBytes, { mean: null, std: null });
  const [header, lora] = parseCsv(renderCsv(table));
  near(Number(lora[header.indexOf("peakTrainDeviceBytes.mean")]), 64e6, "device bytes in csv");
  near(Number(lora[header.indexOf("validationSeconds.mean")]), 6, "validation time in csv");
});

/** Minimal RFC 4180 reader, to check the file parses back into the same cells. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') field += text[++i];
      else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ",") row.push(field), field = "";
    else if (char === "\r" && text[i + 1] === "\n") {
      row.push(field), rows.push(row), row = [], field = "", i++;
    } else field += char;
  }
  return rows;
}

Deno.test("report csv: RFC 4180 with raw numbers, quoting odd method names", () => {
  const odd = 'ia3,"small"';
  const runs = [fakeRun("lora", 0, 1), fakeRun("lora", 1, 3), fakeRun(odd, 0, 4)];
  const csv = renderCsv(buildMetricsTable(runs));
  assert(csv.endsWith("\r\n"));
  assert(!/[^\r]\n/.test(csv), "every line ends with CRLF");
  assertStringIncludes(csv, '"ia3,""small"""');
  const [header, lora, ia3] = parseCsv(csv);
  assertEquals(lora.length, header.length);
  const column = (name: string) => header.indexOf(name);
  assertEquals(ia3[column("method")], odd);
  assertEquals(lora[column("seed_list")], "0 1");
  near(Number(lora[column("rouge1.mean")]), 0.32, "lora rouge1 mean");
  near(Number(lora[column("rouge1.std")]), Math.SQRT2 * 0.01, "lora rouge1 std");
  near(Number(ia3[column("peakTrainRssBytes.mean")]), 404e6, "ia3 train RSS");
  assertEquals(ia3[column("rouge1.std")], "", "one seed: empty std");
  near(Number(ia3[column("rougeLCi.high")]), 0.30, "ia3 CI high");
});

Deno.test("report json and files: rows, runs without predictions, three files written", async () => {
  const runs = [fakeRun("prompt", 0, 2), fakeRun("full", 0, 9)];
  const table = buildMetricsTable(runs);
  const json = JSON.parse(renderJson(table, runs));
  assertEquals(json.rows.map((row: { method: string }) => row.method), ["prompt", "full"]);
  near(json.rows[1].peakEvalTensorBytes.mean, 10.9e6, "full eval tensors");
  assertEquals(json.runs.length, 2);
  assertEquals(json.runs[0].samples, undefined);
  assertEquals(json.runs[1].trainableParams, 10_000);

  const dir = await Deno.makeTempDir({ prefix: "report_table_" });
  try {
    const written = await writeMetricsFiles(dir, table, runs);
    assertEquals(await Deno.readTextFile(join(dir, "metrics.md")), written.markdown);
    assertEquals(JSON.parse(await Deno.readTextFile(written.jsonPath)), json);
    assertStringIncludes(await Deno.readTextFile(written.csvPath), "prompt,false,1,0,");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
