import { join } from "node:path";
import { gpuEnvironmentPaths, gpuEnvironmentVariables } from "../engine/gpu_adapter.ts";
import { isFileSync } from "../util/fs.ts";

/** What a sandboxed stage process may touch. */
export interface SandboxOptions {
  /** Project root (the process's working directory). */
  root: string;
  /** Absolute path of the job file the worker reads. */
  jobFile: string;
  /** The only writable folder. */
  outDir: string;
  /** A second writable folder for resumable checkpoints, if the stage has one. */
  checkpointDir?: string;
  /** Files and folders the stage may read: its code, deps and upstream output folders. */
  readPaths: string[];
}

/**
 * Environment variables a stage may read, passed through from the engine's environment when set
 * (the engine's BLAS library override, and what the GPU stack reads: Vulkan driver lists, NVIDIA
 * and CUDA settings). Everything else in the environment is invisible.
 */
export const STAGE_ENV_VARIABLES = ["PEFTLAB_BLAS", ...gpuEnvironmentVariables];

/** System information a stage may query (thread and memory sizing); nothing identifying. */
export const STAGE_SYS_INFO = ["cpus", "systemMemoryInfo", "osRelease"];

/** Absolute path of the stage worker module. */
export const WORKER_PATH = new URL("./stage_worker.ts", import.meta.url).pathname;

/** Deno's module cache folder, which a stage process must read to load npm packages. */
export function denoCacheDir(): string {
  const fromEnv = Deno.env.get("DENO_DIR");
  if (fromEnv) return fromEnv;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "deno");
  return join(Deno.env.get("HOME") ?? "/root", ".cache", "deno");
}

/**
 * argv of a sandboxed stage process: reads limited to the worker, the project's code, config and
 * node_modules, Deno's cache and `readPaths`; writes only to `outDir`; FFI allowed (the engine may
 * load OpenBLAS); no network or subprocesses; only {@linkcode STAGE_ENV_VARIABLES} of the
 * environment and {@linkcode STAGE_SYS_INFO} of the system.
 */
export function sandboxCommand(options: SandboxOptions): string[] {
  const { root } = options;
  const reads = [
    WORKER_PATH,
    join(WORKER_PATH, "..", "protocol.ts"),
    options.jobFile,
    options.outDir,
    ...(options.checkpointDir ? [options.checkpointDir] : []),
    join(root, "deno.json"),
    join(root, "deno.lock"),
    join(root, "node_modules"),
    denoCacheDir(),
    ...gpuEnvironmentPaths, // so a stage can say why it found no GPU
    ...options.readPaths,
  ];
  const flags = [
    "run",
    "--quiet",
    "--no-prompt",
    "--unstable-ffi",
    "--allow-ffi",
    `--allow-read=${[...new Set(reads)].join(",")}`,
    `--allow-write=${[options.outDir, options.checkpointDir].filter(Boolean).join(",")}`,
    `--allow-env=${STAGE_ENV_VARIABLES.join(",")}`,
    `--allow-sys=${STAGE_SYS_INFO.join(",")}`,
  ];
  if (isFileSync(join(root, "deno.json"))) flags.push(`--config=${join(root, "deno.json")}`);
  else flags.push("--no-config");
  return [Deno.execPath(), ...flags, WORKER_PATH, options.jobFile];
}

/** The whole environment of a stage process: just enough for Deno to find its cache. */
export function sandboxEnv(): Record<string, string> {
  const env: Record<string, string> = { DENO_DIR: denoCacheDir(), NO_COLOR: "1" };
  const path = Deno.env.get("PATH");
  if (path) env.PATH = path;
  const home = Deno.env.get("HOME");
  if (home) env.HOME = home;
  for (const name of STAGE_ENV_VARIABLES) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}
