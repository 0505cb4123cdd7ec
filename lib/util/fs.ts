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

/**
 * Writes `text` to `path` atomically: into a temporary file beside it, then renamed over it, so
 * a reader sees the old content or the new one, never a part. Throws what Deno's file calls
 * throw (the temporary file is removed on failure).
 */
export async function writeTextFileAtomic(path: string, text: string): Promise<void> {
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(temporary, text);
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

/** Whether `path` is a regular file (links followed); false on any stat error. */
export function isFileSync(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
