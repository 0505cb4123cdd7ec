/**
 * Typed errors raised by the engine.
 *
 * @module
 */

/** Thrown when a requested backend cannot be set up (missing library, no adapter, bad name). */
export class BackendError extends Error {
  /** The backend the user asked for. */
  readonly backend: string;
  /** Creates the error; `message` says what is missing and how to get it. */
  constructor(backend: string, message: string) {
    super(`backend "${backend}": ${message}`);
    this.name = "BackendError";
    this.backend = backend;
  }
}
