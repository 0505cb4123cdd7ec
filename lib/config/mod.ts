/**
 * Configuration vocabulary shared by the pipeline, the stages and the tuning methods: one
 * {@linkcode ConfigError} carrying key, detail and location, and the test that tells a user's
 * mistake from a bug.
 *
 * @module
 */
export {
  ConfigError,
  formatLocation,
  isUserError,
  type Location,
  type SourceLocation,
  UsageError,
  USER_ERROR_NAMES,
} from "./errors.ts";
