/**
 * What the SLURM executor keeps on the shared filesystem so that a restarted coordinator finds the
 * jobs an earlier one submitted: a record per job identity, attempt folders and finished outputs.
 *
 * Layout under the state folder (`<cache>/slurm` by default):
 * `jobs/<identity>.json` (the last submission of that identity), `attempts/<identity>.<n>/`
 * (job.json, job.sh, slurm.out, exit-code, out/) and `outputs/<identity>/` (a finished output).
 *
 * @module
 */
import { join } from "node:path";
import { canonicalJson, hashFileContent, sha256Hex } from "../../cache/mod.ts";
import type { StageJob } from "../executor.ts";
import { writeTextFileAtomic } from "../../util/fs.ts";

/** Files up to this size are identified by content; larger ones by path, size, mtime and inode. */
const CONTENT_IDENTITY_MAX_BYTES = 4 * 1024 * 1024;

/** The last submission of one job identity. */
export interface JobRecord {
  /** Identity of the work (see {@link jobIdentity}). */
  identity: string;
  stage: string;
  jobId: string;
  /** Attempt folder holding the script, its output log and exit code. */
  attemptDir: string;
  /** ISO time of submission. */
  submittedAt: string;
}

/** Paths of the state folder. */
export class SlurmState {
  /** Root of the state folder (must be on a filesystem every node shares). */
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Record file of `identity`. */
  recordPath(identity: string): string {
    return join(this.dir, "jobs", `${identity}.json`);
  }

  /** Where the finished output of `identity` is moved by its job. */
  finishedDir(identity: string): string {
    return join(this.dir, "outputs", identity);
  }

  /** Folder holding attempt folders. */
  attemptsDir(): string {
    return join(this.dir, "attempts");
  }

  /** The record of `identity`, or undefined when none (or unreadable). */
  async readRecord(identity: string): Promise<JobRecord | undefined> {
    try {
      return JSON.parse(await Deno.readTextFile(this.recordPath(identity))) as JobRecord;
    } catch {
      return undefined;
    }
  }

  /** Write a record (temporary file, then rename). */
  async writeRecord(record: JobRecord): Promise<void> {
    const path = this.recordPath(record.identity);
    await Deno.mkdir(join(this.dir, "jobs"), { recursive: true });
    await writeTextFileAtomic(path, JSON.stringify(record, null, 2) + "\n");
  }

  /** Forget `identity`: its record, finished output and attempt folder. */
  async forget(identity: string, attemptDir?: string): Promise<void> {
    const remove = (path: string) => Deno.remove(path, { recursive: true }).catch(() => {});
    await remove(this.recordPath(identity));
    await makeWritable(this.finishedDir(identity));
    await remove(this.finishedDir(identity));
    if (attemptDir) await remove(attemptDir);
  }
}

/**
 * Identity of the work a stage job does, stable across coordinator runs. With `job.key` (what
 * the scheduler passes): SHA-256 over the stage name and that key. Without: SHA-256 over the
 * stage name, its job file (params, inputs; its own temporary folder left out) and every file the
 * sandbox lets it read (code by content; files over 4 MiB by size, mtime and inode). Folders are
 * identified by path, which for stored outputs already names their content hash.
 */
export async function jobIdentity(job: StageJob): Promise<string> {
  if (job.key !== undefined) {
    return sha256Hex(canonicalJson({ stage: job.stage, key: job.key })).slice(0, 32);
  }
  const parts: Record<string, unknown> = { stage: job.stage };
  const jobFile = join(job.workDir, "job.json");
  try {
    parts.job = (await Deno.readTextFile(jobFile)).replaceAll(job.workDir, "<work>");
  } catch {
    parts.command = job.command.map((arg) => arg.replaceAll(job.workDir, "<work>"));
  }
  const reads: Record<string, string> = {};
  for (const path of readPaths(job.command)) {
    if (path.startsWith(job.workDir)) continue;
    try {
      const stat = await Deno.stat(path);
      if (!stat.isFile) continue;
      reads[path] = stat.size <= CONTENT_IDENTITY_MAX_BYTES
        ? await hashFileContent(path)
        : `${stat.size}:${stat.mtime?.getTime()}:${stat.ino}`;
    } catch {
      reads[path] = "missing";
    }
  }
  parts.reads = reads;
  return sha256Hex(canonicalJson(parts)).slice(0, 32);
}

function readPaths(command: string[]): string[] {
  const flag = command.find((arg) => arg.startsWith("--allow-read="));
  return flag ? flag.slice("--allow-read=".length).split(",").filter(Boolean) : [];
}

async function makeWritable(dir: string): Promise<void> {
  try {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await makeWritable(path);
    }
    await Deno.chmod(dir, 0o755);
  } catch { /* absent */ }
}

/**
 * Give `target` the same files as `source` by hard links (a copy across filesystems), replacing
 * whatever `target` held. Both stay valid: the stored copy for dependents and recovery, the new
 * one for the scheduler to commit.
 */
export async function linkTree(source: string, target: string): Promise<void> {
  await Deno.remove(target, { recursive: true }).catch(() => {});
  await Deno.mkdir(target, { recursive: true });
  for await (const entry of Deno.readDir(source)) {
    const from = join(source, entry.name);
    const to = join(target, entry.name);
    if (entry.isDirectory) await linkTree(from, to);
    else {
      try {
        await Deno.link(from, to);
      } catch {
        await Deno.copyFile(from, to);
      }
    }
  }
}
