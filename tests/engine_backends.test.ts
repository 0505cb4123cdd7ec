import * as tf from "@tensorflow/tfjs-core";
import { assert, assertEquals, assertRejects } from "./asserts.ts";
import { BackendError, type BackendName, initEngine, loadBlas } from "../lib/engine/mod.ts";

Deno.test("initEngine: cpu and wasm start and report what is in use", async () => {
  for (const backend of ["cpu", "wasm"] as const) {
    const info = await initEngine({ backend });
    assertEquals(info.backend, backend);
    assertEquals(tf.getBackend(), backend);
    assert(info.threads >= 1);
    assertEquals(info.versions["tfjs-core"], "4.22.0");
  }
});

Deno.test({
  name: "initEngine: blas runs on the wasm heap and names the library",
  ignore: loadBlas() == null,
  fn: async () => {
    const info = await initEngine({ backend: "blas", threads: 1 });
    assertEquals(info.backend, "blas");
    assertEquals(info.threads, 1);
    assert(info.adapter && /blas|blis|mkl|Accelerate/i.test(info.adapter), info.adapter);
  },
});

Deno.test("initEngine: auto picks a fast CPU path here and never a software GPU adapter", async () => {
  const info = await initEngine({ backend: "auto" });
  assert(["tensorflow", "webgpu", "blas", "wasm"].includes(info.backend), info.backend);
  if (info.backend === "webgpu") assert(info.gpu && !info.gpu.software, info.adapter);
  if (loadBlas() != null && info.backend !== "webgpu" && info.backend !== "tensorflow") {
    assertEquals(info.backend, "blas");
  }
});

Deno.test("initEngine: an unknown backend or bad thread count is a BackendError naming it", async () => {
  const unknown = await assertRejects(
    () => initEngine({ backend: "tpu" as BackendName }),
    BackendError,
  );
  assertEquals(unknown.backend, "tpu");
  assert(unknown.message.includes("wasm"), unknown.message);
  await assertRejects(() => initEngine({ backend: "wasm", threads: 0 }), BackendError);
});

Deno.test("initEngine: tensorflow without tfjs-node installed says how to get it", async () => {
  const error = await assertRejects(() => initEngine({ backend: "tensorflow" }), BackendError);
  assert(error.message.includes("tfjs-node"), error.message);
});

Deno.test("initEngine: auto falls back to wasm in a process without FFI or env permission", async () => {
  const root = new URL("../", import.meta.url).pathname;
  const script = `import { initEngine } from "${root}lib/engine/mod.ts";
    console.log(JSON.stringify(await initEngine({ backend: "auto" })));
    Deno.exit(0);`;
  const denoDir = (() => {
    try {
      return Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
    } catch {
      return `${Deno.env.get("HOME")}/.cache/deno`;
    }
  })();
  const scriptPath = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(scriptPath, script);
  const output = await new Deno.Command(Deno.execPath(), {
    // `deno eval` would grant every permission; `run` grants only these reads
    args: [
      "run",
      "--config",
      `${root}deno.json`,
      "--unstable-ffi",
      `--allow-read=${root},${denoDir},${scriptPath}`,
      scriptPath,
    ],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(scriptPath);
  const stdout = new TextDecoder().decode(output.stdout);
  assert(output.success, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(stdout.split("\n").find((line) => line.startsWith("{"))!);
  assertEquals(info.backend, "wasm");
});
