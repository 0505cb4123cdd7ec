/**
 * Hub model references as users write them: `hf:org/name` or `hf:org/name@revision` (a branch,
 * tag or 40-hex commit), also `hf:name` for the Hub's legacy un-namespaced ids such as `gpt2`.
 *
 * @module
 */

import { HubError } from "./errors.ts";

/** The prefix that marks a model path as a Hub reference. */
export const HUB_REF_PREFIX = "hf:";
/** The revision used when a reference names none (the Hub's default branch). */
export const DEFAULT_REVISION = "main";

/** A parsed Hub reference. */
export interface HubRef {
  /** The reference as written, for messages. */
  text: string;
  /** `org/name` (or `name`). */
  repoId: string;
  /** Branch, tag or commit; {@link DEFAULT_REVISION} when none was written. */
  revision: string;
}

/** One part of a repository id, as the Hub allows them (letters, digits, `-`, `_`, `.`). */
const REPO_ID_PART = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
/** A 40-hex git commit id. */
export const COMMIT_HASH = /^[0-9a-f]{40}$/;

/** Whether `path` is a Hub reference (starts with {@link HUB_REF_PREFIX}). */
export function isHubRef(path: string): boolean {
  return path.startsWith(HUB_REF_PREFIX);
}

/**
 * Parses `hf:org/name[@revision]`. Throws HubError (`bad-reference`) for a text without the
 * prefix, an id with more than two parts, characters the Hub does not allow, `--` or `..` in a
 * part (they would break the cache folder name), or an empty or path-escaping revision.
 */
export function parseHubRef(text: string): HubRef {
  const fail = (reason: string) => new HubError(text, "bad-reference", reason);
  if (!isHubRef(text)) throw fail(`not a Hub reference (expected ${HUB_REF_PREFIX}org/name)`);
  const body = text.slice(HUB_REF_PREFIX.length);
  const at = body.indexOf("@");
  const repoId = at < 0 ? body : body.slice(0, at);
  const revision = at < 0 ? DEFAULT_REVISION : body.slice(at + 1);
  const parts = repoId.split("/");
  if (parts.length > 2 || parts.some((part) => !REPO_ID_PART.test(part))) {
    throw fail(
      `"${repoId}" is not a Hub repository id (org/name of letters, digits, "-", "_", ".")`,
    );
  }
  if (parts.some((part) => part.includes("--") || part.includes(".."))) {
    throw fail(`"${repoId}" contains "--" or "..", which the Hub does not allow`);
  }
  if (
    revision === "" || revision.split("/").some((part) =>
      part === "" || part === "." ||
      part === ".."
    ) || /[\s\\]/.test(revision)
  ) {
    throw fail(`"${revision}" is not a revision (a branch, tag or commit)`);
  }
  return { text, repoId, revision };
}
