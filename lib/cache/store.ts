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
  return manifestHash(await treeManifest(dir, stats));
}

/**
 * Every file under `dir` (relative path, sorted) with its content hash: what the lock records of
 * an output so a damaged file can be named. Uses `stats` when given.
 */
export async function treeManifest(
  dir: string,
  stats?: StatCache,
): Promise<Record<string, string>> {
  const manifest: Record<string, string> = {};
  for (const file of await listFiles(dir)) {
    const path = join(dir, file);
    manifest[file] = stats ? await stats.hashFile(path) : await hashFileContent(path);
  }
  return manifest;
}

/** The folder hash of a manifest, as {@linkcode hashTree} computes it. */
export function manifestHash(manifest: Record<string, string>): string {
  return sha256Hex(
    Object.keys(manifest).sort().map((file) => `${file}\0${manifest[file]}`).join("\n"),
  );
}

/**
 * What is wrong with the stored output `hash` compared with the manifest the lock recorded
 * (`output <file> changed|missing|added`), or with its own name when no manifest was recorded
 * (`output changed in the cache`); `output missing from cache` when the folder is gone. Empty
 * when intact. Unchanged files cost one stat each through `stats`.
 */
export async function outputProblems(
  cacheDir: string,
  hash: string,
  recorded: Record<string, string> | undefined,
  stats: StatCache,
): Promise<string[]> {
  if (!hasOutput(cacheDir, hash)) return ["output missing from cache"];
  const current = await treeManifest(outputPath(cacheDir, hash), stats);
  if (!recorded) return manifestHash(current) === hash ? [] : ["output changed in the cache"];
  const problems: string[] = [];
  for (const [file, sha] of Object.entries(recorded)) {
    if (!(file in current)) problems.push(`output ${file} missing`);
    else if (current[file] !== sha) problems.push(`output ${file} changed`);
  }
  for (const file of Object.keys(current)) {
    if (!(file in recorded)) problems.push(`output ${file} added`);
  }
  return problems;
}

/** Where the output with content hash `hash` lives in the cache. */
export function outputPath(cacheDir: string, hash: string): string {
  return join(cacheDir, OUTPUTS_FOLDER, hash);
}

/** A stage output as committed to the store: its content hash and its files' hashes. */
export interface CommittedOutput {
  hash: string;
  /** Relative path → SHA-256 of every file, as the lock records it. */
  files: Record<string, string>;
}

/**
 * Move a finished stage's temporary output folder into the content-addressed store with one
 * rename and make its files read-only; returns its content hash and file hashes, each file read
 * once. With `stats`, the stored files' hashes are remembered so the next check rereads none.
 * When the same output is already stored, the temporary folder is removed, unless the stored
 * copy was damaged since, in which case the new folder replaces it. A crash before the rename
 * leaves nothing visible in the store.
 */
export async function commitOutput(
  cacheDir: string,
  tempOutDir: string,
  stats?: StatCache,
): Promise<CommittedOutput> {
  const files = await treeManifest(tempOutDir);
  const hash = manifestHash(files);
  const target = outputPath(cacheDir, hash);
  await Deno.mkdir(join(cacheDir, OUTPUTS_FOLDER), { recursive: true });
  for (const file of Object.keys(files)) await Deno.chmod(join(tempOutDir, file), 0o444);
  try {
    await Deno.rename(tempOutDir, target);
  } catch (error) {
    // Rename onto a non-empty folder fails: the same content is stored already.
    if (!(await exists(target))) throw error;
    if (manifestHash(await treeManifest(target, stats)) === hash) {
      await Deno.remove(tempOutDir, { recursive: true });
    } else {
      const damaged = `${target}.damaged-${Deno.pid}`;
      await Deno.rename(target, damaged);
      await Deno.rename(tempOutDir, target);
      await Deno.remove(damaged, { recursive: true });
    }
  }
  if (stats) {
    for (const [file, sha] of Object.entries(files)) await stats.remember(join(target, file), sha);
  }
  return { hash, files };
}

/** Whether the stored output `hash` exists in the cache. */
export function hasOutput(cacheDir: string, hash: string): boolean {
  try {
    return Deno.statSync(outputPath(cacheDir, hash)).isDirectory;
  } catch {
    return false;
  }
}
