/**
 * Hugging Face Hub client and cache: resolves `hf:org/name[@revision]` model references to a
 * local snapshot folder in the Hub's own cache layout (shared with Python's huggingface_hub),
 * honouring HF_ENDPOINT, HF_HOME / HF_HUB_CACHE, HF_TOKEN and HF_HUB_OFFLINE.
 *
 * @module
 */

export { HubError, type HubErrorKind } from "./errors.ts";
export { DEFAULT_REVISION, HUB_REF_PREFIX, type HubRef, isHubRef, parseHubRef } from "./ref.ts";
export { DEFAULT_HUB_ENDPOINT, type HubSettings, hubSettingsFromEnv } from "./settings.ts";
export { repoFolderName } from "./cache.ts";
export { consoleProgress, type DownloadProgress, type ProgressSink } from "./progress.ts";
export {
  OPTIONAL_MODEL_FILES,
  REQUIRED_MODEL_FILES,
  type ResolvedModel,
  resolveModel,
  type ResolveOptions,
  resolveRevision,
} from "./resolve.ts";
