/**
 * Command-line parsing shared by the CLIs: `node:util`'s parseArgs with its complaints turned into
 * a {@linkcode UsageError}, which each CLI prints as one line with exit code 2.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../lib/config/errors.ts";

export { UsageError };

/** `parseArgs(config)`; throws UsageError (parseArgs' message) on an unknown or malformed flag. */
export function parseFlags<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
