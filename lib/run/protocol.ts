import type { MetricValue } from "./types.ts";

/**
 * Prefix of the lines a stage worker prints on stdout to talk to the engine; every other line is
 * plain log output. Executors that only see a log file (SLURM) parse the same lines from it.
 */
export const EVENT_PREFIX = "@@peftlab ";

/** A message from a running stage worker to the engine. */
export type WorkerEvent =
  | { type: "progress"; done: number; total: number; message?: string }
  | { type: "log"; message: string }
  | { type: "result"; metrics: Record<string, MetricValue> }
  /**
   * The stage failed. `user`: a user's mistake (configuration, data, checkpoint, missing file)
   * whose message is one line; the stack went to the log. Otherwise `message` holds the stack.
   */
  | { type: "error"; message: string; path?: string; user?: boolean };

/** Encode an event as one line (no trailing newline). */
export function encodeEvent(event: WorkerEvent): string {
  return EVENT_PREFIX + JSON.stringify(event);
}

/** Decode a worker output line: the event it carries, or undefined for a plain log line. */
export function parseWorkerLine(line: string): WorkerEvent | undefined {
  if (!line.startsWith(EVENT_PREFIX)) return undefined;
  try {
    return JSON.parse(line.slice(EVENT_PREFIX.length)) as WorkerEvent;
  } catch {
    return undefined;
  }
}
