import { join, relative } from "node:path";
import { hashFileContent, sha256Hex } from "./hash.ts";
import type { StatCache } from "./stat_cache.ts";
import { exists } from "../util/fs.ts";

/** Folder (inside the cache) holding content-addressed stage outputs. */
export const OUTPUTS_FOLDER = "outputs";

/** Every file under `dir`, as sorted paths relative to `dir` (symlinks are not followed). */
export async function listFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  const walk = async (current: string) => {
    for await (const entry of Deno.readDir(current)) {
      const path = join(current, entry.name);
      if (entry.isDirectory) await walk(path);
      else files.push(relative(dir, path));
    }
  };
  await walk(dir);
  return files.sort();
}

/**
 * Content hash of a folder: SHA-256 over each file's relative path and content hash (so renames
 * change it, timestamps do not). Uses `stats` when given to skip rereading unchanged files.
 */
export async function hashTree(dir: string, stats?: StatCache): Promise<string> {
  const lines: string[] = [];
  for (const file of await listFiles(dir)) {
    const path = join(dir, file);
    const hash = stats ? await stats.hashFile(path) : await hashFileContent(path);
    lines.push(`${file}\0${hash}`);
  }
  return sha256Hex(lines.join("\n"));
}

/** Where the output with content hash `hash` lives in the cache. */
export function outputPath(cacheDir: string, hash: string): string {
  return join(cacheDir, OUTPUTS_FOLDER, hash);
}

/**
 * Move a finished stage's temporary output folder into the content-addressed store with one
 * rename and make its files read-only; returns its content hash. When an identical output is
 * already stored, the temporary folder is removed instead. A crash before the rename leaves
 * nothing visible in the store.
 */
export async function commitOutput(cacheDir: string, tempOutDir: string): Promise<string> {
  const hash = await hashTree(tempOutDir);
  const target = outputPath(cacheDir, hash);
  await Deno.mkdir(join(cacheDir, OUTPUTS_FOLDER), { recursive: true });
  for (const file of await listFiles(tempOutDir)) await Deno.chmod(join(tempOutDir, file), 0o444);
  try {
    await Deno.rename(tempOutDir, target);
  } catch (error) {
    // Same content already stored (rename onto a non-empty folder fails): keep the stored copy.
    if (await exists(target)) await Deno.remove(tempOutDir, { recursive: true });
    else throw error;
  }
  return hash;
}

/** Whether the stored output `hash` exists in the cache. */
export function hasOutput(cacheDir: string, hash: string): boolean {
  try {
    return Deno.statSync(outputPath(cacheDir, hash)).isDirectory;
  } catch {
    return false;
  }
}
