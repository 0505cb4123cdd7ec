import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { run } from "../stages/aggregate.ts";
import { DEVICE_FIELDS, ReportInputError, RUN_METRIC_KEYS } from "../lib/report/mod.ts";
import { ConfigError } from "../lib/config/errors.ts";
import type { StageContext } from "../lib/run/types.ts";

/** Evaluate metrics as the evaluate stage writes them; every figure depends on `level`. */
function evaluateMetrics(method: string, seed: number, level: number): Record<string, unknown> {
  return {
    method,
    seed,
    backend: "cpu",
    testExamples: 2,
    rouge1: 0.2 + 0.05 * level + 0.01 * seed,
    rouge1Ci: [0.18 + 0.05 * level, 0.22 + 0.05 * level],
    rouge2: 0.05 + 0.02 * level,
    rouge2Ci: [0.04 + 0.02 * level, 0.06 + 0.02 * level],
    rougeL: 0.15 + 0.04 * level,
    rougeLCi: [0.14 + 0.04 * level, 0.16 + 0.04 * level],
    rougeLsum: 0.15,
    validationLoss: 3.5 - 0.25 * level,
    validationLossCurve: [4.5 - 0.25 * level, 3.5 - 0.25 * level],
    trainableParams: [1_536, 24_576, 400_000][level],
    totalParams: 500_000 + [1_536, 24_576, 0][level],
    trainSeconds: 10 + 5 * level + seed,
    validationSeconds: 6,
    checkpointSeconds: 2,
    tokensPerSecond: 900 - 100 * level,
    peakTrainRssBytes: 200e6 + 20e6 * level,
    peakTrainTensorBytes: 4e6 + 3e6 * level,
    peakEvalRssBytes: 180e6 + 1e6 * level,
    peakEvalTensorBytes: 3e6 + 1e5 * level,
    evalSeconds: 4 + level,
  };
}

async function writeCell(
  root: string,
  cell: string,
  metrics: Record<string, unknown>,
  predictions?: string,
): Promise<string> {
  const dir = join(root, cell.replaceAll(/[^\w=-]/g, "_"));
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "metrics.json"), JSON.stringify({ metrics }));
  const method = String(metrics.method ?? cell);
  await Deno.writeTextFile(
    join(dir, "predictions.jsonl"),
    predictions ?? ["t1", "t2"].map((id) =>
          JSON.stringify({
            id,
            document: `Document ${id} <with> tags & more`,
            reference: `Reference ${id}`,
            prediction: `${method} seed ${metrics.seed} on ${id} <em>`,
            rouge1: Number(metrics.rouge1),
            rouge2: Number(metrics.rouge2),
            rougeL: Number(metrics.rougeL),
          })
        ).join("\n") + "\n",
  );
  return dir;
}

function fakeContext(inputs: Record<string, string>, outDir: string, params = {}) {
  const logged: string[] = [];
  const ctx: StageContext = {
    stage: "aggregate",
    params,
    inputs,
    // The evaluate cells fill the `runs` role; `tokenize` fills another role the stage ignores.
    needs: {
      runs: Object.fromEntries(Object.entries(inputs).filter(([name]) => name !== "tokenize")),
      ...(inputs.tokenize ? { tokenized: { tokenize: inputs.tokenize } } : {}),
    },
    outDir,
    path: (written) => written,
    progress() {},
    log: (message) => logged.push(message),
  };
  return { ctx, logged };
}

async function withTempDir(body: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "report_aggregate_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function rejects(promise: Promise<unknown>, part: string) {
  try {
    await promise;
  } catch (error) {
    assert(error instanceof ReportInputError, `expected ReportInputError, got ${error}`);
    assert(error.message.includes(part), `expected "${part}" in: ${error.message}`);
    return;
  }
  throw new Error(`expected an error with "${part}"`);
}

Deno.test("aggregate stage: evaluate cells in, table files and report out, headline metrics back", async () => {
  await withTempDir(async (root) => {
    const inputs: Record<string, string> = {
      // Another role (tokenized): no metrics.json here, so reading it would throw.
      tokenize: await Deno.makeTempDir({ dir: root }),
    };
    for (const [method, level] of [["prompt", 0], ["lora", 1], ["full", 2]] as const) {
      for (const seed of [0, 1]) {
        const cell = `evaluate[method=${method},seed=${seed}]`;
        inputs[cell] = await writeCell(root, cell, evaluateMetrics(method, seed, level));
      }
    }
    const outDir = join(root, "out");
    await Deno.mkdir(outDir);
    const { ctx, logged } = fakeContext(inputs, outDir, { samples: 1, title: "Run 7" });
    const result = await run(ctx);

    const near = (key: string, expected: number) =>
      assert(Math.abs((result.metrics[key] as number) - expected) < 1e-9, `${key}`);
    near("rouge1.prompt", 0.205);
    near("rouge1.lora", 0.255);
    near("rouge2.full", 0.09);
    near("validationLoss.lora", 3.25);
    assertEquals(result.metrics["trainableParams.full"], 400_000);
    assertEquals(result.metrics["seeds.lora"], 2);

    const json = JSON.parse(await Deno.readTextFile(join(outDir, "metrics.json")));
    assertEquals(json.rows.map((row: { method: string }) => row.method), [
      "prompt",
      "lora",
      "full",
    ]);
    const lora = json.rows[1];
    assertEquals(lora.seeds, [0, 1]);
    assert(Math.abs(lora.rouge1.std - Math.SQRT1_2 * 0.01) < 1e-12, "sample std over 2 seeds");
    assert(Math.abs(lora.trainablePercent.mean - 100 * 24_576 / 524_576) < 1e-9);
    assertEquals(json.rows[2].peakEvalTensorBytes.mean, 3.2e6);

    const markdown = await Deno.readTextFile(join(outDir, "metrics.md"));
    assertEquals(logged.join("\n"), markdown, "the table is printed to the stage log");
    assert(/\| full +\| 2 +\| 30\.50 ± 0\.71 \[28\.00, 32\.00\]/.test(markdown), markdown);
    const csv = await Deno.readTextFile(join(outDir, "metrics.csv"));
    assertEquals(csv.split("\r\n").length, 5, "header, three rows, final empty line");

    const html = await Deno.readTextFile(join(outDir, "report.html"));
    assert(html.includes("<title>Run 7</title>"));
    assert(html.includes("lora seed 0 on t1 &lt;em&gt;"), "lowest seed's prediction, escaped");
    assert(!html.includes("on t2"), "samples: 1 shows a single example");
    assertEquals((html.match(/<svg[\s>]/g) ?? []).length >= 3, true);
  });
});

Deno.test("aggregate stage: method and seed come from the cell name when metrics lack them", async () => {
  await withTempDir(async (root) => {
    const metrics = evaluateMetrics("ia3", 0, 1);
    delete metrics.method;
    delete metrics.seed;
    const inputs = {
      "evaluate[method=ia3]": await writeCell(root, "evaluate[method=ia3]", metrics),
    };
    const outDir = join(root, "out");
    await Deno.mkdir(outDir);
    const result = await run(fakeContext(inputs, outDir).ctx);
    assertEquals(result.metrics["seeds.ia3"], 1);
    assert(Math.abs((result.metrics["rougeL.ia3"] as number) - 0.19) < 1e-9);
  });
});

Deno.test("aggregate stage: a missing metric names the file, method, seed and key (device bytes may be absent)", async () => {
  for (const key of RUN_METRIC_KEYS) {
    if ((DEVICE_FIELDS as readonly string[]).includes(key)) continue;
    await withTempDir(async (root) => {
      const metrics = evaluateMetrics("lora", 3, 1);
      delete metrics[key];
      const cell = "evaluate[method=lora,seed=3]";
      const inputs = { [cell]: await writeCell(root, cell, metrics) };
      await rejects(
        run(fakeContext(inputs, root).ctx),
        `metrics.json (method=lora seed=3): ${key} missing`,
      );
    });
  }
});

Deno.test("aggregate stage: inconsistent or broken inputs are refused with their location", async () => {
  await withTempDir(async (root) => {
    const cell = "evaluate[method=lora,seed=1]";
    const swapped = { [cell]: await writeCell(root, cell, evaluateMetrics("full", 1, 2)) };
    await rejects(run(fakeContext(swapped, root).ctx), `method is "full" but the cell is ${cell}`);

    const badSeed = { [cell]: await writeCell(root, cell, evaluateMetrics("lora", 2, 1)) };
    await rejects(run(fakeContext(badSeed, root).ctx), `seed is 2 but the cell is ${cell}`);

    const badLine = {
      [cell]: await writeCell(
        root,
        cell,
        evaluateMetrics("lora", 1, 1),
        '{"id":"a","document":"d","reference":"r","prediction":"p"}\n{"id":"b","document":"d"}\n',
      ),
    };
    await rejects(run(fakeContext(badLine, root).ctx), "predictions.jsonl:2: reference missing");

    const ciText = { ...evaluateMetrics("lora", 1, 1), rouge2Ci: "0.1-0.2" };
    const badCi = { [cell]: await writeCell(root, cell, ciText) };
    await rejects(run(fakeContext(badCi, root).ctx), "(method=lora seed=1): rouge2Ci must be");

    const noEvaluate = await run(fakeContext({ tokenize: root }, root).ctx).catch((e) => e);
    assert(noEvaluate instanceof ConfigError, `expected ConfigError, got ${noEvaluate}`);
    assert(noEvaluate.key === "needs.runs", noEvaluate.message);
  });
});
