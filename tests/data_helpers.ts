/**
 * Helpers for the data reader tests.
 *
 * @module
 */
import { ok } from "node:assert/strict";
import { DataError } from "../lib/data/mod.ts";

/** The DataError that `read()` rejects with; fails the test when it resolves or throws another error. */
export async function dataErrorOf(read: () => Promise<unknown>): Promise<DataError> {
  try {
    await read();
  } catch (error) {
    ok(error instanceof DataError, `expected DataError, got ${error}`);
    return error;
  }
  throw new Error("expected a DataError, but reading succeeded");
}
