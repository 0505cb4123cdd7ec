/**
 * Runs the smoke pipeline (pipelines/smoke.yaml) on one backend in a scratch workspace of its
 * own, as a user would (`deno task pipeline --file … --set settings.backend=… --set
 * settings.cache=…`), and returns its lock file. The workspace is a `.smoke-<backend>-*.tmp`
 * folder in the project root (git ignores `*.tmp`), so the repository's own lock and cache are
 * never touched.
 *
 * @module
 */
import { join, relative } from "node:path";
import type { LockFile } from "../lib/cache/mod.ts";

/** The repository root (this file lives in `scripts/`). */
export const projectRoot = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

/** What one smoke pipeline run gave. */
export interface SmokeRun {
  /** The backend asked for (`settings.backend`). */
  backend: string;
  /** The CLI exited 0 before the deadline. */
  ok: boolean;
  /** The CLI's exit code (null when it was killed at the deadline). */
  exitCode: number | null;
  /** True when the deadline passed and the run was killed. */
  timedOut: boolean;
  /** Wall seconds, Deno's start-up included. */
  seconds: number;
  /** The lock file the run wrote (stages that finished), when there is one. */
  lock?: LockFile;
  /** The last lines of the CLI's stdout and stderr. */
  outputTail: string;
  /** The workspace, when it was kept (a failed run keeps its logs there). */
  keptIn?: string;
}

/** Options of {@link runSmokePipeline}. */
export interface SmokeRunOptions {
  /** Kill the run after this long (default: no limit). */
  timeoutMs?: number;
  /** Keep the workspace even when the run succeeds. */
  keep?: boolean;
}

/** Characters of CLI output kept in {@link SmokeRun.outputTail}. */
const outputTailChars = 4000;
/** Time between SIGTERM and SIGKILL when a run passes its deadline. */
const killGraceMs = 5000;

/** Removes a folder whose stage outputs the cache made read-only. */
export async function removeWorkspace(dir: string): Promise<void> {
  await new Deno.Command("chmod", { args: ["-R", "u+w", dir], stderr: "null" }).output();
  await Deno.remove(dir, { recursive: true });
}

/**
 * The command line that runs `script` (relative to the project root) with this Deno, offline
 * (`--cached-only`: the dependencies CI installed) and with every permission the engine needs.
 */
export function denoRun(script: string): string[] {
  return [Deno.execPath(), "run", "--cached-only", "--allow-all", "--unstable-ffi", script];
}

/**
 * Runs a command in its own process group and kills the whole group (SIGTERM, then SIGKILL) when
 * `timeoutMs` passes. Returns the exit code (null when killed), the combined output and the time.
 */
export async function runGroup(
  args: string[],
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<{ exitCode: number | null; timedOut: boolean; output: string; seconds: number }> {
  const start = performance.now();
  const child = new Deno.Command(args[0], {
    args: args.slice(1),
    cwd: projectRoot,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
    detached: true,
  }).spawn();
  let timedOut = false;
  const killGroup = (signal: Deno.Signal) => {
    try {
      Deno.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    killGroup("SIGTERM");
    graceTimer = setTimeout(() => killGroup("SIGKILL"), killGraceMs);
  }, options.timeoutMs);
  const result = await child.output();
  clearTimeout(timer);
  clearTimeout(graceTimer);
  if (timedOut) killGroup("SIGKILL"); // stage processes the CLI left behind
  const decoder = new TextDecoder();
  return {
    exitCode: timedOut ? null : result.code,
    timedOut,
    output: decoder.decode(result.stdout) + decoder.decode(result.stderr),
    seconds: (performance.now() - start) / 1000,
  };
}

/**
 * Runs pipelines/smoke.yaml on `backend` in a fresh workspace and returns what happened; never
 * throws for a failed run (the caller reads `ok`). The workspace is removed after a successful
 * run unless `keep` is set; a failed run keeps it for its stage logs (`keptIn`).
 */
export async function runSmokePipeline(
  backend: string,
  options: SmokeRunOptions = {},
): Promise<SmokeRun> {
  const workspace = await Deno.makeTempDir({
    dir: projectRoot,
    prefix: `.smoke-${backend}-`,
    suffix: ".tmp",
  });
  const pipelineFile = join(workspace, "smoke.yaml");
  await Deno.copyFile(join(projectRoot, "pipelines", "smoke.yaml"), pipelineFile);
  const run = await runGroup([
    ...denoRun("cli/pipeline.ts"),
    "--file",
    relative(projectRoot, pipelineFile),
    "--set",
    `settings.backend=${backend}`,
    "--set",
    `settings.cache=${relative(projectRoot, join(workspace, "cache"))}`,
  ], { timeoutMs: options.timeoutMs });
  let lock: LockFile | undefined;
  try {
    lock = JSON.parse(await Deno.readTextFile(join(workspace, "smoke.lock")));
  } catch {
    // no stage finished
  }
  const ok = run.exitCode === 0;
  const keep = options.keep || !ok;
  if (!keep) await removeWorkspace(workspace);
  return {
    backend,
    ok,
    exitCode: run.exitCode,
    timedOut: run.timedOut,
    seconds: Math.round(run.seconds * 10) / 10,
    ...(lock ? { lock } : {}),
    outputTail: run.output.slice(-outputTailChars),
    ...(keep ? { keptIn: workspace } : {}),
  };
}
