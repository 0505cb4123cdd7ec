/**
 * The backend names a user may ask for, tf-free so that lib/dag can validate `settings.backend`
 * without loading TensorFlow.js.
 *
 * @module
 */

/** Every accepted backend name; `auto` picks the fastest one available. */
export const backendNames = ["auto", "blas", "wasm", "cpu", "webgpu", "tensorflow"] as const;

/** Backends a user can ask for. */
export type BackendName = typeof backendNames[number];
