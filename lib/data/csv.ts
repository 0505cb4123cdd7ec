/**
 * RFC 4180 CSV records assembled from physical lines: `,`-separated fields, fields in double
 * quotes may hold commas, newlines and doubled quotes (`""`). Quoting mistakes are reported per
 * record so one bad record does not hide the rest of the file.
 *
 * @module
 */

/** Result of feeding one physical line to {@link CsvRecordParser.pushLine}. */
export type CsvLineResult =
  | { kind: "record"; fields: string[]; startLine: number }
  | { kind: "bad"; reason: string; startLine: number }
  | { kind: "pending" }
  | { kind: "blank" };

const QUOTE = 34;
const COMMA = 44;

/**
 * Assembles CSV records from consecutive lines (text without `\n`; a trailing `\r` is a CRLF
 * line ending). A record whose quoted field is still open at the end of a line continues on the
 * next line. Feed lines in order with their line numbers, then call {@link finish}.
 */
export class CsvRecordParser {
  #fields: string[] = [];
  #field = "";
  #inQuotes = false;
  #startLine = 0;
  #recordChars = 0;

  /** `maxRecordChars` bounds a record spanning lines, so an unbalanced quote cannot eat the file. */
  constructor(readonly maxRecordChars: number) {}

  /** Whether a quoted field is open (the next line continues the current record). */
  get inRecord(): boolean {
    return this.#inQuotes;
  }

  /** Drops a partly read record (after a line that could not be read inside it). */
  abandonRecord(): { reason: string; startLine: number } | null {
    if (!this.#inQuotes) return null;
    const startLine = this.#startLine;
    this.#reset();
    return { reason: "record broken by an unreadable line inside a quoted field", startLine };
  }

  /** Feeds the next physical line; returns a complete record, a bad record, or "pending". */
  pushLine(text: string, line: number): CsvLineResult {
    let eol = "\n";
    if (text.endsWith("\r")) {
      text = text.slice(0, -1);
      eol = "\r\n";
    }
    if (!this.#inQuotes) {
      if (text.trim() === "") return { kind: "blank" };
      this.#startLine = line;
      this.#recordChars = 0;
    }
    this.#recordChars += text.length + eol.length;
    let i = 0;
    // Resume inside a quoted field carried over from the previous line.
    if (this.#inQuotes) {
      this.#field += eol;
      const resumed = this.#readQuoted(text, 0);
      if (resumed.error) return this.#bad(resumed.error);
      if (resumed.next < 0) return this.#pendingOrTooLong();
      i = resumed.next;
      const after = this.#afterQuoted(text, i);
      if (after.error) return this.#bad(after.error);
      if (after.next < 0) return this.#finishRecord();
      i = after.next;
    }
    for (;;) {
      if (i < text.length && text.charCodeAt(i) === QUOTE) {
        const quoted = this.#readQuoted(text, i + 1);
        if (quoted.next < 0) return this.#pendingOrTooLong();
        const after = this.#afterQuoted(text, quoted.next);
        if (after.error) return this.#bad(after.error);
        if (after.next < 0) return this.#finishRecord();
        i = after.next;
        continue;
      }
      const comma = text.indexOf(",", i);
      const end = comma < 0 ? text.length : comma;
      const value = text.slice(i, end);
      if (value.includes('"')) {
        return this.#bad(`quote inside an unquoted field (column ${this.#fields.length + 1})`);
      }
      this.#fields.push(value);
      if (comma < 0) return this.#finishRecord();
      i = comma + 1;
    }
  }

  /** Call at end of input: reports a quoted field that was never closed. */
  finish(): CsvLineResult | null {
    if (!this.#inQuotes) return null;
    return this.#bad("quoted field is never closed (unbalanced quote)");
  }

  /** Reads quoted content from `start`; next = index after the closing quote, -1 if still open. */
  #readQuoted(text: string, start: number): { next: number; error?: string } {
    let i = start;
    this.#inQuotes = true;
    for (;;) {
      const quote = text.indexOf('"', i);
      if (quote < 0) {
        this.#field += text.slice(i);
        return { next: -1 };
      }
      this.#field += text.slice(i, quote);
      if (text.charCodeAt(quote + 1) === QUOTE) {
        this.#field += '"';
        i = quote + 2;
        continue;
      }
      this.#inQuotes = false;
      return { next: quote + 1 };
    }
  }

  /** After a closing quote only `,` or the end of the line may follow. */
  #afterQuoted(text: string, i: number): { next: number; error?: string } {
    this.#fields.push(this.#field);
    this.#field = "";
    if (i >= text.length) return { next: -1 };
    if (text.charCodeAt(i) === COMMA) {
      if (i + 1 >= text.length) {
        this.#fields.push("");
        return { next: -1 };
      }
      return { next: i + 1 };
    }
    return {
      next: -1,
      error: `text after a closing quote (column ${this.#fields.length}); quotes inside a ` +
        `quoted field must be doubled ("")`,
    };
  }

  #pendingOrTooLong(): CsvLineResult {
    if (this.#recordChars > this.maxRecordChars) {
      return this.#bad(
        `quoted field runs past ${this.maxRecordChars} characters (unbalanced quote?)`,
      );
    }
    return { kind: "pending" };
  }

  #finishRecord(): CsvLineResult {
    const result: CsvLineResult = {
      kind: "record",
      fields: this.#fields,
      startLine: this.#startLine,
    };
    this.#reset();
    return result;
  }

  #bad(reason: string): CsvLineResult {
    const result: CsvLineResult = { kind: "bad", reason, startLine: this.#startLine };
    this.#reset();
    return result;
  }

  #reset(): void {
    this.#fields = [];
    this.#field = "";
    this.#inQuotes = false;
  }
}
