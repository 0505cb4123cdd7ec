/**
 * The Hugging Face Hub cache layout, exactly as huggingface_hub writes it, so that files either
 * tool downloaded serve the other:
 *
 *     $HF_HUB_CACHE/models--org--name/
 *       blobs/<etag>                       file contents, named by the Hub's ETag
 *       blobs/<etag>.incomplete            a download in progress (resumed with Range)
 *       refs/<revision>                    the commit a branch or tag pointed to (text)
 *       snapshots/<commit>/<file>          relative symlink → ../../blobs/<etag>
 *       .no_exist/<commit>/<file>          empty marker: the file is not in that commit
 *     $HF_HUB_CACHE/.locks/models--org--name/<etag>.lock
 *
 * @module
 */

import { dirname, join, relative } from "node:path";
import { writeTextFileAtomic } from "../util/fs.ts";
import { COMMIT_HASH } from "./ref.ts";

/** Paths of one repository's folder in the cache. */
export class RepoCache {
  /** `models--org--name` inside the cache root. */
  readonly root: string;
  /** Folder of the download locks for this repository. */
  readonly locksDir: string;

  /** The cache folder of model repository `repoId` under cache root `cacheDir`. */
  constructor(readonly cacheDir: string, readonly repoId: string) {
    this.root = join(cacheDir, repoFolderName(repoId));
    this.locksDir = join(cacheDir, ".locks", repoFolderName(repoId));
  }

  /** `blobs/`. */
  get blobsDir(): string {
    return join(this.root, "blobs");
  }

  /** `blobs/<etag>`. */
  blobPath(etag: string): string {
    return join(this.blobsDir, etag);
  }

  /** `snapshots/<commit>`: the folder a resolved model is loaded from. */
  snapshotDir(commit: string): string {
    return join(this.root, "snapshots", commit);
  }

  /** `snapshots/<commit>/<file>` (`file` may contain `/`). */
  pointerPath(commit: string, file: string): string {
    return join(this.snapshotDir(commit), ...file.split("/"));
  }

  /** `.no_exist/<commit>/<file>`. */
  noExistPath(commit: string, file: string): string {
    return join(this.root, ".no_exist", commit, ...file.split("/"));
  }

  /**
   * The commit `revision` stands for in the cache: itself when it is a commit hash, else the
   * content of `refs/<revision>`; undefined when the ref was never recorded.
   */
  async commitOf(revision: string): Promise<string | undefined> {
    if (COMMIT_HASH.test(revision)) return revision;
    try {
      const commit = (await Deno.readTextFile(join(this.root, "refs", revision))).trim();
      return COMMIT_HASH.test(commit) ? commit : undefined;
    } catch {
      return undefined;
    }
  }

  /** Records that `revision` points at `commit` (nothing to record when it is the commit). */
  async recordRef(revision: string, commit: string): Promise<void> {
    if (revision === commit) return;
    if ((await this.commitOf(revision)) === commit) return;
    const path = join(this.root, "refs", revision);
    await Deno.mkdir(dirname(path), { recursive: true });
    await writeTextFileAtomic(path, commit);
  }

  /** Records that `file` does not exist at `commit`, as huggingface_hub does. */
  async recordMissing(commit: string, file: string): Promise<void> {
    const path = this.noExistPath(commit, file);
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeFile(path, new Uint8Array());
  }

  /**
   * Points `snapshots/<commit>/<file>` at `blobs/<etag>` with a relative symlink (created under
   * a temporary name and renamed into place); copies the blob instead where the file system
   * has no symlinks, as huggingface_hub does.
   */
  async linkSnapshotFile(commit: string, file: string, etag: string): Promise<void> {
    const pointer = this.pointerPath(commit, file);
    const blob = this.blobPath(etag);
    await Deno.mkdir(dirname(pointer), { recursive: true });
    const temporary = `${pointer}.${crypto.randomUUID()}.tmp`;
    try {
      await Deno.symlink(relative(dirname(pointer), blob), temporary);
    } catch {
      await Deno.copyFile(blob, temporary);
    }
    await Deno.rename(temporary, pointer);
  }
}

/** huggingface_hub's `repo_folder_name` for a model: `models--org--name`. */
export function repoFolderName(repoId: string): string {
  return ["models", ...repoId.split("/")].join("--");
}

/**
 * Runs `work` holding an exclusive lock on `<locksDir>/<name>.lock` (an OS file lock, as
 * huggingface_hub's FileLock takes), so two processes never download the same blob at once.
 */
export async function withFileLock<T>(
  locksDir: string,
  name: string,
  work: () => Promise<T>,
): Promise<T> {
  await Deno.mkdir(locksDir, { recursive: true });
  const file = await Deno.open(join(locksDir, `${name}.lock`), { create: true, write: true });
  try {
    await file.lock(true);
    return await work();
  } finally {
    file.close();
  }
}
