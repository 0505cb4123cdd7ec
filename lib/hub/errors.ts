/**
 * Typed errors of the Hugging Face Hub client. Each names the model reference (`hf:org/name`,
 * with `@revision` when one was given) and says what a user can do; the CLIs print the message
 * as one line.
 *
 * @module
 */

/** Why a Hub reference could not be resolved. */
export type HubErrorKind =
  /** The text after `hf:` is not a valid repository id or revision. */
  | "bad-reference"
  /** No such repository, or it is private/gated and the token does not give access. */
  | "repo-not-found"
  /** The repository exists but the revision (branch, tag, commit) does not. */
  | "revision-not-found"
  /** A required file is not in the repository at that revision. */
  | "file-not-found"
  /** Offline (HF_HUB_OFFLINE or no network) and the files are not in the local cache. */
  | "not-cached"
  /** The endpoint could not be reached or answered something that is not the Hub's protocol. */
  | "network"
  /** A downloaded file does not match the size or hash the Hub announced. */
  | "integrity";

/**
 * A Hub reference cannot be resolved to local files. `ref` is the reference as the user wrote
 * it, `kind` the reason; `file` the repository file concerned, when there is one.
 */
export class HubError extends Error {
  /** The reference as written, e.g. `hf:openai-community/gpt2@main`. */
  readonly ref: string;
  /** Why it failed. */
  readonly kind: HubErrorKind;
  /** The file in the repository that failed, when the failure is about one file. */
  readonly file?: string;

  /** Builds the error; the message reads `<ref>[: <file>]: <reason>`. */
  constructor(ref: string, kind: HubErrorKind, reason: string, file?: string) {
    super(`${ref}${file ? `: ${file}` : ""}: ${reason}`);
    this.name = "HubError";
    this.ref = ref;
    this.kind = kind;
    this.file = file;
  }

  /**
   * Whether the user must change the reference or the configuration (a configuration error:
   * exit code 2), as opposed to a failure that may pass on a retry (network, integrity: exit 1).
   */
  get isConfigurationError(): boolean {
    return this.kind !== "network" && this.kind !== "integrity";
  }
}
