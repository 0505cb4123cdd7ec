import { assertEquals, assertThrows } from "./asserts.ts";
import {
  type CaseResult,
  compareWithTorch,
  formatTorchComparison,
  parseBenchArgs,
  parseMatMulShapes,
} from "../bench/engine.ts";

function ours(mode: string, tokensPerSecond: number): CaseResult {
  return {
    mode,
    backend: "blas",
    threads: 2,
    tokens_per_s: tokensPerSecond,
    peak_tensor_bytes: 1,
    peak_rss_bytes: 700 * 2 ** 20,
    step_ms_median: 1,
    steps: 5,
  };
}

Deno.test("bench --compare-torch: both engines' LoRA and prompt speed-ups over full, side by side", () => {
  const rows = compareWithTorch(
    [ours("train-full", 2000), ours("train-lora", 3000), ours("train-prompt", 2400)],
    [
      { engine: "torch 1.13", mode: "full", tokens_per_s: 1500, peak_rss_mb: 1000 },
      { engine: "torch 1.13", mode: "lora", tokens_per_s: 1995, peak_rss_mb: 950 },
      { engine: "torch 1.13", mode: "prompt", tokens_per_s: 1935 },
      { engine: "torch 1.13", threads: 2, matmul_1024x256x1024_gflops: 129 },
    ],
  );
  assertEquals(rows.map((r) => r.mode), ["train-full", "train-lora", "train-prompt"]);
  assertEquals(rows.map((r) => r.peftlab_speedup_vs_full), [1, 1.5, 1.2]);
  assertEquals(rows.map((r) => r.torch_speedup_vs_full), [1, 1.33, 1.29]);
  assertEquals(rows.map((r) => r.tokens_per_s_ratio), [1.333, 1.504, 1.24]);
  assertEquals(rows.map((r) => r.peak_rss_ratio), [0.7, 0.737, null]);
  const table = formatTorchComparison(rows).split("\n");
  assertEquals(table.length, 4);
  assertEquals(table[2].split(/\s+/), [
    "train-lora",
    "3000.0",
    "1995.0",
    "1.50×",
    "0.74×",
    "1.50×",
    "1.33×",
  ]);
});

Deno.test("bench --compare-torch: without a full case on either side, speed-ups are absent, not 0", () => {
  const rows = compareWithTorch([ours("train-lora", 3000)], [{ mode: "lora", tokens_per_s: 2000 }]);
  assertEquals(rows[0].peftlab_speedup_vs_full, null);
  assertEquals(rows[0].torch_speedup_vs_full, null);
  assertEquals(formatTorchComparison(rows).split("\n")[1].trim().split(/\s+/).slice(-2), [
    "—",
    "—",
  ]);
});

Deno.test("bench: --matmul-shapes reads MxKxN lists and names a malformed one", () => {
  assertEquals(parseMatMulShapes("1024x1024x1024, 4096x4096x4096"), [
    [1024, 1024, 1024],
    [4096, 4096, 4096],
  ]);
  const error = assertThrows(() => parseMatMulShapes("1024x1024"), Error);
  assertEquals(error.message, '--matmul-shapes: "1024x1024" is not MxKxN (positive integers)');
});

Deno.test("bench: GPT-2 small is a model of its own with the reference batch, and every method is a case", () => {
  const tiny = parseBenchArgs([]);
  assertEquals([tiny.model, tiny.batch], ["tiny", 8]);
  assertEquals(tiny.cases, [
    "train-full",
    "train-full-last",
    "train-lora",
    "train-prompt",
    "train-ia3",
    "generate",
  ]);
  const small = parseBenchArgs(["--model", "gpt2-small", "--cases", "train-lora,train-ia3"]);
  assertEquals([small.model, small.batch, small.cases], ["gpt2-small", 2, [
    "train-lora",
    "train-ia3",
  ]]);
  // Full training of all 124M weights outgrows the 4 GiB wasm heap: not a default case there.
  assertEquals(parseBenchArgs(["--model", "gpt2-small"]).cases.includes("train-full"), false);
  assertEquals(parseBenchArgs(["--torch-results", "t.jsonl"]).compareTorch, true);
});

Deno.test("bench: a bad flag or value is refused naming the flag", () => {
  const message = (args: string[]) => assertThrows(() => parseBenchArgs(args), Error).message;
  assertEquals(message(["--model", "gpt3"]), '--model: one of tiny, gpt2-small, got "gpt3"');
  assertEquals(message(["--steps", "0"]), '--steps: a whole number ≥ 1, got "0"');
  assertEquals(message(["--batch", "2.5"]), '--batch: a whole number ≥ 1, got "2.5"');
  assertEquals(
    message(["--cases", "train-full,train-adapter"]).startsWith("--cases: one of train-full,"),
    true,
  );
  assertThrows(() => parseBenchArgs(["--stepz", "3"]), TypeError); // node:util's unknown option
});
