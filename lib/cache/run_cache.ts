/**
 * The run cache: every successful run's lock entry kept by its stage key, so a stage whose inputs
 * come back to an earlier state (a param switched back) is restored instead of recomputed.
 *
 * @module
 */
import { dirname, join } from "node:path";
import type { LockEntry } from "./lockfile.ts";
import { hasOutput } from "./store.ts";
import { writeTextFileAtomic } from "../util/fs.ts";

/** Where the run cache keeps the lock entry of the run with stage key `key`. */
export function runCachePath(cacheDir: string, key: string): string {
  return join(cacheDir, "runs", key.slice(0, 2), `${key}.json`);
}

/** Remember a finished run by its key (atomically), so the same inputs never need computing again. */
export async function saveRunCache(cacheDir: string, entry: LockEntry): Promise<void> {
  const path = runCachePath(cacheDir, entry.key);
  await Deno.mkdir(dirname(path), { recursive: true });
  await writeTextFileAtomic(path, JSON.stringify(entry));
}

/**
 * The run cached under stage key `key` whose output is still stored, or undefined (none, or
 * unreadable).
 */
export function cachedRun(cacheDir: string, key: string): LockEntry | undefined {
  try {
    const entry = JSON.parse(Deno.readTextFileSync(runCachePath(cacheDir, key))) as LockEntry;
    return entry.key === key && hasOutput(cacheDir, entry.output) ? entry : undefined;
  } catch {
    return undefined;
  }
}
