/**
 * Hashing with a stat cache, code fingerprints, the content-addressed output store and the
 * `pipeline.lock` file.
 *
 * @module
 */
export { canonicalJson, HASH_CHUNK_BYTES, hashFileContent, sha256Hex } from "./hash.ts";
export { StatCache } from "./stat_cache.ts";
export { type CodeFingerprint, CodeHasher, scanImports } from "./code_hash.ts";
export {
  commitOutput,
  hashTree,
  hasOutput,
  listFiles,
  manifestHash,
  outputPath,
  outputProblems,
  OUTPUTS_FOLDER,
  treeManifest,
} from "./store.ts";
export {
  type LockEntry,
  type LockFile,
  type MetricValue,
  readLock,
  writeLock,
} from "./lockfile.ts";
export { cachedRun, runCachePath, saveRunCache } from "./run_cache.ts";
