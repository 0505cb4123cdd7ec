import { assertEquals } from "./engine_assert.ts";
import { errorLines } from "../scripts/gpu_check.ts";

Deno.test("gpu-check: a failed step keeps Deno's error line and the failed stages, not loader noise", () => {
  const output = [
    "error: XDG_RUNTIME_DIR is invalid or not set in the environment.",
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
