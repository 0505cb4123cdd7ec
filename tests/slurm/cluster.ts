/**
 * Test harness for a real one-node SLURM cluster (Debian's slurmctld, slurmd, slurm-client and
 * munge), started by `scripts/slurm/start.sh` and stopped by `scripts/slurm/stop.sh`.
 *
 * Tests call {@link clusterSkipReason} to skip, with a clear message, where the cluster cannot run
 * (not root, packages missing), and {@link startTestCluster} to get a running cluster. A file lock
 * serialises test processes on one machine, since SLURM's ports 6817/6818 allow one cluster.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isFileSync } from "../../lib/util/fs.ts";

/** Where the test cluster keeps its configuration, state and logs. */
export const TEST_CLUSTER_DIR = "/tmp/peftlab-slurm-test";

const SCRIPTS_DIR = fileURLToPath(new URL("../../scripts/slurm/", import.meta.url));
const LOCK_PATH = `${TEST_CLUSTER_DIR}.lock`;
const REQUIRED_TOOLS = ["munged", "slurmctld", "slurmd", "sbatch", "scontrol", "squeue", "sinfo"];
const TOOL_DIRS = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** A running test cluster. */
export interface TestCluster {
  /** Folder holding slurm.conf, munge key/socket, state and daemon logs. */
  stateDir: string;
  /** Environment a SLURM client needs to reach this cluster (`SLURM_CONF`). */
  env: Record<string, string>;
  /** Milliseconds from launching the daemons to the node reported idle. */
  startMs: number;
  /** Shut the cluster down (`scontrol shutdown`, then munged) and release the lock. */
  stop(): Promise<void>;
}

/**
 * Why the SLURM tests cannot run here (not root, or the Debian packages are missing), or
 * undefined when they can.
 */
export function clusterSkipReason(): string | undefined {
  if (Deno.uid() !== 0) {
    return "SLURM tests skipped: the one-node test cluster must be started as root";
  }
  const missing = REQUIRED_TOOLS.filter((tool) =>
    !TOOL_DIRS.some((dir) => isFileSync(join(dir, tool)))
  );
  if (missing.length > 0) {
    return `SLURM tests skipped: ${missing.join(", ")} not installed ` +
      "(apt-get install -y slurmctld slurmd slurm-client munge)";
  }
  return undefined;
}

/**
 * Start a fresh one-node cluster in {@link TEST_CLUSTER_DIR} (after stopping any left over from
 * an earlier test run) and wait until its node is idle. Waits for other test processes holding
 * the cluster. Throws when the daemons do not come up, with the script's output.
 */
export async function startTestCluster(): Promise<TestCluster> {
  const lock = await Deno.open(LOCK_PATH, { create: true, write: true });
  await lock.lock(true);
  try {
    await runScript("stop.sh");
    await Deno.remove(TEST_CLUSTER_DIR, { recursive: true }).catch(() => {});
    const began = performance.now();
    await runScript("start.sh");
    const startMs = performance.now() - began;
    const env = { SLURM_CONF: join(TEST_CLUSTER_DIR, "slurm.conf") };
    return {
      stateDir: TEST_CLUSTER_DIR,
      env,
      startMs,
      async stop() {
        try {
          await runScript("stop.sh");
        } finally {
          await lock.unlock();
          lock.close();
        }
      },
    };
  } catch (error) {
    await lock.unlock();
    lock.close();
    throw error;
  }
}

async function runScript(name: string): Promise<string> {
  const output = await new Deno.Command("bash", {
    args: [join(SCRIPTS_DIR, name), TEST_CLUSTER_DIR],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  if (!output.success) {
    throw new Error(`scripts/slurm/${name} failed (exit ${output.code}):\n${text}`);
  }
  return text;
}

/** A job as `squeue -t all` lists it. */
export interface ListedJob {
  jobId: string;
  name: string;
  state: string;
  reason: string;
}

/** Every job the test cluster still knows (finished ones included), oldest first. */
export async function listJobs(cluster: TestCluster): Promise<ListedJob[]> {
  const output = await new Deno.Command("squeue", {
    args: ["-h", "-t", "all", "-o", "%i|%j|%T|%r"],
    env: cluster.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) throw new Error(new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout).split("\n").filter(Boolean).map((line) => {
    const [jobId, name, state, reason] = line.split("|");
    return { jobId, name, state, reason };
  }).sort((a, b) => Number(a.jobId) - Number(b.jobId));
}

/** One line of `scontrol show job -o ID` (the job's full record). */
export async function showJob(cluster: TestCluster, jobId: string): Promise<string> {
  const output = await new Deno.Command("scontrol", {
    args: ["show", "job", "-o", jobId],
    env: cluster.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) throw new Error(new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout).trim();
}

/** Wait until `check` returns a value other than undefined; throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** A job seen waiting on other jobs: its `Dependency=` field while it was PENDING. */
export interface SeenDependency {
  jobId: string;
  name: string;
  /** e.g. `afterok:12:13(unfulfilled)` as `scontrol` shows it. */
  dependency: string;
}

/**
 * Look at every job with `scontrol show job -o` every `intervalMs` until `until` settles, and
 * collect each job that was PENDING with an `afterok` dependency (first sighting per job).
 * Evidence that dependents were queued before their upstream finished.
 */
export async function watchDependencies(
  cluster: TestCluster,
  until: Promise<unknown>,
  intervalMs = 100,
): Promise<SeenDependency[]> {
  const seen = new Map<string, SeenDependency>();
  let settled = false;
  until.finally(() => settled = true).catch(() => {});
  while (!settled) {
    const output = await new Deno.Command("scontrol", {
      args: ["show", "job", "-o"],
      env: cluster.env,
      stdout: "piped",
      stderr: "null",
    }).output();
    for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
      const field = (name: string) => new RegExp(`(?:^|\\s)${name}=(\\S*)`).exec(line)?.[1];
      const jobId = field("JobId");
      const dependency = field("Dependency");
      if (!jobId || seen.has(jobId) || field("JobState") !== "PENDING") continue;
      if (!dependency?.startsWith("afterok:")) continue;
      seen.set(jobId, { jobId, name: field("JobName") ?? "", dependency });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return [...seen.values()].sort((a, b) => Number(a.jobId) - Number(b.jobId));
}
