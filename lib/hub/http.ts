/**
 * The Hub's file protocol, as huggingface_hub speaks it: `HEAD {endpoint}/{repo}/resolve/
 * {revision}/{file}` answers with the commit (`X-Repo-Commit`), the content's ETag
 * (`X-Linked-Etag` for LFS files, else `ETag`), its size (`X-Linked-Size`, else
 * `Content-Length`) and, for LFS files, a redirect to where the bytes are; errors carry
 * `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`, `GatedRepo`).
 * Downloads go to `<blob>.incomplete`, resume with `Range` after a dropped connection or an
 * interrupted run, and are checked against the ETag before they are renamed into place.
 *
 * @module
 */

import type { HubSettings } from "./settings.ts";
import { HubError } from "./errors.ts";
import type { ProgressSink } from "./progress.ts";
import { etagKind, fileDigest } from "./verify.ts";

/** What the Hub says about one file at one revision. */
export interface FileMetadata {
  /** The commit the revision resolved to. */
  commit: string;
  /** The content's ETag without quotes: sha256 (LFS) or git blob sha1. */
  etag: string;
  /** Content size in bytes. */
  size: number;
  /** Where to GET the bytes (the resolve URL, or the LFS redirect's target). */
  location: string;
}

/** The file is not in the repository at that revision (`EntryNotFound`). */
export interface MissingFile {
  missing: true;
  /** The commit the revision resolved to, when the Hub said. */
  commit?: string;
}

/** The endpoint could not be reached at all (refused, DNS, reset before any answer). */
export class HubUnreachable extends Error {
  /** Wraps the fetch failure's message. */
  constructor(readonly endpoint: string, cause: unknown) {
    super(`cannot reach ${endpoint} (${(cause as Error)?.message ?? cause})`);
    this.name = "HubUnreachable";
  }
}

/** Relative redirects (a renamed repository) followed per request, as huggingface_hub does. */
const MAX_RELATIVE_REDIRECTS = 5;
/** Attempts in a row without new bytes before a download gives up (huggingface_hub: 5). */
export const DOWNLOAD_ATTEMPTS_WITHOUT_PROGRESS = 5;
/** Wait before a retry that follows an attempt without progress, times the attempts so far. */
const RETRY_DELAY_MS = 500;
const USER_AGENT = "peftlab (huggingface_hub compatible)";

/** huggingface_hub's `_normalize_etag`: drop a weak `W/` prefix and the quotes. */
export function normalizeEtag(etag: string): string {
  return etag.replace(/^W\//, "").replace(/^"|"$/g, "");
}

/** `{endpoint}/{repoId}/resolve/{revision}/{file}` with the parts URL-quoted as the Hub wants. */
export function resolveUrl(
  endpoint: string,
  repoId: string,
  revision: string,
  file: string,
): string {
  const path = file.split("/").map(encodeURIComponent).join("/");
  return `${endpoint}/${repoId}/resolve/${encodeURIComponent(revision)}/${path}`;
}

/** Talks to one Hub endpoint on behalf of one reference (named in every error). */
export class HubClient {
  /** `settings` gives the endpoint and token; `ref` is the reference text for messages. */
  constructor(readonly settings: HubSettings, readonly ref: string) {}

  #headers(url: string): Headers {
    const headers = new Headers({ "user-agent": USER_AGENT, "accept-encoding": "identity" });
    // The token goes to the Hub only, never to the storage an LFS redirect points at.
    if (this.settings.token && new URL(url).host === new URL(this.settings.endpoint).host) {
      headers.set("authorization", `Bearer ${this.settings.token}`);
    }
    return headers;
  }

  async #fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (error) {
      throw new HubUnreachable(this.settings.endpoint, error);
    }
  }

  /**
   * HEADs `file` at `revision`. Returns its metadata, or {@link MissingFile} when the Hub says
   * the file is not there. Throws HubUnreachable when the endpoint cannot be reached, and
   * HubError for an unknown or inaccessible repository, an unknown revision, a server error or
   * an answer without the Hub's headers.
   */
  async head(repoId: string, revision: string, file: string): Promise<FileMetadata | MissingFile> {
    let url = resolveUrl(this.settings.endpoint, repoId, revision, file);
    let response: Response;
    for (let redirects = 0;; redirects++) {
      response = await this.#fetch(url, {
        method: "HEAD",
        headers: this.#headers(url),
        redirect: "manual",
      });
      await response.body?.cancel();
      const location = response.headers.get("location");
      const relative = location !== null && !/^[a-z][a-z0-9+.-]*:/i.test(location);
      if (response.status < 300 || response.status > 399 || !relative) break;
      if (redirects === MAX_RELATIVE_REDIRECTS) {
        throw new HubError(this.ref, "network", `too many redirects from ${url}`, file);
      }
      url = new URL(location, url).href;
    }
    if (response.status >= 400) return this.#failure(response, repoId, revision, file);
    const commit = response.headers.get("x-repo-commit");
    const etag = response.headers.get("x-linked-etag") ?? response.headers.get("etag");
    const size = Number(
      response.headers.get("x-linked-size") ?? response.headers.get("content-length"),
    );
    if (commit === null || etag === null || !Number.isSafeInteger(size)) {
      throw new HubError(
        this.ref,
        "network",
        `${this.settings.endpoint} is not a Hugging Face Hub endpoint (its answer has no ` +
          `X-Repo-Commit, ETag or size; check HF_ENDPOINT)`,
        file,
      );
    }
    const location = response.status >= 300 && response.status <= 399
      ? new URL(response.headers.get("location")!, url).href
      : url;
    return { commit, etag: normalizeEtag(etag), size, location };
  }

  #failure(
    response: Response,
    repoId: string,
    revision: string,
    file: string,
  ): MissingFile {
    const code = response.headers.get("x-error-code");
    const status = response.status;
    const tokenHint = this.settings.token
      ? "the token (HF_TOKEN) has no access to it"
      : "set HF_TOKEN to a token with access";
    if (code === "GatedRepo") {
      throw new HubError(
        this.ref,
        "repo-not-found",
        `the repository is gated: accept its terms at ${this.settings.endpoint}/${repoId} and ` +
          tokenHint.replace(/^the token/, "check that the token"),
      );
    }
    if (code === "RepoNotFound" || (code === null && (status === 401 || status === 403))) {
      throw new HubError(
        this.ref,
        "repo-not-found",
        `no model repository "${repoId}" on ${this.settings.endpoint} (HTTP ${status}); ` +
          `check the id, or if it is private, ${tokenHint}`,
      );
    }
    if (code === "RevisionNotFound") {
      throw new HubError(
        this.ref,
        "revision-not-found",
        `the repository has no revision "${revision}" (branch, tag or commit)`,
      );
    }
    if (code === "EntryNotFound" || status === 404) {
      return { missing: true, commit: response.headers.get("x-repo-commit") ?? undefined };
    }
    throw new HubError(
      this.ref,
      "network",
      `${this.settings.endpoint} answered HTTP ${status} ${response.statusText}`.trim(),
      file,
    );
  }

  /**
   * Downloads `meta.location` into `incompletePath`, resuming from the bytes already there,
   * retrying with `Range` after a dropped connection until {@link
   * DOWNLOAD_ATTEMPTS_WITHOUT_PROGRESS} attempts in a row bring nothing new; then checks size
   * and ETag and renames the file to `blobPath`. Throws HubError (`network`) when it cannot
   * finish (the partial file stays for the next run) and (`integrity`) when the content does
   * not match (the partial file is deleted).
   */
  async download(
    file: string,
    meta: FileMetadata,
    incompletePath: string,
    blobPath: string,
    progress?: ProgressSink,
  ): Promise<void> {
    let failures = 0;
    let lastError = "connection closed";
    // Make sure the file exists, so that an empty file needs no request and is still checked.
    await Deno.writeFile(incompletePath, new Uint8Array(), { append: true });
    while (true) {
      if (failures > 0) await delay(RETRY_DELAY_MS * failures);
      const have = await sizeOf(incompletePath);
      if (have === meta.size) break;
      if (have > meta.size) await Deno.truncate(incompletePath, 0);
      const before = have > meta.size ? 0 : have;
      let now = before;
      try {
        now = await this.#fetchInto(file, meta, incompletePath, before, progress);
      } catch (error) {
        if (error instanceof HubError) throw error;
        lastError = (error as Error).message;
        now = await sizeOf(incompletePath);
      }
      if (now === meta.size) break;
      if (now > meta.size) {
        await Deno.remove(incompletePath);
        throw new HubError(
          this.ref,
          "integrity",
          `the server sent ${now} bytes, the Hub announced ${meta.size}; run again`,
          file,
        );
      }
      failures = now > before ? 0 : failures + 1;
      if (failures >= DOWNLOAD_ATTEMPTS_WITHOUT_PROGRESS) {
        const reason = `download stopped at ${now} of ${meta.size} bytes (${lastError})`;
        throw new HubError(
          this.ref,
          "network",
          `${reason}; run again to resume from ${incompletePath}`,
          file,
        );
      }
    }
    progress?.({ file, doneBytes: meta.size, totalBytes: meta.size, finished: true });
    const kind = etagKind(meta.etag);
    const digest = await fileDigest(incompletePath, kind);
    if (digest !== undefined && digest !== meta.etag) {
      await Deno.remove(incompletePath);
      throw new HubError(
        this.ref,
        "integrity",
        `downloaded content has ${kind} ${digest}, the Hub announced ${meta.etag}; ` +
          `the partial file was deleted, run again`,
        file,
      );
    }
    await Deno.rename(incompletePath, blobPath);
  }

  /** One GET from `start`; appends to the file and returns its size when the body ends. */
  async #fetchInto(
    file: string,
    meta: FileMetadata,
    path: string,
    start: number,
    progress?: ProgressSink,
  ): Promise<number> {
    const headers = this.#headers(meta.location);
    if (start > 0) headers.set("range", `bytes=${start}-`);
    const response = await this.#fetch(meta.location, { headers });
    if (response.status === 416 || (start > 0 && response.status === 200)) {
      // The server cannot resume: start over.
      await response.body?.cancel();
      await Deno.truncate(path, 0).catch(() => {});
      if (response.status === 416) return 0;
      return await this.#fetchInto(file, meta, path, 0, progress);
    }
    if (!response.ok || response.body === null) {
      await response.body?.cancel();
      throw new HubError(
        this.ref,
        "network",
        `GET ${meta.location} answered HTTP ${response.status}`,
        file,
      );
    }
    const out = await Deno.open(path, { create: true, append: true });
    let done = start;
    try {
      progress?.({ file, doneBytes: done, totalBytes: meta.size, finished: false });
      for await (const chunk of response.body) {
        let written = 0;
        while (written < chunk.length) written += await out.write(chunk.subarray(written));
        done += chunk.length;
        progress?.({ file, doneBytes: done, totalBytes: meta.size, finished: false });
      }
    } finally {
      out.close();
    }
    return done;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return 0;
  }
}
