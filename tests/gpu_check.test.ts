import { assertEquals, assertThrows } from "./engine_assert.ts";
import { errorLines } from "../scripts/gpu_check.ts";
import { parseMatMulShapes } from "../bench/engine.ts";

Deno.test("gpu-check: a failed step keeps Deno's error line and the pipeline's failed stages", () => {
  const output = [
    "[bench] loading",
    "error: Uncaught (in promise) TypeError: Cannot read properties of null (reading 'clearRect')",
    "    at WebGPUBackend.readSync (backend_webgpu.js:290:18)",
    "✔ tokenize (2.1 s)",
    "✖ pretrain: failed: TypeError: boom (log: cache/logs/pretrain.log)",
    "– train-lora: not run (upstream pretrain failed)",
  ].join("\n");
  assertEquals(errorLines(output), [
    "error: Uncaught (in promise) TypeError: Cannot read properties of null (reading 'clearRect')",
    "✖ pretrain: failed: TypeError: boom (log: cache/logs/pretrain.log)",
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
