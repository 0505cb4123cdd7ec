/** Typed errors for tuning-method configuration: the shared {@linkcode ConfigError} (lib/config). */
export { ConfigError } from "../config/errors.ts";
