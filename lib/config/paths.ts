/**
 * Paths as a user writes them in a pipeline file: relative to the project root, absolute, or
 * `~/…` under the home folder (data on a shared disk, checkpoints in `~/models`).
 *
 * @module
 */
import { isAbsolute, join, resolve } from "node:path";

/** Whether `path` is written relative to the home folder (`~` or `~/…`). */
export function isHomePath(path: string): boolean {
  return path === "~" || path.startsWith("~/");
}

/** `~/x` → `<home>/x`; any other path unchanged. */
export function expandHome(path: string, home: string | undefined): string {
  if (!isHomePath(path)) return path;
  if (!home) throw new Deno.errors.NotFound(`${path}: no home folder to expand ~ (HOME is unset)`);
  return join(home, path.slice(1));
}

/** Whether `path` (as written) names a place outside the project root: absolute, `~/…` or `../…`. */
export function isOutsideProject(path: string): boolean {
  return isAbsolute(path) || isHomePath(path) || path === ".." || path.startsWith("../");
}

/**
 * The absolute path of `path` as written in a pipeline file: `~/…` under `home`, a relative
 * path under `root`, an absolute one as it is.
 */
export function resolveWrittenPath(root: string, path: string, home: string | undefined): string {
  return resolve(root, expandHome(path, home));
}

/** `HOME` when the process may read it, else undefined. */
export function homeFolder(): string | undefined {
  try {
    return Deno.env.get("HOME") || undefined;
  } catch {
    return undefined;
  }
}
