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

/** Thrown by {@link assertNoTensorLeak} when the live tensor count grows across steps. */
export class TensorLeakError extends Error {
  /** Live tensors after the first (warm-up) step. */
  readonly tensorsAfterWarmup: number;
  /** Live tensors after the last step. */
  readonly tensorsAtEnd: number;
  /** Creates the error with both counts. */
  constructor(tensorsAfterWarmup: number, tensorsAtEnd: number, steps: number) {
    super(
      `tensor leak: ${tensorsAfterWarmup} live tensors after the first step, ` +
        `${tensorsAtEnd} after ${steps} steps`,
    );
    this.name = "TensorLeakError";
    this.tensorsAfterWarmup = tensorsAfterWarmup;
    this.tensorsAtEnd = tensorsAtEnd;
  }
}
