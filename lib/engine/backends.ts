/**
 * Backend choice and set-up: registers the kernels peftlab needs on each backend and selects one.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
// tfjs-core alone registers no gradients and no chained ops (tensor.matMul…); tfjs-core's own
// ESM files cannot load in Deno (extensionless imports), so the umbrella package registers them.
import "@tensorflow/tfjs";
import { version_cpu } from "@tensorflow/tfjs-backend-cpu";
import { getThreadsCount, version_wasm } from "@tensorflow/tfjs-backend-wasm";
import { loadBlas } from "./blas.ts";
import { BackendError } from "./errors.ts";
import { registerLossKernels } from "./loss.ts";
import { registerFusedKernels } from "./fused.ts";
import { installWasmMatMul } from "./matmul.ts";
import { registerSegmentSum } from "./segment_sum.ts";
import { installWasmKernels } from "./wasm_kernels.ts";
import { installMemoryFreeingGradients } from "./gradients.ts";
import {
  adapterSummary,
  type GpuAdapterInfo,
  gpuEnvironment,
  nvidiaDriverVersion,
  probeWebGpuAdapter,
  webGpuFix,
} from "./gpu_adapter.ts";
import { type BackendName, backendNames } from "./backend_names.ts";

export { type BackendName, backendNames };

/** What {@link initEngine} set up; goes into every stage's metrics. */
export interface EngineInfo {
  /** The backend in use: `blas`, `wasm`, `cpu`, `webgpu` or `tensorflow`. */
  backend: string;
  /** Threads doing the math (BLAS threads for `blas`, wasm threads for `wasm`, 1 for `cpu`). */
  threads: number;
  /** Versions of tfjs, Deno and the native library in use. */
  versions: Record<string, string>;
  /** GPU adapter or BLAS library description, when there is one. */
  adapter?: string;
  /** The WebGPU adapter in use (`webgpu` only): vendor, architecture, fallback or not. */
  gpu?: GpuAdapterInfo;
  /** Set when the choice deserves the user's attention: a software GPU, a GPU left unused. */
  warning?: string;
}

/** Options for {@link initEngine}. */
export interface EngineOptions {
  /** Which backend; `auto` (the default) prefers a real GPU, then the fastest CPU path. */
  backend?: BackendName;
  /** Worker threads for `blas`/`wasm`; defaults to the number of cores. */
  threads?: number;
}

let kernelsRegistered = false;

function registerCpuResidentKernels(): void {
  if (kernelsRegistered) return;
  for (const backendName of ["cpu", "wasm"]) {
    registerSegmentSum(backendName);
    registerLossKernels(backendName);
    registerFusedKernels(backendName);
  }
  kernelsRegistered = true;
}

function baseVersions(): Record<string, string> {
  return { "tfjs-core": tf.version_core, deno: Deno.version.deno, v8: Deno.version.v8 };
}

function defaultThreads(): number {
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

async function useCpu(): Promise<EngineInfo> {
  registerCpuResidentKernels();
  if (!(await tf.setBackend("cpu"))) throw new BackendError("cpu", "tfjs refused to start it");
  // tfjs-backend-cpu advertises tfjs-node on first use when it sees `process`; peftlab chooses
  // backends itself (see docs/ENGINE.md), so silence it.
  (tf.backend() as { firstUse?: boolean }).firstUse = false;
  return {
    backend: "cpu",
    threads: 1,
    versions: { ...baseVersions(), "tfjs-backend-cpu": version_cpu },
  };
}

async function useWasm(name: "wasm" | "blas", threads: number): Promise<EngineInfo> {
  registerCpuResidentKernels();
  const blas = name === "blas" ? loadBlas() : null;
  if (name === "blas" && blas == null) {
    throw new BackendError(
      "blas",
      "no BLAS library found (install OpenBLAS, e.g. `apt-get install libopenblas0-pthread`, " +
        "or set PEFTLAB_BLAS to a library with cblas_sgemm; run with --allow-ffi --unstable-ffi)",
    );
  }
  if (!(await tf.setBackend("wasm"))) {
    throw new BackendError(name, "the tfjs wasm binary did not load from node_modules");
  }
  installWasmMatMul(blas);
  installWasmKernels();
  const versions = { ...baseVersions(), "tfjs-backend-wasm": version_wasm };
  if (blas == null) return { backend: "wasm", threads: getThreadsCount(), versions };
  const blasThreads = blas.setThreads(threads);
  return {
    backend: "blas",
    threads: blasThreads,
    versions: { ...versions, blas: blas.version },
    adapter: blas.path,
  };
}

async function useWebGpu(gpu: GpuAdapterInfo | null): Promise<EngineInfo> {
  if (gpu == null) throw new BackendError("webgpu", webGpuFix(await gpuEnvironment()));
  const environment = gpu.software ? await gpuEnvironment() : null;
  if (environment?.nvidiaDriver != null) {
    // A CPU emulation where a GPU is installed is a broken set-up, never what the user meant.
    throw new BackendError("webgpu", webGpuFix(environment, adapterSummary(gpu)));
  }
  await import("@tensorflow/tfjs-backend-webgpu");
  if (!(await tf.setBackend("webgpu"))) {
    throw new BackendError("webgpu", `tfjs could not start on ${adapterSummary(gpu)}`);
  }
  return {
    backend: "webgpu",
    threads: 1,
    versions: baseVersions(),
    adapter: adapterSummary(gpu),
    gpu,
    ...(gpu.software
      ? { warning: `webgpu runs on a software adapter (${gpu.description}): no GPU is in use` }
      : {}),
  };
}

/** Package names of the optional native TensorFlow bindings, GPU build first. */
const tensorflowPackages = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"] as const;

/** Where `node_modules` may be: the project root (two folders up from here), then the cwd. */
function nodeModulesFolders(): string[] {
  const folders = [new URL("../../node_modules/", import.meta.url).pathname];
  try {
    folders.push(`${Deno.cwd()}/node_modules/`);
  } catch {
    // no read permission for the cwd
  }
  return folders;
}

async function installedTensorflowPackage(): Promise<string | null> {
  for (const name of tensorflowPackages) {
    for (const folder of nodeModulesFolders()) {
      try {
        await Deno.stat(`${folder}${name}/package.json`);
        return name;
      } catch {
        // not installed there, or not readable
      }
    }
  }
  return null;
}

async function useTensorflow(): Promise<EngineInfo> {
  const name = await installedTensorflowPackage();
  if (name == null) {
    throw new BackendError(
      "tensorflow",
      "neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed (see docs/ENGINE.md)",
    );
  }
  const specifier = `npm:${name}`;
  let binding: { version?: Record<string, string> };
  try {
    binding = await import(specifier);
  } catch (error) {
    throw new BackendError("tensorflow", `${name} failed to load: ${(error as Error).message}`);
  }
  if (!(await tf.setBackend("tensorflow"))) {
    throw new BackendError(
      "tensorflow",
      `${name} loaded but registered no backend with this tfjs-core (version mismatch?)`,
    );
  }
  return {
    backend: "tensorflow",
    threads: defaultThreads(),
    versions: { ...baseVersions(), [name]: binding.version?.["tfjs-node"] ?? "unknown" },
    adapter: name,
  };
}

async function useAuto(threads: number): Promise<EngineInfo> {
  const tensorflowPackage = await installedTensorflowPackage();
  if (tensorflowPackage === "@tensorflow/tfjs-node-gpu" && (await nvidiaDriverVersion()) != null) {
    try {
      return await useTensorflow();
    } catch {
      // fall through to the next choice
    }
  }
  const gpu = await probeWebGpuAdapter();
  let skipped: string | undefined;
  if (gpu != null && !gpu.software) {
    try {
      return await useWebGpu(gpu);
    } catch (error) {
      skipped = (error as Error).message;
    }
  } else {
    const environment = await gpuEnvironment();
    // auto quietly uses the CPU on a machine without a GPU, but says so where one is installed.
    if (environment.nvidiaDriver != null) {
      skipped = webGpuFix(environment, gpu ? adapterSummary(gpu) : undefined);
    }
  }
  const cpu = await useWasm(loadBlas() != null ? "blas" : "wasm", threads);
  return skipped
    ? { ...cpu, warning: `auto: GPU not used (${skipped}); using ${cpu.backend}` }
    : cpu;
}

/**
 * Sets up TensorFlow.js on the requested backend (default `auto`) with peftlab's kernels and
 * returns what is in use. May be called again to switch backends. Throws {@link BackendError} when
 * an explicitly requested backend is unavailable; `auto` always succeeds (wasm is the floor).
 * `webgpu` asked for by name fails with the fix (driver, Vulkan ICD, container capability) when
 * there is no adapter, or only a software one on a machine with an NVIDIA driver; elsewhere it
 * accepts a software adapter (for tests) and says so in `warning` and `gpu.software`. `auto` never
 * picks a software adapter and sets `warning` when it leaves an installed GPU unused.
 */
export async function initEngine(opts: EngineOptions = {}): Promise<EngineInfo> {
  const backend = opts.backend ?? "auto";
  const threads = opts.threads ?? defaultThreads();
  if (!backendNames.includes(backend)) {
    throw new BackendError(backend, `unknown backend; choose one of ${backendNames.join(", ")}`);
  }
  if (!(threads >= 1 && Number.isInteger(threads))) {
    throw new BackendError(backend, `threads must be a positive integer, got ${threads}`);
  }
  installMemoryFreeingGradients();
  switch (backend) {
    case "cpu":
      return await useCpu();
    case "wasm":
    case "blas":
      return await useWasm(backend, threads);
    case "webgpu":
      return await useWebGpu(await probeWebGpuAdapter());
    case "tensorflow":
      return await useTensorflow();
    case "auto":
      return await useAuto(threads);
  }
}
