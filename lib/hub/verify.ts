/**
 * Checks a downloaded file against the Hub's ETag: the sha256 of the content for LFS files
 * (64 hex digits), the git blob id `sha1("blob <size>\0" + content)` for files kept in git
 * (40 hex digits).
 *
 * @module
 */

import { createHash } from "node:crypto";

const SHA256_ETAG = /^[0-9a-f]{64}$/;
const GIT_SHA1_ETAG = /^[0-9a-f]{40}$/;

/** How an ETag is checked: `sha256` (LFS), `git-sha1` (git blob), or not at all (other forms). */
export type EtagKind = "sha256" | "git-sha1" | "opaque";

/** What kind of hash the Hub's `etag` is. */
export function etagKind(etag: string): EtagKind {
  if (SHA256_ETAG.test(etag)) return "sha256";
  if (GIT_SHA1_ETAG.test(etag)) return "git-sha1";
  return "opaque";
}

/**
 * The hex digest of the file at `path` in the form `kind` names (`sha256` of the bytes, or git's
 * blob id); undefined for `opaque`. Throws what reading the file throws.
 */
export async function fileDigest(path: string, kind: EtagKind): Promise<string | undefined> {
  if (kind === "opaque") return undefined;
  const hash = createHash(kind === "sha256" ? "sha256" : "sha1");
  if (kind === "git-sha1") hash.update(`blob ${(await Deno.stat(path)).size}\0`);
  const file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}
