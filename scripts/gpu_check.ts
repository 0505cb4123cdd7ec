/**
 * The GPU check behind `scripts/gpu-check.sh [OUT.json] [--budget-s N]`: what a machine's GPU
 * gives peftlab, in at most five minutes and without the network. Prints `nvidia-smi` when present and the WebGPU
 * adapter, times matmuls at 1024³ and 4096³ and the bench model's training steps (full, LoRA,
 * prompt; bench/engine.ts) on `webgpu`, runs the smoke pipeline on `webgpu`, and writes all of it
 * to one JSON file (default `artifacts/gpu-check.json`), which it also prints. `--budget-s` moves
 * the five-minute limit (for measuring a slow software adapter in full).
 *
 * A step that fails or passes its deadline is recorded as such and the check goes on. On a
 * software adapter (lavapipe), the training cases shrink to batch 1 and one timed step, and the
 * 4096³ matmul is skipped when the 1024³ rate says it cannot finish in its share of the time.
 *
 * @module
 */
import { join } from "node:path";
import {
  adapterSummary,
  gpuEnvironment,
  probeWebGpuAdapter,
  webGpuFix,
} from "../lib/engine/gpu_adapter.ts";
import { matMulRuns, matMulShapeBudgetMs } from "../bench/engine.ts";
import { denoRun, projectRoot, runGroup, runSmokePipeline } from "./smoke_run.ts";

/** The whole check's limit unless `--budget-s` says otherwise. */
const defaultBudgetSeconds = 300;
/** Kept back at the end for writing the JSON. */
const reserveSeconds = 5;
/** Per-step caps at the default budget, scaled with it (the smoke pipeline gets what is left). */
const capSeconds = { nvidiaSmi: 15, adapter: 30, matmul: 45, matmulLarge: 60, trainCase: 75 };
const trainCases = ["train-full", "train-lora", "train-prompt"] as const;
const largeMatMul = 4096;
const smallMatMul = 1024;

/** One step of the check. */
export interface CheckStep {
  status: "ok" | "failed" | "timed out" | "skipped";
  seconds: number;
  [detail: string]: unknown;
}

/** The check's clock: seconds since the start, and what a step may still take. */
interface Clock {
  elapsed(): number;
  /** Seconds a step may take: its cap (scaled with the budget), or what is left of the budget. */
  allowance(cap?: number): number;
}

function startClock(budgetSeconds: number): Clock {
  const startedAt = performance.now();
  const elapsed = () => (performance.now() - startedAt) / 1000;
  const scale = budgetSeconds / defaultBudgetSeconds;
  return {
    elapsed,
    allowance: (cap = Infinity) =>
      Math.max(0, Math.min(cap * scale, budgetSeconds - reserveSeconds - elapsed())),
  };
}

function lastJsonLine(output: string): Record<string, unknown> | undefined {
  const line = output.split("\n").reverse().find((l) => l.startsWith("{"));
  return line ? JSON.parse(line) : undefined;
}

/**
 * The lines of a failed command's output that say what went wrong (Deno's `error:`, ✖ stages),
 * without the Vulkan loader's harmless `error: XDG_RUNTIME_DIR is invalid…`.
 */
export function errorLines(output: string): string[] {
  return output.split("\n").map((line) => line.trim())
    .filter((line) => /^(error: |✖ )/.test(line) && !line.includes("XDG_RUNTIME_DIR"));
}

/** Runs one bench/engine.ts case in its own process (`--child`), within `cap` seconds. */
async function benchCase(
  clock: Clock,
  caseName: string,
  args: string[],
  cap: number,
): Promise<CheckStep> {
  const seconds = clock.allowance(cap);
  if (seconds < 5) return { status: "skipped", seconds: 0, reason: "no time left in the budget" };
  const run = await runGroup([
    ...denoRun("bench/engine.ts"),
    "--child",
    caseName,
    "--backend",
    "webgpu",
    ...args,
  ], { timeoutMs: seconds * 1000 });
  const result = run.exitCode === 0 ? lastJsonLine(run.output) : undefined;
  const common = { seconds: Math.round(run.seconds * 10) / 10, args };
  if (run.timedOut) return { status: "timed out", ...common, limitSeconds: Math.round(seconds) };
  if (result == null) {
    return {
      status: "failed",
      ...common,
      errors: errorLines(run.output),
      outputTail: run.output.slice(-2000),
    };
  }
  return { status: "ok", ...common, result };
}

async function nvidiaSmi(clock: Clock): Promise<CheckStep> {
  try {
    const run = await runGroup(["nvidia-smi"], {
      timeoutMs: clock.allowance(capSeconds.nvidiaSmi) * 1e3,
    });
    return {
      status: run.exitCode === 0 ? "ok" : run.timedOut ? "timed out" : "failed",
      seconds: Math.round(run.seconds * 10) / 10,
      output: run.output,
    };
  } catch {
    return { status: "skipped", seconds: 0, reason: "nvidia-smi is not installed" };
  }
}

async function adapterStep(clock: Clock): Promise<CheckStep> {
  const start = performance.now();
  const environment = await gpuEnvironment();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), clock.allowance(capSeconds.adapter) * 1000);
  });
  const gpu = await Promise.race([probeWebGpuAdapter(), timeout]);
  clearTimeout(timer);
  const seconds = Math.round((performance.now() - start) / 100) / 10;
  if (gpu === "timeout") return { status: "timed out", seconds, environment };
  if (gpu == null) return { status: "failed", seconds, environment, fix: webGpuFix(environment) };
  return { status: "ok", seconds, adapter: gpu, summary: adapterSummary(gpu), environment };
}

/** Runs the check within `budgetSeconds` and returns the report (see the module doc). */
export async function gpuCheck(
  budgetSeconds = defaultBudgetSeconds,
): Promise<Record<string, unknown>> {
  const clock = startClock(budgetSeconds);
  const { elapsed, allowance } = clock;
  const steps: Record<string, CheckStep> = {};
  const say = (name: string, text: string) =>
    console.error(`[gpu-check ${elapsed().toFixed(0)}s] ${name}: ${text}`);

  steps.nvidiaSmi = await nvidiaSmi(clock);
  if (steps.nvidiaSmi.status === "ok") console.error(steps.nvidiaSmi.output);
  else say("nvidia-smi", String(steps.nvidiaSmi.reason ?? steps.nvidiaSmi.status));

  steps.adapter = await adapterStep(clock);
  say("adapter", String(steps.adapter.summary ?? steps.adapter.fix ?? steps.adapter.status));
  const software = (steps.adapter.adapter as { software?: boolean } | undefined)?.software ?? false;

  if (steps.adapter.status === "ok") {
    const square = (n: number) => `${n}x${n}x${n}`;
    steps.matmul1024 = await benchCase(clock, "matmul", [
      "--matmul-shapes",
      square(smallMatMul),
      "--matmul-plain",
    ], capSeconds.matmul);
    const smallRate = (steps.matmul1024.result as { gflops?: Record<string, number> } | undefined)
      ?.gflops?.[square(smallMatMul)];
    say("matmul 1024³", smallRate ? `${smallRate} GFLOP/s` : steps.matmul1024.status);
    // The bench's runs of 2·n³ flops at the 1024³ rate (the large one is usually faster).
    const oneRunSeconds = smallRate ? 2 * largeMatMul ** 3 / (smallRate * 1e9) : NaN;
    const largeEstimateSeconds = Math.max(
      oneRunSeconds,
      Math.min(matMulRuns * oneRunSeconds, matMulShapeBudgetMs / 1000 + oneRunSeconds),
    );
    if (!(largeEstimateSeconds < allowance(capSeconds.matmulLarge))) {
      steps.matmul4096 = {
        status: "skipped",
        seconds: 0,
        reason: Number.isFinite(largeEstimateSeconds)
          ? `at ${smallRate} GFLOP/s it would take ~${Math.round(largeEstimateSeconds)} s`
          : "the 1024³ matmul gave no rate",
      };
    } else {
      steps.matmul4096 = await benchCase(clock, "matmul", [
        "--matmul-shapes",
        square(largeMatMul),
        "--matmul-plain",
      ], capSeconds.matmulLarge);
    }
    const largeRate = (steps.matmul4096.result as { gflops?: Record<string, number> } | undefined)
      ?.gflops?.[square(largeMatMul)];
    say(
      "matmul 4096³",
      largeRate
        ? `${largeRate} GFLOP/s`
        : String(steps.matmul4096.reason ?? steps.matmul4096.status),
    );

    // A software adapter runs the bench model ~50× slower than a GPU: one small step each.
    const trainArgs = software
      ? ["--batch", "1", "--steps", "1", "--warmup", "1"]
      : ["--steps", "3", "--warmup", "1"];
    for (const caseName of trainCases) {
      steps[caseName] = await benchCase(clock, caseName, trainArgs, capSeconds.trainCase);
      const rate = (steps[caseName].result as { tokens_per_s?: number } | undefined)?.tokens_per_s;
      say(caseName, rate ? `${rate} tokens/s` : steps[caseName].status);
    }
  } else {
    for (const name of ["matmul1024", "matmul4096", ...trainCases]) {
      steps[name] = { status: "skipped", seconds: 0, reason: "no WebGPU adapter" };
    }
  }

  const smokeSeconds = allowance();
  if (steps.adapter.status !== "ok" || smokeSeconds < 10) {
    steps.smokePipeline = {
      status: "skipped",
      seconds: 0,
      reason: steps.adapter.status !== "ok" ? "no WebGPU adapter" : "no time left in the budget",
    };
  } else {
    const smoke = await runSmokePipeline("webgpu", { timeoutMs: smokeSeconds * 1000 });
    const stages = Object.fromEntries(
      Object.entries(smoke.lock?.stages ?? {}).map(([name, entry]) => [name, entry.metrics]),
    );
    steps.smokePipeline = {
      status: smoke.ok ? "ok" : smoke.timedOut ? "timed out" : "failed",
      seconds: smoke.seconds,
      exitCode: smoke.exitCode,
      limitSeconds: Math.round(smokeSeconds),
      stagesFinished: Object.keys(stages),
      errors: errorLines(smoke.outputTail),
      metrics: stages,
      outputTail: smoke.outputTail,
      ...(smoke.keptIn ? { keptIn: smoke.keptIn } : {}),
    };
  }
  say("smoke pipeline", steps.smokePipeline.status);

  return {
    check: "peftlab gpu-check",
    finishedAt: new Date().toISOString(),
    host: { hostname: Deno.hostname(), cpus: navigator.hardwareConcurrency, os: Deno.build.os },
    versions: { deno: Deno.version.deno },
    budgetSeconds,
    wallSeconds: Math.round(elapsed() * 10) / 10,
    adapter: steps.adapter.summary ?? null,
    software,
    steps,
  };
}

if (import.meta.main) {
  const args = [...Deno.args];
  const budgetAt = args.indexOf("--budget-s");
  const budgetSeconds = budgetAt >= 0 ? Number(args.splice(budgetAt, 2)[1]) : defaultBudgetSeconds;
  if (!(budgetSeconds > 0)) throw new Error("--budget-s: a positive number of seconds");
  const out = args[0] ?? join(projectRoot, "artifacts", "gpu-check.json");
  const report = await gpuCheck(budgetSeconds);
  const text = JSON.stringify(report, null, 2) + "\n";
  await Deno.mkdir(join(out, ".."), { recursive: true });
  await Deno.writeTextFile(out, text);
  console.log(text);
  console.error(`[gpu-check] written: ${out}`);
  Deno.exit(0); // a WebGPU device keeps the event loop alive
}
