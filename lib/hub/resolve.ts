/**
 * Resolves `hf:org/name[@revision]` to a local snapshot folder holding a GPT-2 checkpoint
 * (config.json, model.safetensors) and whichever tokenizer files the repository has, fetching
 * what the Hub cache lacks, as `transformers`' `from_pretrained` would with huggingface_hub.
 *
 * @module
 */

import { HubError } from "./errors.ts";
import { type FileMetadata, HubClient, HubUnreachable } from "./http.ts";
import { RepoCache, withFileLock } from "./cache.ts";
import { consoleProgress, type ProgressSink } from "./progress.ts";
import { COMMIT_HASH, type HubRef, parseHubRef } from "./ref.ts";
import { type HubSettings, hubSettingsFromEnv } from "./settings.ts";
import { exists } from "../util/fs.ts";

/** Repository files a model needs; resolution fails without them. */
export const REQUIRED_MODEL_FILES = ["config.json", "model.safetensors"] as const;
/** Tokenizer files fetched when the repository has them (tokenizer.json and/or vocab + merges). */
export const OPTIONAL_MODEL_FILES = ["tokenizer.json", "vocab.json", "merges.txt"] as const;

/** A Hub reference resolved to local files. */
export interface ResolvedModel {
  /** The reference as written. */
  ref: string;
  /** `org/name`. */
  repoId: string;
  /** The revision asked for (`main` by default). */
  revision: string;
  /** The 40-hex commit the revision resolved to: what a lock file records. */
  commit: string;
  /** The snapshot folder (`…/models--org--name/snapshots/<commit>`) to load the model from. */
  dir: string;
  /**
   * The repository's cache folder (`…/models--org--name`): the snapshot's files are symlinks
   * into its `blobs/`, so a sandbox must grant read access to this folder, not just `dir`.
   */
  repoCacheDir: string;
  /** Repository files present in `dir`, sorted. */
  files: string[];
  /** Where the files came from: downloaded or checked against the Hub, or the cache alone. */
  source: "hub" | "cache";
}

/** Options of {@link resolveModel}. */
export interface ResolveOptions {
  /** Endpoint, cache, token and offline mode; default from the environment (HF_* variables). */
  settings?: HubSettings;
  /** Download progress; default a bar on a terminal, plain lines otherwise (stderr); false: none. */
  progress?: ProgressSink | false;
  /** Where warnings go (e.g. "Hub unreachable, using the cache"); default stderr. */
  warn?: (line: string) => void;
}

/**
 * Resolves a Hub reference to a snapshot folder in the Hub cache, downloading missing files.
 *
 * Online, every file is checked with a HEAD request (the revision is resolved once, then every
 * file is fetched at that commit) and downloaded when its blob is not cached; `refs/<revision>`
 * records the commit. With `HF_HUB_OFFLINE` set, or when the endpoint cannot be reached, the
 * revision is resolved through `refs/` and the snapshot is used as it is (a warning says so in
 * the second case). A commit-hash revision whose files are cached needs no network at all.
 *
 * Throws HubError: `bad-reference`, `repo-not-found` (404/401), `revision-not-found`,
 * `file-not-found` (config.json or model.safetensors missing), `not-cached` (offline and not
 * in the cache), `network`, `integrity`.
 */
export async function resolveModel(
  reference: string,
  opts: ResolveOptions = {},
): Promise<ResolvedModel> {
  const ref = parseHubRef(reference);
  const { text, revision } = ref;
  const settings = opts.settings ?? hubSettingsFromEnv();
  const warn = opts.warn ?? warnOnStderr;
  const cache = new RepoCache(settings.cacheDir, ref.repoId);
  const fromCache = async () => {
    const commit = await cache.commitOf(revision);
    return commit === undefined ? undefined : await cachedSnapshot(ref, commit, cache);
  };
  if (settings.offline) {
    const cached = await fromCache();
    if (cached) return cached;
    throw notCachedOffline(ref, settings);
  }
  if (COMMIT_HASH.test(revision)) {
    const cached = await fromCache();
    if (cached) return cached;
  }
  try {
    return await download(ref, settings, cache, opts.progress);
  } catch (error) {
    const cached = error instanceof HubUnreachable ? await fromCache() : undefined;
    if (cached === undefined) throw unreachable(ref, settings, error);
    warn(`${text}: ${(error as Error).message}; using the cached commit ${cached.commit}`);
    return cached;
  }
}

/**
 * The commit a Hub reference's revision stands for, without downloading anything: the
 * revision itself when it is a commit hash; else one HEAD request (of config.json) when
 * online, falling back to the cache's `refs/` when the Hub cannot be reached (with a warning)
 * or `HF_HUB_OFFLINE` is set. Meant for staleness checks (`status`, dry runs); use
 * {@link resolveModel} to get the files. Throws HubError like resolveModel.
 */
export async function resolveRevision(
  reference: string,
  opts: Omit<ResolveOptions, "progress"> = {},
): Promise<{ commit: string; source: "hub" | "cache" }> {
  const ref = parseHubRef(reference);
  if (COMMIT_HASH.test(ref.revision)) return { commit: ref.revision, source: "cache" };
  const settings = opts.settings ?? hubSettingsFromEnv();
  const cache = new RepoCache(settings.cacheDir, ref.repoId);
  const cached = await cache.commitOf(ref.revision);
  if (settings.offline) {
    if (cached !== undefined) return { commit: cached, source: "cache" };
    throw notCachedOffline(ref, settings);
  }
  try {
    const meta = await new HubClient(settings, ref.text).head(
      ref.repoId,
      ref.revision,
      "config.json",
    );
    if (meta.commit === undefined) {
      throw new HubError(ref.text, "network", "the Hub named no commit");
    }
    return { commit: meta.commit, source: "hub" };
  } catch (error) {
    if (!(error instanceof HubUnreachable) || cached === undefined) {
      throw unreachable(ref, settings, error);
    }
    (opts.warn ?? warnOnStderr)(`${ref.text}: ${error.message}; using the cached commit ${cached}`);
    return { commit: cached, source: "cache" };
  }
}

function warnOnStderr(line: string): void {
  console.error(line);
}

function notCachedOffline(ref: HubRef, settings: HubSettings): HubError {
  return new HubError(
    ref.text,
    "not-cached",
    `HF_HUB_OFFLINE is set and this revision is not in the Hub cache ${settings.cacheDir}; ` +
      `run once with the network, or point HF_HUB_CACHE at a cache that has it`,
  );
}

/** `error` itself, or for an unreachable Hub a HubError saying the cache cannot help either. */
function unreachable(ref: HubRef, settings: HubSettings, error: unknown): unknown {
  if (!(error instanceof HubUnreachable)) return error;
  return new HubError(
    ref.text,
    "network",
    `${error.message} and this revision is not in the Hub cache ${settings.cacheDir}`,
  );
}

const MODEL_FILES: readonly string[] = [...REQUIRED_MODEL_FILES, ...OPTIONAL_MODEL_FILES];
const isRequired = (file: string) => (REQUIRED_MODEL_FILES as readonly string[]).includes(file);

function resolved(
  ref: HubRef,
  commit: string,
  cache: RepoCache,
  files: string[],
  source: ResolvedModel["source"],
): ResolvedModel {
  const { text, repoId, revision } = ref;
  const dir = cache.snapshotDir(commit);
  const repoCacheDir = cache.root;
  return { ref: text, repoId, revision, commit, dir, repoCacheDir, files: files.sort(), source };
}

/** The cached snapshot of `commit` when it holds every required file; else undefined. */
async function cachedSnapshot(
  ref: HubRef,
  commit: string,
  cache: RepoCache,
): Promise<ResolvedModel | undefined> {
  const files: string[] = [];
  for (const file of MODEL_FILES) {
    // exists() follows the symlink, so a snapshot entry whose blob is gone does not count.
    if (await exists(cache.pointerPath(commit, file))) files.push(file);
    else if (isRequired(file)) return undefined;
  }
  return resolved(ref, commit, cache, files, "cache");
}

async function download(
  ref: HubRef,
  settings: HubSettings,
  cache: RepoCache,
  progressOption: ProgressSink | false | undefined,
): Promise<ResolvedModel> {
  const client = new HubClient(settings, ref.text);
  const progress = progressOption === false ? undefined : progressOption ?? consoleProgress();
  let commit: string | undefined;
  const files: string[] = [];
  for (const file of MODEL_FILES) {
    // The first answer fixes the commit; every other file comes from that same commit.
    const meta = await client.head(ref.repoId, commit ?? ref.revision, file);
    commit ??= meta.commit;
    if ("missing" in meta) {
      if (isRequired(file)) {
        throw new HubError(ref.text, "file-not-found", missingRequiredReason(file), file);
      }
      if (commit !== undefined) await cache.recordMissing(commit, file);
      continue;
    }
    await fetchFile(client, cache, meta.commit, file, meta, progress);
    files.push(file);
  }
  if (commit === undefined) throw new HubError(ref.text, "network", "the Hub named no commit");
  await cache.recordRef(ref.revision, commit);
  return resolved(ref, commit, cache, files, "hub");
}

function missingRequiredReason(file: string): string {
  return file === "model.safetensors"
    ? "not in the repository at this revision (peftlab reads safetensors weights only; a " +
      "checkpoint with only pytorch_model.bin must be converted first)"
    : "not in the repository at this revision";
}

/** Makes `snapshots/<commit>/<file>` point at its blob, downloading the blob when absent. */
async function fetchFile(
  client: HubClient,
  cache: RepoCache,
  commit: string,
  file: string,
  meta: FileMetadata,
  progress: ProgressSink | undefined,
): Promise<void> {
  if (await exists(cache.pointerPath(commit, file))) return;
  const blob = cache.blobPath(meta.etag);
  await Deno.mkdir(cache.blobsDir, { recursive: true });
  // The etag can repeat across repositories, so the lock lives under the repository's folder.
  await withFileLock(cache.locksDir, meta.etag, async () => {
    if (!(await exists(blob))) {
      await client.download(file, meta, `${blob}.incomplete`, blob, progress);
    }
    await cache.linkSnapshotFile(commit, file, meta.etag);
  });
}
