/**
 * Typed errors of the data readers: every one names the file and line a user must look at.
 *
 * @module
 */

/** One rejected row: where it is and why it was rejected. */
export interface BadRow {
  /** File path as given to the reader. */
  file: string;
  /** 1-based line number (for CSV: the line where the record starts). */
  line: number;
  /** What is wrong, in user words (e.g. `missing field "summary"`). */
  reason: string;
}

/** How many offenders a `fail` error message lists. */
export const LISTED_OFFENDERS_MAX = 5;

function describe(offender: BadRow): string {
  return offender.line > 0
    ? `${offender.file}:${offender.line}: ${offender.reason}`
    : `${offender.file}: ${offender.reason}`;
}

/**
 * A data file cannot be used as it is. `file` and `line` locate the first problem (line 0 when
 * the problem is the whole file, e.g. it cannot be opened); `offenders` lists up to
 * {@link LISTED_OFFENDERS_MAX} bad rows and `badRowCount` counts them all.
 */
export class DataError extends Error {
  /** File path as given to the reader. */
  readonly file: string;
  /** 1-based line of the first problem; 0 for whole-file problems. */
  readonly line: number;
  /** The first few bad rows, in file order. */
  readonly offenders: BadRow[];
  /** Total number of bad rows found. */
  readonly badRowCount: number;

  /** Builds the error from the offending rows (at least one) and their total count. */
  constructor(offenders: BadRow[], badRowCount = offenders.length) {
    const listed = offenders.slice(0, LISTED_OFFENDERS_MAX);
    const first = listed[0];
    const more = badRowCount - listed.length;
    const message = badRowCount <= 1
      ? describe(first)
      : `${first.file}: ${badRowCount} bad rows (on_bad_row: fail); ` +
        listed.map(describe).join("; ") + (more > 0 ? `; … and ${more} more` : "");
    super(message);
    this.name = "DataError";
    this.file = first.file;
    this.line = first.line;
    this.offenders = listed;
    this.badRowCount = badRowCount;
  }
}

/** A prompt template lacks `{document}` / `{summary}` or has them in the wrong order. */
export class TemplateError extends Error {
  /** The template as given. */
  readonly template: string;

  /** Builds the error; `reason` says what is wrong with `template`. */
  constructor(template: string, reason: string) {
    super(`prompt template ${JSON.stringify(template)}: ${reason}`);
    this.name = "TemplateError";
    this.template = template;
  }
}
