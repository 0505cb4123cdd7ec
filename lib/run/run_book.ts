/**
 * The record of a run: what happened to each stage goes to the summary, the reporter, the lock
 * file and the run cache in one place, for the local and the queued (SLURM) loop alike.
 *
 * @module
 */
import { type LockEntry, type LockFile, saveRunCache } from "../cache/mod.ts";
import type { StageSpec } from "../dag/types.ts";
import type { Reporter } from "./progress.ts";

/** What a run did. */
export interface RunSummary {
  ran: string[];
  skipped: string[];
  /** Stale stages whose earlier result for the same inputs came back from the run cache. */
  restored: string[];
  failed: string[];
  /** Stages that did not run because an upstream stage failed. */
  notRun: string[];
  /** Stages that would run (dry run only). */
  wouldRun: string[];
  /** The run was cancelled by the signal. */
  cancelled: boolean;
  /** The lock file contents after the run. */
  lock: LockFile;
}

/** Records each stage's outcome (see the module doc). */
export class RunBook {
  constructor(
    readonly summary: RunSummary,
    readonly reporter: Reporter,
    readonly cacheDir: string,
    /** Writes the lock file (serialised by the caller). */
    readonly saveLock: () => Promise<void>,
  ) {}

  /** The stage is fresh: skipped. */
  fresh(name: string): void {
    this.summary.skipped.push(name);
    this.reporter.event({ event: "skip", stage: name, reason: "fresh" });
  }

  /** The stage's result came back from the run cache: recorded in the lock. */
  async restored(name: string, entry: LockEntry, reason: string): Promise<void> {
    this.summary.lock.stages[name] = entry;
    await this.saveLock();
    this.summary.restored.push(name);
    this.reporter.event({ event: "skip", stage: name, reason });
  }

  /** The stage ran and succeeded: recorded in the lock and the run cache. */
  async ran(name: string, entry: LockEntry): Promise<void> {
    this.summary.lock.stages[name] = entry;
    await this.saveLock();
    await saveRunCache(this.cacheDir, entry);
    this.summary.ran.push(name);
  }

  /** The stage failed; `error` is reported unless its failure was reported already. */
  failed(name: string, error?: string): void {
    this.summary.failed.push(name);
    if (error !== undefined) this.reporter.event({ event: "fail", stage: name, error });
  }

  /** The stage did not run (an upstream stage failed or did not run). */
  notRun(name: string, reason: string): void {
    this.summary.notRun.push(name);
    this.reporter.event({ event: "not-run", stage: name, reason });
  }

  /**
   * Why `spec` cannot run: `upstream a, b failed` (or `not run`) when one of its upstream stages
   * failed or was not run — or, with `done`, has not finished; undefined when nothing blocks it.
   */
  blockedReason(spec: StageSpec, done?: Set<string>): string | undefined {
    const { failed, notRun } = this.summary;
    const blocked = spec.needs.filter((need) =>
      failed.includes(need) || notRun.includes(need) || (done !== undefined && !done.has(need))
    );
    if (blocked.length === 0) return undefined;
    const upstreamFailed = blocked.some((need) => failed.includes(need));
    return `upstream ${blocked.join(", ")} ${upstreamFailed ? "failed" : "not run"}`;
  }
}
