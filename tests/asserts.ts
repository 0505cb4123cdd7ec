/**
 * The assertions the tests share, Deno-std style on top of `node:assert` (JSR's @std/assert is
 * not reachable here). Tests that need nothing more import `node:assert/strict` directly.
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Throws when `condition` is falsy. */
export function assert(condition: unknown, message?: string): asserts condition {
  if (!condition) throw new Error(message ?? "assertion failed");
}

/** Deep strict equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** |actual − expected| ≤ tolerance. */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance: number,
  message?: string,
): void {
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new Error(
      `${actual} is not within ${tolerance} of ${expected}${message ? ` (${message})` : ""}`,
    );
  }
}

/** `fn` throws an instance of `errorClass`; returns the error. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  errorClass: new (...args: any[]) => E,
): E {
  try {
    fn();
  } catch (error) {
    if (error instanceof errorClass) return error;
    throw new Error(`expected ${errorClass.name}, got ${error}`);
  }
  throw new Error(`expected ${errorClass.name}, nothing was thrown`);
}

/** The promise from `fn` rejects with an instance of `errorClass`; returns the error. */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  errorClass: new (...args: any[]) => E,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof errorClass) return error;
    throw new Error(`expected ${errorClass.name}, got ${error}`);
  }
  throw new Error(`expected ${errorClass.name}, nothing was rejected`);
}

/** `actual` contains `expected`. */
export function assertIncludes(actual: string, expected: string): void {
  nodeAssert.ok(
    actual.includes(expected),
    `expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`,
  );
}

/** `fn` throws an instance of `type` whose message includes `message`. */
export function assertThrowsWith(
  fn: () => unknown,
  type: abstract new (...args: never[]) => Error,
  message: string,
): void {
  try {
    fn();
  } catch (error) {
    nodeAssert.ok(error instanceof type, `expected ${type.name}, got ${error}`);
    assertIncludes((error as Error).message, message);
    return;
  }
  nodeAssert.fail(`expected ${type.name} to be thrown`);
}
