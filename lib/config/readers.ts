/**
 * Readers for raw (YAML-parsed) config sections (a tuning method's `config`, a trainer's
 * `training`); each throws {@linkcode ConfigError} naming the dotted key.
 *
 * @module
 */
import { ConfigError } from "./errors.ts";

function join(where: string, key: string): string {
  return where ? `${where}.${key}` : key;
}

/** Throws `ConfigError` for any key of `raw` not in `allowed` (catches typos like `rank`). */
export function rejectUnknownKeys(
  raw: Record<string, unknown>,
  allowed: readonly string[],
  where: string,
): void {
  for (const key of Object.keys(raw)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(join(where, key), `unknown key; allowed: ${allowed.join(", ")}`);
    }
  }
}

/** The numbers a setting accepts: [min, max], whole numbers only when `integer`. */
export interface NumberRange {
  min?: number;
  max?: number;
  integer?: boolean;
}

/** Reads a finite number inside `range`; returns `fallback` when absent. */
export function readNumber(
  raw: Record<string, unknown>,
  key: string,
  where: string,
  fallback: number,
  { min = Number.NEGATIVE_INFINITY, max, integer = false }: NumberRange = {},
): number {
  const value = raw[key] ?? fallback;
  const upper = max ?? (integer ? Number.MAX_SAFE_INTEGER : Number.POSITIVE_INFINITY);
  const typed = typeof value === "number" &&
    (integer ? Number.isInteger(value) : Number.isFinite(value));
  if (!typed || value < min || value > upper) {
    throw new ConfigError(
      join(where, key),
      `expected ${integer ? "an integer" : "a number"} in [${min}, ${upper}], got ${
        JSON.stringify(value)
      }`,
    );
  }
  return value;
}

/** Reads one of `allowed`; returns `fallback` when absent. */
export function readChoice<T extends string>(
  raw: Record<string, unknown>,
  key: string,
  where: string,
  fallback: T,
  allowed: readonly T[],
): T {
  const value = raw[key] ?? fallback;
  if (typeof value !== "string" || !allowed.includes(value as T)) {
    throw new ConfigError(
      join(where, key),
      `expected one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`,
    );
  }
  return value as T;
}

/** Reads a non-empty list of strings (a single string is accepted as a one-item list). */
export function readStringList(
  raw: Record<string, unknown>,
  key: string,
  where: string,
  fallback: string[],
): string[] {
  const value = raw[key] ?? fallback;
  const list = typeof value === "string" ? [value] : value;
  if (
    !Array.isArray(list) || list.length === 0 ||
    !list.every((item) => typeof item === "string" && item.length > 0)
  ) {
    throw new ConfigError(
      join(where, key),
      `expected a non-empty list of names, got ${JSON.stringify(value)}`,
    );
  }
  return [...list];
}

/** Reads an optional list of non-negative integers (e.g. token ids); `undefined` when absent. */
export function readIntList(
  raw: Record<string, unknown>,
  key: string,
  where: string,
): number[] | undefined {
  const value = raw[key];
  if (value === undefined || value === null) return undefined;
  if (
    !Array.isArray(value) || value.length === 0 ||
    !value.every((item) => typeof item === "number" && Number.isInteger(item) && item >= 0)
  ) {
    throw new ConfigError(
      join(where, key),
      `expected a non-empty list of token ids, got ${JSON.stringify(value)}`,
    );
  }
  return [...value];
}

/** Reads a boolean; returns `fallback` when absent. */
export function readBoolean(
  raw: Record<string, unknown>,
  key: string,
  where: string,
  fallback: boolean,
): boolean {
  const value = raw[key] ?? fallback;
  if (typeof value !== "boolean") {
    throw new ConfigError(join(where, key), `expected true or false, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Checks that `pattern` compiles as a regular expression; throws ConfigError at `key` otherwise. */
function checkRegex(pattern: string, key: string): void {
  try {
    new RegExp(pattern);
  } catch (error) {
    throw new ConfigError(key, `invalid regular expression: ${(error as Error).message}`);
  }
}

/**
 * Reads PEFT's `target_modules`: a non-empty list of module names (matched by suffix) or one
 * string, a regular expression matched against the whole module name as in PEFT.
 */
export function readTargetModules(
  raw: Record<string, unknown>,
  key: string,
  where: string,
  fallback: string[],
): string | string[] {
  const value = raw[key] ?? fallback;
  if (typeof value === "string" && value.length > 0) {
    checkRegex(value, join(where, key));
    return value;
  }
  return readStringList(raw, key, where, fallback);
}

/**
 * Reads a map from module-name pattern to a positive number (PEFT's `rank_pattern`,
 * `alpha_pattern`); `{}` when absent. `integer` requires whole numbers.
 */
export function readPatternMap(
  raw: Record<string, unknown>,
  key: string,
  where: string,
  integer: boolean,
): Record<string, number> {
  const value = raw[key] ?? {};
  const full = join(where, key);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(
      full,
      `expected a map of module pattern → number, got ${JSON.stringify(value)}`,
    );
  }
  const map: Record<string, number> = {};
  for (const [pattern, n] of Object.entries(value)) {
    checkRegex(pattern, `${full}.${pattern}`);
    if (typeof n !== "number" || !(n > 0) || (integer && !Number.isInteger(n))) {
      throw new ConfigError(
        `${full}.${pattern}`,
        `expected a positive ${integer ? "integer" : "number"}, got ${JSON.stringify(n)}`,
      );
    }
    map[pattern] = n;
  }
  return map;
}
