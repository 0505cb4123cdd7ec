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

/** Backends a user can ask for; `auto` picks the fastest one available. */
export type BackendName = "auto" | "blas" | "wasm" | "cpu" | "webgpu" | "tensorflow";

/** Every accepted backend name, for validating user input. */
export const backendNames: readonly BackendName[] = [
  "auto",
  "blas",
  "wasm",
  "cpu",
  "webgpu",
  "tensorflow",
];

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

/** Names of software (CPU-emulated) GPU adapters that must never count as a GPU. */
const softwareAdapterPattern = /llvmpipe|lavapipe|swiftshader|softpipe|software|microsoft basic/i;

/** What {@link probeWebGpuAdapter} learned about the WebGPU adapter. */
export interface AdapterFacts {
  /** Vendor, architecture, device and description joined, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** True for CPU-emulated adapters (llvmpipe, lavapipe, SwiftShader, fallback adapters). */
  software: boolean;
}

/** Asks for a WebGPU adapter; `null` when the runtime has none. */
export async function probeWebGpuAdapter(): Promise<AdapterFacts | null> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (gpu == null) return null;
  let adapter: {
    info?: Record<string, string>;
    isFallbackAdapter?: boolean;
  } | null;
  try {
    adapter = await gpu.requestAdapter() as typeof adapter;
  } catch {
    return null;
  }
  if (adapter == null) return null;
  const info = adapter.info ?? {};
  const description = [info.vendor, info.architecture, info.device, info.description]
    .filter((part) => part).join(" ").trim() || "unknown adapter";
  const software = Boolean(adapter.isFallbackAdapter) || softwareAdapterPattern.test(description);
  return { description, software };
}

async function useWebGpu(allowSoftware: boolean): Promise<EngineInfo> {
  const adapter = await probeWebGpuAdapter();
  if (adapter == null) {
    throw new BackendError(
      "webgpu",
      "no WebGPU adapter (needs a GPU driver; on Linux without a GPU `apt-get install " +
        "mesa-vulkan-drivers` gives a software adapter for testing)",
    );
  }
  if (adapter.software && !allowSoftware) {
    throw new BackendError("webgpu", `only a software adapter is present (${adapter.description})`);
  }
  await import("@tensorflow/tfjs-backend-webgpu");
  if (!(await tf.setBackend("webgpu"))) {
    throw new BackendError("webgpu", `tfjs could not start on ${adapter.description}`);
  }
  return {
    backend: "webgpu",
    threads: 1,
    versions: baseVersions(),
    adapter: adapter.description + (adapter.software ? " (software)" : ""),
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

/** True when an NVIDIA GPU is visible to the process (driver loaded). */
async function cudaVisible(): Promise<boolean> {
  try {
    await Deno.stat("/proc/driver/nvidia/version");
    return true;
  } catch {
    return false;
  }
}

async function useAuto(threads: number): Promise<EngineInfo> {
  const tensorflowPackage = await installedTensorflowPackage();
  if (tensorflowPackage === "@tensorflow/tfjs-node-gpu" && await cudaVisible()) {
    try {
      return await useTensorflow();
    } catch {
      // fall through to the next choice
    }
  }
  const adapter = await probeWebGpuAdapter();
  if (adapter != null && !adapter.software) {
    try {
      return await useWebGpu(false);
    } catch {
      // fall through
    }
  }
  if (loadBlas() != null) return await useWasm("blas", threads);
  return await useWasm("wasm", threads);
}

/**
 * Sets up TensorFlow.js on the requested backend (default `auto`) with peftlab's kernels and
 * returns what is in use. May be called again to switch backends. Throws {@link BackendError} when
 * an explicitly requested backend is unavailable; `auto` always succeeds (wasm is the floor).
 * `webgpu` asked for by name accepts a software adapter (for tests); `auto` never picks one.
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
      return await useWebGpu(true);
    case "tensorflow":
      return await useTensorflow();
    case "auto":
      return await useAuto(threads);
  }
}
