/**
 * Download progress: a live bar on a terminal, plain periodic lines otherwise (logs, CI).
 *
 * @module
 */

/** One progress report of a file download. */
export interface DownloadProgress {
  /** The repository file, e.g. `model.safetensors`. */
  file: string;
  /** Bytes on disk so far, a resumed part included. */
  doneBytes: number;
  /** Expected size in bytes. */
  totalBytes: number;
  /** True on the last report of the file. */
  finished: boolean;
}

/** Receives download progress; called often, so it throttles itself. */
export type ProgressSink = (progress: DownloadProgress) => void;

/** Minimum time between two redraws of the terminal bar. */
export const BAR_REDRAW_MS = 100;
/** Time between two plain progress lines of one file when not on a terminal. */
export const PLAIN_LINE_INTERVAL_MS = 5_000;
const BAR_WIDTH = 30;
const encoder = new TextEncoder();

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function percent(progress: DownloadProgress): string {
  const fraction = progress.totalBytes > 0 ? progress.doneBytes / progress.totalBytes : 1;
  return `${Math.floor(fraction * 100)}%`;
}

/**
 * A sink that writes to `out` (default stderr): on a terminal, one redrawn line per file
 * (`file [#####-----] 45% 1.2/2.7 MB`); elsewhere a line when a file starts, every
 * {@link PLAIN_LINE_INTERVAL_MS} while it downloads, and when it is done.
 */
export function consoleProgress(
  out: { writeSync(bytes: Uint8Array): number; isTerminal(): boolean } = Deno.stderr,
): ProgressSink {
  const terminal = out.isTerminal();
  const lastWriteMs = new Map<string, number>();
  const write = (text: string) => out.writeSync(encoder.encode(text));
  return (progress) => {
    const now = performance.now();
    const last = lastWriteMs.get(progress.file);
    const interval = terminal ? BAR_REDRAW_MS : PLAIN_LINE_INTERVAL_MS;
    if (last !== undefined && !progress.finished && now - last < interval) return;
    lastWriteMs.set(progress.file, now);
    const sizes = `${megabytes(progress.doneBytes)}/${megabytes(progress.totalBytes)}`;
    if (terminal) {
      const fraction = progress.totalBytes > 0 ? progress.doneBytes / progress.totalBytes : 1;
      const filled = Math.round(fraction * BAR_WIDTH);
      const bar = "#".repeat(filled) + "-".repeat(BAR_WIDTH - filled);
      write(`\r\x1b[2K${progress.file} [${bar}] ${percent(progress)} ${sizes}`);
      if (progress.finished) write("\n");
    } else if (last === undefined && !progress.finished) {
      write(`downloading ${progress.file} (${megabytes(progress.totalBytes)})\n`);
    } else {
      const state = progress.finished ? "done" : percent(progress);
      write(`${progress.file}: ${state} (${sizes})\n`);
    }
  };
}
