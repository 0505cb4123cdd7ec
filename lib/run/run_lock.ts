import { join } from "node:path";

/** How often a waiting run retries the lock. */
export const RUN_LOCK_POLL_MS = 200;

/** Who holds the run lock. */
interface Holder {
  pid: number;
  host: string;
  /** Process start time from /proc (clock ticks), to tell a reused pid from the holder. */
  started: string | null;
  since: string;
}

/** Another live process holds the run lock and the caller asked not to wait. */
export class RunLockBusyError extends Error {
  constructor(readonly path: string, readonly holder: Holder) {
    super(
      `another run (pid ${holder.pid} on ${holder.host}, since ${holder.since}) holds ${path}`,
    );
    this.name = "RunLockBusyError";
  }
}

/** A held run lock; `release()` removes it (idempotent). */
export interface RunLock {
  readonly path: string;
  release(): void;
}

/** Options for {@linkcode acquireRunLock}. */
export interface RunLockOptions {
  /** Fail at once instead of waiting when another run holds the lock. */
  noWait?: boolean;
  /** Called once when the lock is busy and the caller starts waiting. */
  onWait?: (message: string) => void;
  /** Stop waiting when aborted (throws the signal's reason). */
  signal?: AbortSignal;
}

/**
 * Take the single-writer lock of a cache folder (`<cache>/.run.lock`). Waits while another live
 * run holds it (or throws {@linkcode RunLockBusyError} with `noWait`); a lock left by a dead process
 * on this host is taken over.
 */
export async function acquireRunLock(
  cacheDir: string,
  options: RunLockOptions = {},
): Promise<RunLock> {
  await Deno.mkdir(cacheDir, { recursive: true });
  const path = join(cacheDir, ".run.lock");
  const me: Holder = {
    pid: Deno.pid,
    host: Deno.hostname(),
    started: processStart(Deno.pid),
    since: new Date().toISOString(),
  };
  let warned = false;
  while (true) {
    options.signal?.throwIfAborted();
    try {
      await Deno.writeTextFile(path, JSON.stringify(me) + "\n", { createNew: true });
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          try {
            Deno.removeSync(path);
          } catch { /* already gone */ }
        },
      };
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    const holder = readHolder(path);
    if (holder === undefined) continue; // removed meanwhile: retry at once
    if (holder === null || !isAlive(holder)) {
      // Stale lock: move it aside (only one taker's rename succeeds) and retry.
      try {
        Deno.renameSync(path, `${path}.stale.${Deno.pid}`);
        Deno.removeSync(`${path}.stale.${Deno.pid}`);
      } catch { /* someone else took it over */ }
      continue;
    }
    const busy = new RunLockBusyError(path, holder);
    if (options.noWait) throw busy;
    if (!warned) {
      options.onWait?.(`waiting: ${busy.message}`);
      warned = true;
    }
    await new Promise((resolve) => setTimeout(resolve, RUN_LOCK_POLL_MS));
  }
}

/** The holder recorded in the lock; null when unreadable (half-written), undefined when gone. */
function readHolder(path: string): Holder | null | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as Holder;
  } catch {
    // A holder writes its record in one small write; give it a moment before calling it stale.
    const age = Date.now() - (Deno.statSync(path).mtime?.getTime() ?? 0);
    return age > 2000 ? null : { pid: -1, host: Deno.hostname(), started: null, since: "now" };
  }
}

function isAlive(holder: Holder): boolean {
  if (holder.pid === -1) return true;
  if (holder.host !== Deno.hostname()) return true; // cannot check another machine: assume alive
  const started = processStart(holder.pid);
  if (started === null) return false;
  return holder.started === null || started === holder.started;
}

/** Start time of a process (field 22 of /proc/PID/stat), or null when there is no such process. */
function processStart(pid: number): string | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}
