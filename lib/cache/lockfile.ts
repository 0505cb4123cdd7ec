import { writeTextFileAtomic } from "../util/fs.ts";

/** A metric value a stage may report (and the lock records). */
export type MetricValue = number | string | boolean | number[];

/** What the lock file records for one stage after it succeeded. */
export interface LockEntry {
  /** SHA-256 over code, params, deps and upstream outputs: the stage is fresh when it matches. */
  key: string;
  /** Stage module, project-relative. */
  uses: string;
  /** Code files (stage module and its local imports) → SHA-256, and pinned packages. */
  code: { files: Record<string, string>; packages: string[] };
  /** Resolved params the stage ran with. */
  params: Record<string, unknown>;
  /** Dependency file (project-relative) → SHA-256. */
  deps: Record<string, string>;
  /** Upstream stage name → the output hash it ran on. */
  upstream: Record<string, string>;
  /** Content hash of the stage's output folder (under `artifacts/outputs/`). */
  output: string;
  /** Each file of the output folder → SHA-256, so a damaged file is named and rebuilt. */
  output_files?: Record<string, string>;
  /** Wall-clock seconds the stage took. */
  duration_s: number;
  /** Metrics the stage returned. */
  metrics: Record<string, MetricValue>;
  /** When it finished (ISO 8601). */
  finished_at: string;
}

/** The whole lock file (`pipeline.lock`, JSON). */
export interface LockFile {
  version: 1;
  stages: Record<string, LockEntry>;
}

/** Read a lock file; a missing file gives an empty lock. Throws `SyntaxError` for a corrupt one. */
export async function readLock(path: string): Promise<LockFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { version: 1, stages: {} };
    throw error;
  }
  const data = JSON.parse(text);
  return { version: 1, stages: data?.stages ?? {} };
}

/** Write a lock file atomically (temp file + rename), stages in the given order. */
export async function writeLock(path: string, lock: LockFile, order?: string[]): Promise<void> {
  const names = order
    ? [
      ...order.filter((name) => name in lock.stages),
      ...Object.keys(lock.stages).filter((name) => !order.includes(name)),
    ]
    : Object.keys(lock.stages);
  const stages = Object.fromEntries(names.map((name) => [name, lock.stages[name]]));
  await writeTextFileAtomic(path, JSON.stringify({ version: 1, stages }, null, 2) + "\n");
}
