import { assertEquals } from "./asserts.ts";
import { errorLines } from "../scripts/gpu_check.ts";
import { runGroup } from "../scripts/smoke_run.ts";

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

/** Processes whose command line contains `text` (read from /proc). */
async function processesWith(text: string): Promise<number> {
  let count = 0;
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      if (cmdline.replaceAll("\0", " ").includes(text)) count++;
    } catch {
      // gone meanwhile
    }
  }
  return count;
}

Deno.test({
  name: "gpu-check: a step past its deadline is killed with every process it started",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const seconds = `${300 + Math.floor(Math.random() * 1000)}.5`; // unique among processes
    const run = await runGroup(["bash", "-c", `sleep ${seconds} & sleep ${seconds}; wait`], {
      timeoutMs: 300,
    });
    assertEquals([run.timedOut, run.exitCode], [true, null]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assertEquals(await processesWith(`sleep ${seconds}`), 0);
  },
});
