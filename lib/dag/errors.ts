/**
 * The pipeline's errors are the shared configuration vocabulary (lib/config): a `ConfigError`
 * whose message starts with `file:line:column: key:`, and `UsageError` for a wrong command line.
 *
 * @module
 */
export { ConfigError, type SourceLocation, UsageError } from "../config/errors.ts";
