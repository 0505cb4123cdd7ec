/**
 * `deno task bench [--json] [--backend auto|blas|wasm|cpu|webgpu] [--threads N] [--steps N]
 * [--warmup N] [--cases train-full,train-lora,train-prompt,generate,matmul] [--compare-torch]`
 *
 * Times the tiny GPT-2 (n_layer 4, n_embd 256, n_head 4, vocab 8192, context 256, batch 8):
 * training steps (forward + backward + AdamW) with all weights trainable, LoRA r=8 on c_attn and
 * 5 soft prompt tokens, and greedy generation with the KV cache. Each case runs in its own process
 * so its peak RSS is its own. One JSON line per case with `--json`, a table otherwise.
 * `--compare-torch` also runs `../shared/bench/torch_gpt2_bench.py` and prints the ratios.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type BackendName, backendNames, initEngine, MemoryMeter } from "../lib/engine/mod.ts";
import { createGPT2, generate, type GPT2Config, lmLoss } from "../lib/model/mod.ts";
import { methods } from "../lib/peft/mod.ts";
import { AdamW } from "../lib/train/optimizer.ts";

/** The tiny configuration the targets are stated for. */
const tinyConfig: GPT2Config = {
  nLayer: 4,
  nHead: 4,
  nEmbd: 256,
  vocabSize: 8192,
  nPositions: 256,
  layerNormEpsilon: 1e-5,
  activationFunction: "gelu_new",
  dropout: 0,
};
const batchSize = 8;
const contextTokens = 256;
const softPromptTokens = 5;
const loraRank = 8;
const learningRate = 1e-4;
const generatePromptTokens = 32;
const generateNewTokens = 64;
const modelSeed = 1234;

const trainModes = {
  "train-full": { method: "full", config: { layers: "all" } },
  "train-lora": { method: "lora", config: { r: loraRank, alpha: 16, target_modules: ["c_attn"] } },
  "train-prompt": { method: "prompt", config: { soft_tokens: softPromptTokens, init: "random" } },
} as const;
type CaseName = keyof typeof trainModes | "generate" | "matmul";
const allCases: CaseName[] = ["train-full", "train-lora", "train-prompt", "generate", "matmul"];
/** Cases run when `--cases` is not given (matmul is a diagnostic). */
const defaultCases: CaseName[] = ["train-full", "train-lora", "train-prompt", "generate"];
/** Matmul shapes [m, k, n] timed by the `matmul` case (PyTorch's peer benchmark uses the same). */
const matMulShapes = [[1024, 256, 1024], [2048, 2048, 2048]];

/** One benchmark result line. */
interface CaseResult {
  mode: string;
  backend: string;
  threads: number;
  tokens_per_s: number;
  peak_tensor_bytes: number;
  peak_rss_bytes: number;
  step_ms_median: number;
  steps: number;
  trainable_params?: number;
  tensors_after_warmup?: number;
  tensors_at_end?: number;
  loss_first?: number;
  loss_last?: number;
  adapter?: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function randomIds(rows: number, columns: number, seed: number): number[][] {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) % 2147483648);
  return Array.from(
    { length: rows },
    () => Array.from({ length: columns }, () => next() % tinyConfig.vocabSize),
  );
}

async function runTrainCase(
  mode: keyof typeof trainModes,
  steps: number,
  warmup: number,
): Promise<Omit<CaseResult, "backend" | "threads">> {
  const { method, config } = trainModes[mode];
  const model = createGPT2(tinyConfig, modelSeed);
  const tuning = methods.get(method)!;
  const applied = tuning.apply(model, tuning.parseConfig(config, mode), modelSeed + 1);
  const optimizer = new AdamW(applied.trainable);
  const keyOfVariable = new Map([...applied.trainable].map(([key, v]) => [v.name, key]));
  const variables = [...applied.trainable.values()];
  // Prompt tuning keeps the context at 256 positions: 5 soft tokens + 251 real ones.
  const realTokens = applied.prefix ? contextTokens - softPromptTokens : contextTokens;
  const ids = tf.tensor2d(randomIds(batchSize, realTokens, 7), undefined, "int32");
  const meter = new MemoryMeter(0);
  const stepMs: number[] = [];
  const losses: number[] = [];
  let tensorsAfterWarmup = 0;
  for (let step = 0; step < warmup + steps; step++) {
    const start = performance.now();
    const { value, grads } = tf.variableGrads(() => {
      const prefix = applied.prefix?.(batchSize);
      const loss = lmLoss(model, ids as tf.Tensor2D, ids as tf.Tensor2D, {
        prefix,
        training: true,
      });
      prefix?.dispose();
      meter.sample();
      return loss;
    }, variables);
    meter.sample();
    const byKey = new Map(Object.entries(grads).map(([name, g]) => [keyOfVariable.get(name)!, g]));
    optimizer.applyGradients(byKey, learningRate);
    losses.push((await value.data())[0]);
    tf.dispose([value, ...Object.values(grads)]);
    if (step >= warmup) stepMs.push(performance.now() - start);
    if (step === warmup - 1 || (warmup === 0 && step === 0)) {
      tensorsAfterWarmup = tf.memory().numTensors;
    }
  }
  const peak = meter.stop();
  const result = {
    mode,
    tokens_per_s: Math.round((batchSize * contextTokens) / (median(stepMs) / 1000) * 10) / 10,
    peak_tensor_bytes: peak.peakTensorBytes,
    peak_rss_bytes: peak.peakRssBytes,
    step_ms_median: Math.round(median(stepMs)),
    steps,
    trainable_params: variables.reduce((n, v) => n + v.size, 0),
    tensors_after_warmup: tensorsAfterWarmup,
    tensors_at_end: tf.memory().numTensors,
    loss_first: Math.round(losses[0] * 1e4) / 1e4,
    loss_last: Math.round(losses[losses.length - 1] * 1e4) / 1e4,
  };
  ids.dispose();
  return result;
}

async function runGenerateCase(
  steps: number,
  warmup: number,
): Promise<Omit<CaseResult, "backend" | "threads">> {
  const model = createGPT2(tinyConfig, modelSeed);
  const prompts = randomIds(1, generatePromptTokens, 11);
  const meter = new MemoryMeter(0);
  const runMs: number[] = [];
  for (let run = 0; run < warmup + steps; run++) {
    const start = performance.now();
    await generate(model, prompts, { maxNew: generateNewTokens });
    meter.sample();
    if (run >= warmup) runMs.push(performance.now() - start);
  }
  const peak = meter.stop();
  return {
    mode: "generate",
    tokens_per_s: Math.round(generateNewTokens / (median(runMs) / 1000) * 10) / 10,
    peak_tensor_bytes: peak.peakTensorBytes,
    peak_rss_bytes: peak.peakRssBytes,
    step_ms_median: Math.round(median(runMs)),
    steps,
  };
}

/** GFLOP/s of `op(A)·op(B)` for each shape and transpose combination, best of a few runs. */
function runMatMulCase(): Record<string, number> {
  const rates: Record<string, number> = {};
  for (const [m, k, n] of matMulShapes) {
    for (const [ta, tb] of [[false, false], [false, true], [true, false]]) {
      const a = tf.randomNormal(ta ? [k, m] : [m, k]);
      const b = tf.randomNormal(tb ? [n, k] : [k, n]);
      let best = Infinity;
      for (let r = 0; r < 3; r++) {
        const start = performance.now();
        const c = tf.matMul(a, b, ta, tb);
        c.dataSync();
        best = Math.min(best, performance.now() - start);
        c.dispose();
      }
      tf.dispose([a, b]);
      const label = `${m}x${k}x${n}${ta ? " tA" : ""}${tb ? " tB" : ""}`;
      rates[label] = Math.round((2 * m * k * n) / (best / 1000) / 1e8) / 10;
    }
  }
  return rates;
}

function parseArgs(args: string[]) {
  const opts = {
    json: false,
    backend: "auto" as BackendName,
    threads: undefined as number | undefined,
    steps: 3,
    warmup: 1,
    cases: defaultCases,
    compareTorch: false,
    child: undefined as CaseName | undefined,
  };
  for (let i = 0; i < args.length; i++) {
    const value = () => {
      if (i + 1 >= args.length) throw new Error(`${args[i]} needs a value`);
      return args[++i];
    };
    switch (args[i]) {
      case "--json":
        opts.json = true;
        break;
      case "--backend": {
        const name = value() as BackendName;
        if (!backendNames.includes(name)) throw new Error(`--backend: one of ${backendNames}`);
        opts.backend = name;
        break;
      }
      case "--threads":
        opts.threads = Number(value());
        break;
      case "--steps":
        opts.steps = Number(value());
        break;
      case "--warmup":
        opts.warmup = Number(value());
        break;
      case "--cases":
        opts.cases = value().split(",") as CaseName[];
        for (const c of opts.cases) {
          if (!allCases.includes(c)) throw new Error(`--cases: unknown case ${c}`);
        }
        break;
      case "--compare-torch":
        opts.compareTorch = true;
        break;
      case "--child":
        opts.child = value() as CaseName;
        break;
      default:
        throw new Error(`unknown argument ${args[i]}`);
    }
  }
  return opts;
}

async function runChild(opts: ReturnType<typeof parseArgs>): Promise<void> {
  const engine = await initEngine({ backend: opts.backend, threads: opts.threads });
  const caseName = opts.child!;
  if (caseName === "matmul") {
    const gflops = runMatMulCase();
    console.log(
      JSON.stringify({ mode: "matmul", backend: engine.backend, threads: engine.threads, gflops }),
    );
    return;
  }
  const result = caseName === "generate"
    ? await runGenerateCase(opts.steps, opts.warmup)
    : await runTrainCase(caseName, opts.steps, opts.warmup);
  const line: CaseResult = {
    ...result,
    backend: engine.backend,
    threads: engine.threads,
    ...(engine.adapter ? { adapter: engine.adapter } : {}),
  };
  console.log(JSON.stringify(line));
}

async function runCaseProcess(
  caseName: CaseName,
  opts: ReturnType<typeof parseArgs>,
): Promise<CaseResult> {
  const args = [
    "run",
    "-A",
    "--unstable-ffi",
    new URL(import.meta.url).pathname,
    "--child",
    caseName,
    "--backend",
    opts.backend,
    "--steps",
    String(opts.steps),
    "--warmup",
    String(opts.warmup),
    ...(opts.threads ? ["--threads", String(opts.threads)] : []),
  ];
  const output = await new Deno.Command(Deno.execPath(), { args, stderr: "inherit" }).output();
  const text = new TextDecoder().decode(output.stdout);
  const line = text.split("\n").find((l) => l.startsWith("{"));
  if (!output.success || line == null) {
    throw new Error(`case ${caseName} failed (exit ${output.code}): ${text}`);
  }
  return JSON.parse(line);
}

/** Path of the peer PyTorch benchmark, relative to the repository root. */
const torchBenchPath = "../shared/bench/torch_gpt2_bench.py";

async function runTorch(opts: ReturnType<typeof parseArgs>): Promise<Record<string, unknown>[]> {
  const script = new URL(`../${torchBenchPath}`, import.meta.url).pathname;
  try {
    await Deno.stat(script);
  } catch {
    console.error(`--compare-torch: ${script} not found, skipped`);
    return [];
  }
  const output = await new Deno.Command("/usr/bin/python3", {
    args: [
      script,
      "--steps",
      String(opts.steps),
      "--warmup",
      String(opts.warmup),
      "--threads",
      String(opts.threads ?? navigator.hardwareConcurrency),
      "--no-matmul",
    ],
    stderr: "inherit",
  }).output();
  if (!output.success) {
    console.error("--compare-torch: the PyTorch benchmark failed (is python3-torch installed?)");
    return [];
  }
  return new TextDecoder().decode(output.stdout).split("\n").filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
}

async function main(): Promise<void> {
  const opts = parseArgs(Deno.args);
  if (opts.child) {
    await runChild(opts);
    Deno.exit(0); // wasm threads would keep the process alive
  }
  const results: CaseResult[] = [];
  for (const caseName of opts.cases) {
    const result = await runCaseProcess(caseName, opts);
    if (caseName === "matmul") {
      console.log(JSON.stringify(result));
      continue;
    }
    results.push(result);
    if (opts.json) console.log(JSON.stringify(result));
  }
  if (!opts.json) {
    console.log("mode          backend  threads  tokens/s  step ms  peak tensor MB  peak RSS MB");
    for (const r of results) {
      console.log(
        `${r.mode.padEnd(14)}${r.backend.padEnd(9)}${String(r.threads).padStart(7)}` +
          `${r.tokens_per_s.toFixed(1).padStart(10)}${String(r.step_ms_median).padStart(9)}` +
          `${(r.peak_tensor_bytes / 2 ** 20).toFixed(0).padStart(16)}` +
          `${(r.peak_rss_bytes / 2 ** 20).toFixed(0).padStart(13)}`,
      );
    }
  }
  const full = results.find((r) => r.mode === "train-full");
  for (const r of results) {
    if (full && r !== full && r.mode.startsWith("train-")) {
      const ratio = {
        compare: "train-full",
        mode: r.mode,
        speedup: r.tokens_per_s / full.tokens_per_s,
      };
      console.log(JSON.stringify(ratio));
    }
  }
  if (opts.compareTorch) {
    const torch = await runTorch(opts);
    for (const t of torch) {
      if (opts.json) console.log(JSON.stringify(t));
      const ours = results.find((r) => r.mode === `train-${t.mode}`);
      if (ours == null || typeof t.tokens_per_s !== "number") continue;
      console.log(JSON.stringify({
        compare: "torch",
        mode: ours.mode,
        tokens_per_s_ratio: Math.round(ours.tokens_per_s / t.tokens_per_s * 1000) / 1000,
        peak_rss_ratio: typeof t.peak_rss_mb === "number"
          ? Math.round(ours.peak_rss_bytes / (t.peak_rss_mb * 2 ** 20) * 1000) / 1000
          : null,
      }));
    }
  }
}

if (import.meta.main) await main();
