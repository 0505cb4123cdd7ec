/**
 * File-system helpers shared across folders.
 *
 * @module
 */

/** Whether anything (file, directory, link target) exists at `path`; false on any stat error. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
