/**
 * Deno-std-style assertions on top of `node:assert` (JSR is not reachable here).
 *
 * @module
 */
import assert from "node:assert/strict";

/** Throw unless `condition` holds. */
export function assertOk(condition: unknown, message?: string): asserts condition {
  assert.ok(condition, message);
}

/** Throw unless `actual` deeply equals `expected`. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  assert.deepStrictEqual(actual, expected, message);
}

/** Throw unless `actual` contains `expected`. */
export function assertIncludes(actual: string, expected: string): void {
  assert.ok(
    actual.includes(expected),
    `expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`,
  );
}

/** Throw unless `fn` throws an instance of `type` whose message includes `message`. */
export function assertThrowsWith(
  fn: () => unknown,
  type: abstract new (...args: never[]) => Error,
  message: string,
): void {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof type, `expected ${type.name}, got ${error}`);
    assertIncludes((error as Error).message, message);
    return;
  }
  assert.fail(`expected ${type.name} to be thrown`);
}
