import { assert, assertEquals, assertRejects } from "./asserts.ts";
import {
  adapterMetrics,
  BackendError,
  describeAdapter,
  type GpuEnvironment,
  initEngine,
  probeWebGpuAdapter,
  webGpuFix,
} from "../lib/engine/mod.ts";
import { engineMetrics } from "../lib/stagekit/engine.ts";
import { sandboxCommand, sandboxEnv } from "../lib/run/sandbox.ts";

/** What Deno 2.9 reports for Mesa's lavapipe (fallback flag on `info`, vendor as a decimal id). */
const lavapipe = {
  info: {
    vendor: "65541",
    architecture: "",
    device: "0",
    description: "llvmpipe (LLVM 15.0.6, 256 bits)",
    isFallbackAdapter: true,
  },
};
const nvidiaHost: GpuEnvironment = {
  os: "linux",
  webGpuApi: true,
  nvidiaDriver: "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15",
  vulkanLoader: true,
  icdFiles: ["/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"],
};

Deno.test("gpu adapter: lavapipe is recorded as mesa, a fallback and software adapter", () => {
  const gpu = describeAdapter(lavapipe);
  assertEquals(gpu.vendor, "mesa");
  assertEquals(gpu.vendorId, "65541");
  assertEquals(gpu.isFallbackAdapter, true);
  assertEquals(gpu.software, true);
  const metrics = adapterMetrics(gpu);
  assertEquals(metrics["adapter.fallback"], true);
  assertEquals(metrics["adapter.vendor"], "mesa");
  assertEquals(metrics["adapter.architecture"], "unreported");
  assertEquals(metrics["adapter.description"], "llvmpipe (LLVM 15.0.6, 256 bits)");
});

Deno.test("gpu adapter: an NVIDIA GPU is hardware; the older adapter-level fallback flag counts", () => {
  const h200 = describeAdapter({
    info: { vendor: "4318", architecture: "hopper", device: "8967", description: "NVIDIA H200" },
  });
  assertEquals([h200.vendor, h200.architecture, h200.software], ["nvidia", "hopper", false]);
  const swiftShader = describeAdapter({
    info: { vendor: "0x1ae0", description: "SwiftShader Device (Subzero)" },
  });
  assertEquals([swiftShader.isFallbackAdapter, swiftShader.software], [false, true]);
  const flaggedOnAdapter = describeAdapter({
    info: { vendor: "4318", description: "X" },
    isFallbackAdapter: true,
  });
  assertEquals(flaggedOnAdapter.software, true);
});

Deno.test("gpu adapter: each missing piece gets its own one-line fix", () => {
  const fixes = {
    noApi: webGpuFix({ ...nvidiaHost, webGpuApi: false }),
    noLoader: webGpuFix({ ...nvidiaHost, vulkanLoader: false }),
    noGraphics: webGpuFix({ ...nvidiaHost, driverCapabilities: "compute,utility" }),
    noNvidiaIcd: webGpuFix({ ...nvidiaHost, driverCapabilities: "all" }),
    noDriver: webGpuFix({ ...nvidiaHost, nvidiaDriver: null, icdFiles: [] }),
    softwareOnNvidia: webGpuFix(nvidiaHost, "mesa llvmpipe (software)"),
    macOs: webGpuFix({ ...nvidiaHost, os: "darwin", nvidiaDriver: null, vulkanLoader: false }),
  };
  for (const [name, fix] of Object.entries(fixes)) assert(!fix.includes("\n"), name);
  assert(fixes.noApi.includes("navigator.gpu"), fixes.noApi);
  assert(fixes.noLoader.includes("libvulkan1"), fixes.noLoader);
  assert(/NVIDIA_DRIVER_CAPABILITIES=compute,utility lacks "graphics"/.test(fixes.noGraphics));
  assert(fixes.noNvidiaIcd.includes("nvidia_icd.json"), fixes.noNvidiaIcd);
  assert(fixes.noNvidiaIcd.includes("graphics"), fixes.noNvidiaIcd);
  assert(fixes.noDriver.includes("no Vulkan driver"), fixes.noDriver);
  assert(fixes.softwareOnNvidia.startsWith("only a software adapter"), fixes.softwareOnNvidia);
  assert(fixes.macOs.includes("Metal") && !fixes.macOs.includes("Vulkan loader"), fixes.macOs);
  const withIcd = webGpuFix({ ...nvidiaHost, icdFiles: ["/etc/vulkan/icd.d/nvidia_icd.json"] });
  assert(withIcd.includes("vulkaninfo"), withIcd);
});

Deno.test("webgpu without any adapter fails with one line naming the fix, never on the CPU", async () => {
  // Deno offers no DX12 on Linux: this is a machine where WebGPU finds no adapter at all.
  const root = new URL("../", import.meta.url).pathname;
  const script = `import { initEngine } from "${root}lib/engine/mod.ts";
    try { await initEngine({ backend: "webgpu" }); console.log("started"); }
    catch (error) { console.log(error.name + " " + error.message); }
    Deno.exit(0);`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", `${root}deno.json`, script],
    env: { DENO_WEBGPU_BACKEND: "dx12" },
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  assertEquals(lines.length, 1, lines.join("\n"));
  assert(lines[0].startsWith('BackendError backend "webgpu": no WebGPU adapter: '), lines[0]);
  assert(/Vulkan|driver/.test(lines[0]), lines[0]);
});

const adapter = await probeWebGpuAdapter();

Deno.test({
  name: "webgpu on a software adapter runs announced: metrics say fallback, the log says so",
  ignore: adapter == null || !adapter.software,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const logged: string[] = [];
    const engine = await initEngine({ backend: "webgpu" });
    const metrics = engineMetrics(engine, (line) => logged.push(line));
    assertEquals(engine.backend, "webgpu");
    assertEquals(metrics["adapter.software"], true);
    assertEquals(metrics["adapter.fallback"], adapter!.isFallbackAdapter);
    assertEquals(metrics["adapter.description"], adapter!.description);
    assert(
      String(metrics.engineWarning).includes("software adapter"),
      String(metrics.engineWarning),
    );
    assertEquals(logged.length, 1);
    await initEngine({ backend: "cpu" });
  },
});

Deno.test("a CPU backend records no adapter metrics and no warning", async () => {
  const metrics = engineMetrics(await initEngine({ backend: "cpu" }), () => {
    throw new Error("nothing to log");
  });
  assertEquals(Object.keys(metrics).filter((key) => key.startsWith("adapter")), []);
  assertEquals(metrics.engineWarning, undefined);
});

Deno.test("an unknown backend name is still refused before any probing", async () => {
  await assertRejects(() => initEngine({ backend: "metal" as "cpu" }), BackendError);
});

Deno.test("a sandboxed stage sees the Vulkan/NVIDIA environment and may read the driver folders", () => {
  const before = Deno.env.get("VK_ICD_FILENAMES");
  Deno.env.set("VK_ICD_FILENAMES", "/etc/vulkan/icd.d/nvidia_icd.json");
  try {
    assertEquals(sandboxEnv().VK_ICD_FILENAMES, "/etc/vulkan/icd.d/nvidia_icd.json");
  } finally {
    if (before === undefined) Deno.env.delete("VK_ICD_FILENAMES");
    else Deno.env.set("VK_ICD_FILENAMES", before);
  }
  const flags = sandboxCommand({
    root: "/p",
    jobFile: "/p/job.json",
    outDir: "/p/out",
    readPaths: [],
  });
  const allowed = (flag: string) =>
    flags.find((f) => f.startsWith(`--allow-${flag}=`))!.split("=")[1].split(",");
  for (const variable of ["NVIDIA_DRIVER_CAPABILITIES", "VK_ICD_FILENAMES", "LD_LIBRARY_PATH"]) {
    assert(allowed("env").includes(variable), variable);
  }
  for (const path of ["/proc/driver/nvidia", "/etc/vulkan/icd.d", "/usr/share/vulkan/icd.d"]) {
    assert(allowed("read").includes(path), path);
  }
});
