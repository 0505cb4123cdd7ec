/** Where a problem sits in a pipeline file: 1-based line and column, and the dotted key. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
  key: string;
}

/**
 * A problem with a pipeline file (or a `--set` override): the message starts with
 * `file:line:column: key:` so an editor can jump to it. Line and column are 0 when the value came
 * from the command line rather than the file.
 */
export class ConfigError extends Error {
  /** Pipeline file the problem is in. */
  readonly file: string;
  /** 1-based line (0 when the value came from `--set`). */
  readonly line: number;
  /** 1-based column (0 when the value came from `--set`). */
  readonly column: number;
  /** Dotted key path, e.g. `stages.train-lora.params.lr`. */
  readonly key: string;
  /** The problem alone, without the location prefix. */
  readonly detail: string;

  constructor(where: SourceLocation, detail: string) {
    const at = where.line > 0 ? `${where.file}:${where.line}:${where.column}` : where.file;
    super(`${at}: ${where.key ? where.key + ": " : ""}${detail}`);
    this.name = "ConfigError";
    this.file = where.file;
    this.line = where.line;
    this.column = where.column;
    this.key = where.key;
    this.detail = detail;
  }
}

/** A wrong command line: unknown flag, bad `--set` syntax, unknown stage name. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
