/**
 * The one configuration error of peftlab, and how a CLI tells a user's mistake from a bug.
 *
 * @module
 */

/** Where a value was written: a file with 1-based line and column (0 when not from a file line). */
export interface Location {
  /** Pipeline file as shown to the user, or `--set` for a command-line override. */
  file: string;
  /** 1-based line (0 when the value came from the command line). */
  line: number;
  /** 1-based column (0 when the value came from the command line). */
  column: number;
}

/** A location together with the dotted key written there, e.g. `stages.train-lora.params.lr`. */
export interface SourceLocation extends Location {
  key: string;
}

/** `file:line:column` (or just the file when the line is unknown). */
export function formatLocation(location: Location): string {
  return location.line > 0 ? `${location.file}:${location.line}:${location.column}` : location.file;
}

/**
 * A configuration value is missing, of the wrong type, out of range or names something that does
 * not exist. `key` is the dotted key a user writes (`stages.train-lora.params.config.r`,
 * `data.test`); `location`, when known, is where it was written. The message reads
 * `file:line:column: key: detail` so an editor can jump to it.
 */
export class ConfigError extends Error {
  /** Dotted key of the offending value. */
  readonly key: string;
  /** The problem alone, without key or location. */
  readonly detail: string;
  /** Where the key was written, when it came from a file (or `--set`). */
  readonly location?: Location;

  /** Builds the error; the message starts with the location (if any) and the key. */
  constructor(key: string, detail: string, location?: Location) {
    const at = location ? `${formatLocation(location)}: ` : "";
    super(`${at}${key ? `${key}: ` : ""}${detail}`);
    this.name = "ConfigError";
    this.key = key;
    this.detail = detail;
    if (location) this.location = { ...location };
  }

  /** The error for a key at a located YAML node (`where` carries the key). */
  static at(where: SourceLocation, detail: string): ConfigError {
    const { key, ...location } = where;
    return new ConfigError(key, detail, location);
  }

  /** File the key was written in ("" when unknown). */
  get file(): string {
    return this.location?.file ?? "";
  }

  /** 1-based line (0 when unknown). */
  get line(): number {
    return this.location?.line ?? 0;
  }

  /** 1-based column (0 when unknown). */
  get column(): number {
    return this.location?.column ?? 0;
  }

  /** The same problem, reported at `location` under `key` (used to place a stage's error). */
  relocated(key: string, location?: Location): ConfigError {
    const error = new ConfigError(key, this.detail, location);
    error.stack = this.stack;
    return error;
  }
}

/** A wrong command line: unknown flag, bad `--set` syntax, unknown stage name. */
export class UsageError extends Error {
  /** Builds the error with the message a user sees. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Names of the error classes that describe a user's input (configuration, data, checkpoints,
 * files, the Hub), as opposed to a bug. Their message is the whole story: a CLI prints it as one
 * line and keeps the stack trace for the log and `--verbose`.
 */
export const USER_ERROR_NAMES: readonly string[] = [
  "ConfigError",
  "UsageError",
  "DataError",
  "TemplateError",
  "CheckpointError",
  "TokenizerError",
  "HubError",
  "ReportInputError",
  "BackendError",
  "ModelInputError",
  "NotFound",
];

/** Whether `error` is a user's mistake (see {@linkcode USER_ERROR_NAMES}) rather than a bug. */
export function isUserError(error: unknown): error is Error {
  return error instanceof Error && USER_ERROR_NAMES.includes(error.name);
}
