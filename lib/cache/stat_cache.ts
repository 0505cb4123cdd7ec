import { dirname } from "node:path";
import { hashFileContent } from "./hash.ts";
import { writeTextFileAtomic } from "../util/fs.ts";

/** What the stat cache remembers about one file. */
interface StatEntry {
  size: number;
  mtimeMs: number;
  ino: number;
  hash: string;
  /** Import specifiers of a code file (filled by the code hasher). */
  imports?: string[];
}

const STAT_CACHE_VERSION = 1;

/** What says a file is unchanged: its size, mtime and inode. */
function identity(stat: Deno.FileInfo): Pick<StatEntry, "size" | "mtimeMs" | "ino"> {
  return { size: stat.size, mtimeMs: stat.mtime?.getTime() ?? 0, ino: stat.ino ?? 0 };
}

/**
 * File hashes remembered by (path, size, mtime, inode), so unchanged files are never reread. Load
 * with {@linkcode StatCache.load}, save with {@linkcode StatCache.save} (only writes when
 * something changed).
 */
export class StatCache {
  #entries: Map<string, StatEntry>;
  #dirty = false;
  /** Number of files hashed (read) through this cache since it was loaded. */
  hashedFiles = 0;

  private constructor(readonly path: string, entries: Map<string, StatEntry>) {
    this.#entries = entries;
  }

  /** Load the cache file at `path`; a missing or unreadable file gives an empty cache. */
  static async load(path: string): Promise<StatCache> {
    try {
      const data = JSON.parse(await Deno.readTextFile(path));
      if (data?.version === STAT_CACHE_VERSION && data.files) {
        return new StatCache(path, new Map(Object.entries(data.files)));
      }
    } catch { /* start empty */ }
    return new StatCache(path, new Map());
  }

  /**
   * The stat-matching entry of `path`, hashing the file when it is new or changed. Throws
   * `Deno.errors.NotFound` when the file is missing.
   */
  async entry(path: string): Promise<StatEntry> {
    const seen = identity(await Deno.stat(path));
    const known = this.#entries.get(path);
    if (
      known && known.size === seen.size && known.mtimeMs === seen.mtimeMs && known.ino === seen.ino
    ) {
      return known;
    }
    const entry: StatEntry = { ...seen, hash: await hashFileContent(path) };
    this.hashedFiles++;
    this.#entries.set(path, entry);
    this.#dirty = true;
    return entry;
  }

  /** SHA-256 of the file at `path` (cached by stat). Throws `Deno.errors.NotFound` if missing. */
  async hashFile(path: string): Promise<string> {
    return (await this.entry(path)).hash;
  }

  /**
   * Remember `hash` as the content hash of the file at `path` as it is now (its writer just
   * hashed it), so that it is not reread while its size, mtime and inode stay the same.
   */
  async remember(path: string, hash: string): Promise<void> {
    this.#entries.set(path, { ...identity(await Deno.stat(path)), hash });
    this.#dirty = true;
  }

  /** Remember the import specifiers of a code file (already hashed with {@linkcode entry}). */
  setImports(path: string, imports: string[]): void {
    const entry = this.#entries.get(path);
    if (entry) {
      entry.imports = imports;
      this.#dirty = true;
    }
  }

  /** Write the cache (atomically) if anything changed since loading. */
  async save(): Promise<void> {
    if (!this.#dirty) return;
    await Deno.mkdir(dirname(this.path), { recursive: true });
    const files = Object.fromEntries(this.#entries);
    await writeTextFileAtomic(this.path, JSON.stringify({ version: STAT_CACHE_VERSION, files }));
    this.#dirty = false;
  }
}
