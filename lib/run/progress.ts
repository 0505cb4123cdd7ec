import type { MetricValue } from "./types.ts";

/** One thing that happened during a run; `--json` prints each as one line. */
export interface RunEvent {
  event:
    | "start"
    | "skip"
    | "finish"
    | "fail"
    | "would-run"
    | "progress"
    | "cancel"
    | "not-run";
  stage: string;
  /** Why the stage runs (or is skipped), reasons joined with "; ". */
  reason?: string;
  duration_s?: number;
  metrics?: Record<string, MetricValue>;
  error?: string;
  /** Stage log file. */
  log?: string;
  /**
   * A failed stage's last output: the lines of its error after the first (e.g. a SLURM job's
   * output, a stack trace), or else the last lines of its log.
   */
  tail?: string[];
  done?: number;
  total?: number;
  message?: string;
}

/** Receives run events (console output, JSON lines, tests). */
export interface Reporter {
  event(event: RunEvent): void;
  /** Print anything pending (e.g. clear the live lines). */
  close(): void;
}

/** Seconds between plain progress lines for a running stage when not on a terminal. */
export const PLAIN_PROGRESS_INTERVAL_MS = 10_000;
/** Redraw interval of the live lines on a terminal. */
export const LIVE_REDRAW_MS = 100;
/** Seconds between `--json` progress events per stage. */
export const JSON_PROGRESS_INTERVAL_MS = 1000;

const encoder = new TextEncoder();

/** Prints each event as one JSON line on stdout (progress throttled per stage). */
export class JsonReporter implements Reporter {
  #lastProgress = new Map<string, number>();

  event(event: RunEvent): void {
    if (event.event === "progress") {
      const now = performance.now();
      const last = this.#lastProgress.get(event.stage) ?? -Infinity;
      if (now - last < JSON_PROGRESS_INTERVAL_MS && event.done !== event.total) return;
      this.#lastProgress.set(event.stage, now);
    }
    Deno.stdout.writeSync(encoder.encode(JSON.stringify(event) + "\n"));
  }

  close(): void {}
}

/**
 * Human console output: one line per start/skip/finish/fail. On a terminal, one live progress line
 * per running stage is redrawn below them; otherwise a plain progress line is printed per running
 * stage every `plainIntervalMs` (default {@linkcode PLAIN_PROGRESS_INTERVAL_MS}).
 */
export class ConsoleReporter implements Reporter {
  #running = new Map<string, { started: number; progress?: RunEvent; lastPrinted: number }>();
  #liveLines = 0;
  #liveText = "";
  #timer: ReturnType<typeof setInterval>;

  constructor(
    readonly live = Deno.stdout.isTerminal(),
    readonly quietSkips = false,
    readonly plainIntervalMs = PLAIN_PROGRESS_INTERVAL_MS,
  ) {
    this.#timer = live
      ? setInterval(() => this.#redraw(), LIVE_REDRAW_MS)
      : setInterval(() => this.#plainProgress(), Math.min(1000, plainIntervalMs));
    Deno.unrefTimer(this.#timer);
  }

  event(event: RunEvent): void {
    switch (event.event) {
      case "start":
        this.#running.set(event.stage, {
          started: performance.now(),
          lastPrinted: performance.now(),
        });
        this.#print(`▶ ${event.stage}: running (${event.reason})`);
        break;
      case "progress": {
        const running = this.#running.get(event.stage);
        if (running) running.progress = event;
        break;
      }
      case "skip":
        if (event.reason !== "fresh") this.#print(`✓ ${event.stage}: ${event.reason}`);
        else if (!this.quietSkips) this.#print(`✓ ${event.stage}: fresh, skipped`);
        break;
      case "would-run":
        this.#print(`• ${event.stage}: would run (${event.reason})`);
        break;
      case "finish":
        this.#running.delete(event.stage);
        this.#print(
          `✔ ${event.stage}: done in ${event.duration_s?.toFixed(1)} s${headline(event.metrics)}`,
        );
        break;
      case "fail":
        this.#running.delete(event.stage);
        this.#print(
          `✖ ${event.stage}: failed: ${event.error}${event.log ? ` (log: ${event.log})` : ""}` +
            (event.tail ?? []).map((line) => `\n    ${line}`).join(""),
        );
        break;
      case "not-run":
        this.#running.delete(event.stage);
        this.#print(`– ${event.stage}: not run (${event.reason})`);
        break;
      case "cancel":
        this.#running.delete(event.stage);
        this.#print(`■ ${event.stage}: cancelled`);
        break;
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.#clearLive();
  }

  #print(line: string) {
    this.#clearLive();
    Deno.stdout.writeSync(encoder.encode(line + "\n"));
    if (this.live) this.#drawLive();
  }

  #clearLive() {
    if (this.#liveLines > 0) {
      Deno.stdout.writeSync(encoder.encode(`\x1b[${this.#liveLines}A\x1b[J`));
      this.#liveLines = 0;
      this.#liveText = "";
    }
  }

  #liveLinesText(): string[] {
    const columns = Deno.stdout.isTerminal() ? Deno.consoleSize().columns : 0;
    const width = columns > 20 ? columns : 100;
    return [...this.#running.entries()].map(([stage, state]) =>
      progressLine(stage, state.started, state.progress).slice(0, width - 1)
    );
  }

  #drawLive() {
    const lines = this.#liveLinesText();
    if (lines.length > 0) Deno.stdout.writeSync(encoder.encode(lines.join("\n") + "\n"));
    this.#liveLines = lines.length;
    this.#liveText = lines.join("\n");
  }

  #redraw() {
    if (this.#running.size === 0 && this.#liveLines === 0) return;
    if (this.#liveLinesText().join("\n") === this.#liveText) return; // nothing new to show
    this.#clearLive();
    this.#drawLive();
  }

  #plainProgress() {
    const now = performance.now();
    for (const [stage, state] of this.#running) {
      if (now - state.lastPrinted < this.plainIntervalMs) continue;
      state.lastPrinted = now;
      Deno.stdout.writeSync(
        encoder.encode(progressLine(stage, state.started, state.progress) + "\n"),
      );
    }
  }
}

function progressLine(stage: string, started: number, progress?: RunEvent): string {
  const elapsed = ((performance.now() - started) / 1000).toFixed(0);
  if (!progress || !progress.total) return `  ${stage}: running ${elapsed} s`;
  const percent = Math.floor((100 * (progress.done ?? 0)) / progress.total);
  return `  ${stage}: ${percent}% (${progress.done}/${progress.total}) ${elapsed} s${
    progress.message ? ` ${progress.message}` : ""
  }`;
}

function headline(metrics?: Record<string, MetricValue>): string {
  if (!metrics) return "";
  const shown = Object.entries(metrics).filter(([, v]) => typeof v !== "object").slice(0, 4);
  if (shown.length === 0) return "";
  return ` (${
    shown.map(([k, v]) => `${k}=${typeof v === "number" ? Number(v.toPrecision(4)) : v}`).join(", ")
  })`;
}
