/**
 * Typed reading of a stage's resolved params: each getter throws a {@linkcode ConfigError} naming
 * the stage-relative key (`params.training.lr`); the stage worker turns it into the key and
 * file:line:column where the value was written in the pipeline file.
 *
 * @module
 */
import { ConfigError } from "../config/errors.ts";

/** Reads params of one stage; nested sections come back as readers of their own. */
export class Params {
  /** `values` are read under the dotted `prefix` (a stage's own params: `params`). */
  constructor(
    readonly values: Record<string, unknown>,
    readonly prefix = "params",
  ) {}

  /** The stage-relative dotted key of `name` (`params.training.lr`), as errors name it. */
  key(name: string): string {
    return this.prefix ? `${this.prefix}.${name}` : name;
  }

  /** True when `name` is present and not null. */
  has(name: string): boolean {
    return this.values[name] !== undefined && this.values[name] !== null;
  }

  /** A number; `fallback` when absent. Throws ConfigError on a wrong type or a missing required key. */
  number(name: string, fallback?: number): number {
    return this.typed(name, fallback, "a number", (value) => Number.isFinite(value));
  }

  /** A whole number ≥ `min` (default 0). */
  integer(name: string, fallback?: number, min = 0): number {
    const value = this.number(name, fallback);
    if (!Number.isInteger(value) || value < min) {
      throw new ConfigError(this.key(name), `must be a whole number ≥ ${min}, got ${value}`);
    }
    return value;
  }

  /** A string; `fallback` when absent. */
  string(name: string, fallback?: string): string {
    return this.typed(name, fallback, "a string", (value) => typeof value === "string");
  }

  /** true or false; `fallback` when absent. */
  boolean(name: string, fallback?: boolean): boolean {
    return this.typed(name, fallback, "true or false", (value) => typeof value === "boolean");
  }

  /** The value of `name` if `accepts` it; `fallback` when absent; ConfigError otherwise. */
  private typed<T>(
    name: string,
    fallback: T | undefined,
    expected: string,
    accepts: (value: unknown) => boolean,
  ): T {
    const value = this.values[name];
    if (value === undefined || value === null) {
      if (fallback !== undefined) return fallback;
      throw new ConfigError(this.key(name), `is required (${expected})`);
    }
    if (!accepts(value)) {
      throw new ConfigError(this.key(name), `must be ${expected}, got ${JSON.stringify(value)}`);
    }
    return value as T;
  }

  /** A string or null when absent/null. */
  optionalString(name: string): string | null {
    return this.has(name) ? this.string(name) : null;
  }

  /** One of `allowed`. */
  choice<T extends string>(name: string, allowed: readonly T[], fallback?: T): T {
    const value = this.string(name, fallback);
    if (!(allowed as readonly string[]).includes(value)) {
      throw new ConfigError(this.key(name), `must be one of ${allowed.join(", ")}, got "${value}"`);
    }
    return value as T;
  }

  /** A nested mapping as its own reader (empty when absent). */
  section(name: string): Params {
    const value = this.values[name];
    if (value === undefined || value === null) return new Params({}, this.key(name));
    if (typeof value !== "object" || Array.isArray(value)) {
      throw new ConfigError(this.key(name), "must be a mapping");
    }
    return new Params(value as Record<string, unknown>, this.key(name));
  }

  /** A list of mappings, each as its own reader (`key[i]` in errors); empty when absent. */
  sections(name: string): Params[] {
    const value = this.values[name];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      throw new ConfigError(this.key(name), "must be a list of mappings");
    }
    return value.map((item, i) => {
      if (item === null || typeof item !== "object" || Array.isArray(item)) {
        throw new ConfigError(`${this.key(name)}[${i}]`, "must be a mapping");
      }
      return new Params(item as Record<string, unknown>, `${this.key(name)}[${i}]`);
    });
  }

  /** The raw mapping (for code that validates on its own, e.g. a tuning method's parseConfig). */
  raw(): Record<string, unknown> {
    return { ...this.values };
  }
}

/**
 * Runs `fn`; a ConfigError it throws whose key is relative to a section (a tuning method's
 * apply-time `target_modules`, `layers`) is rethrown under `section` (`params.config`), so the
 * worker can place it where the pipeline file wrote it.
 */
export function underSection<T>(section: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ConfigError && !error.key.startsWith("params")) {
      throw error.relocated(error.key ? `${section}.${error.key}` : section);
    }
    throw error;
  }
}
