/**
 * The SLURM client commands peftlab uses (`sbatch`, `squeue`, `scontrol`, `scancel`), wrapped as
 * typed calls. Job state is read without `sacct`, which needs slurmdbd and is often unavailable.
 *
 * @module
 */

/** A SLURM client command failed (controller down, bad option, unknown partition, …). */
export class SlurmError extends Error {
  /** The command line that failed, e.g. `sbatch --parsable …`. */
  readonly command: string;
  /** Its exit code. */
  readonly exitCode: number;
  /** What it printed on stderr. */
  readonly stderr: string;

  constructor(command: string[], exitCode: number, stderr: string) {
    const shown = command.join(" ");
    super(`${command[0]} failed (exit ${exitCode}): ${stderr.trim() || "no message"}\n  ${shown}`);
    this.name = "SlurmError";
    this.command = shown;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** States after which a SLURM job never runs again. */
export const TERMINAL_JOB_STATES: ReadonlySet<string> = new Set([
  "COMPLETED",
  "FAILED",
  "CANCELLED",
  "TIMEOUT",
  "NODE_FAIL",
  "OUT_OF_MEMORY",
  "PREEMPTED",
  "BOOT_FAIL",
  "DEADLINE",
  "SPECIAL_EXIT",
  "REVOKED",
]);

/** What the controller says about one job. */
export interface SlurmJobInfo {
  jobId: string;
  /** `PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLED`, … (without `+` suffixes). */
  state: string;
  /** Why it is pending or how it ended, e.g. `Dependency`, `DependencyNeverSatisfied`. */
  reason: string;
  /** Exit code of the batch script, when `scontrol` reported it. */
  exitCode?: number;
  /** Signal that ended the batch script (0 when none), when `scontrol` reported it. */
  exitSignal?: number;
  /** Node(s) the job ran on, when known. */
  nodes?: string;
}

/** Whether a job in `state` has ended for good. */
export function isTerminalState(state: string): boolean {
  return TERMINAL_JOB_STATES.has(state);
}

/**
 * Parse one line of `scontrol show job -o` into job info; returns undefined for a line that
 * carries no `JobId=`.
 */
export function parseScontrolJob(line: string): SlurmJobInfo | undefined {
  const fields = new Map<string, string>();
  for (const match of line.matchAll(/(?:^|\s)([A-Za-z:/]+)=(\S*)/g)) {
    if (!fields.has(match[1])) fields.set(match[1], match[2]);
  }
  const jobId = fields.get("JobId");
  if (!jobId) return undefined;
  const info: SlurmJobInfo = {
    jobId,
    state: (fields.get("JobState") ?? "UNKNOWN").replace(/\+$/, ""),
    reason: fields.get("Reason") ?? "None",
  };
  const exit = /^(\d+):(\d+)$/.exec(fields.get("ExitCode") ?? "");
  if (exit) {
    info.exitCode = Number(exit[1]);
    info.exitSignal = Number(exit[2]);
  }
  const nodes = fields.get("NodeList");
  if (nodes && nodes !== "(null)") info.nodes = nodes;
  return info;
}

/**
 * Runs SLURM's client commands with `env` added to this process's environment (for example
 * `SLURM_CONF` to reach a particular cluster).
 */
export class SlurmClient {
  /** Extra environment for every client command. */
  readonly env: Record<string, string>;

  constructor(env: Record<string, string> = {}) {
    this.env = env;
  }

  /**
   * Submit `scriptPath` with `sbatch --parsable` and the given options; returns the job id.
   * Throws {@link SlurmError} when sbatch refuses the job.
   */
  async submit(options: string[], scriptPath: string): Promise<string> {
    const stdout = await this.#run(["sbatch", "--parsable", ...options, scriptPath]);
    // --parsable prints "jobid" or "jobid;cluster"
    const jobId = stdout.trim().split(";")[0];
    if (!/^\d+$/.test(jobId)) {
      throw new SlurmError(["sbatch", ...options, scriptPath], 0, `unexpected output: ${stdout}`);
    }
    return jobId;
  }

  /**
   * State of each of `jobIds` the controller still knows (one `squeue` call); jobs it has
   * forgotten (older than `MinJobAge`, or never existed) are absent from the result.
   */
  async states(jobIds: string[]): Promise<Map<string, SlurmJobInfo>> {
    const states = new Map<string, SlurmJobInfo>();
    if (jobIds.length === 0) return states;
    const args = ["squeue", "-h", "-t", "all", "-j", jobIds.join(","), "-o", "%i|%T|%r|%N"];
    const result = await this.#exec(args);
    // squeue exits 1 ("Invalid job id specified") when none of the ids is known.
    if (result.code !== 0) {
      if (/Invalid job id/i.test(result.stderr)) return states;
      throw new SlurmError(args, result.code, result.stderr);
    }
    for (const line of result.stdout.split("\n")) {
      const [jobId, state, reason, nodes] = line.trim().split("|");
      if (!jobId) continue;
      const info: SlurmJobInfo = { jobId, state: state.replace(/\+$/, ""), reason };
      if (nodes) info.nodes = nodes;
      states.set(jobId, info);
    }
    return states;
  }

  /**
   * Full record of one job from `scontrol show job -o` (state, reason, exit code), or undefined
   * when the controller no longer knows it.
   */
  async show(jobId: string): Promise<SlurmJobInfo | undefined> {
    const args = ["scontrol", "show", "job", "-o", jobId];
    const result = await this.#exec(args);
    if (result.code !== 0) {
      if (/Invalid job id/i.test(result.stderr)) return undefined;
      throw new SlurmError(args, result.code, result.stderr);
    }
    return parseScontrolJob(result.stdout.split("\n")[0] ?? "");
  }

  /** Cancel jobs with `scancel`; ids the controller no longer knows are ignored. */
  async cancel(jobIds: string[]): Promise<void> {
    if (jobIds.length === 0) return;
    const args = ["scancel", ...jobIds];
    const result = await this.#exec(args);
    if (
      result.code !== 0 && !/Invalid job id|already completing or completed/i.test(result.stderr)
    ) {
      throw new SlurmError(args, result.code, result.stderr);
    }
  }

  async #run(args: string[]): Promise<string> {
    const result = await this.#exec(args);
    if (result.code !== 0) throw new SlurmError(args, result.code, result.stderr);
    return result.stdout;
  }

  async #exec(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let output: Deno.CommandOutput;
    try {
      output = await new Deno.Command(args[0], {
        args: args.slice(1),
        env: this.env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new SlurmError(args, 127, `${args[0]} not found: is this a SLURM login node?`);
      }
      throw error;
    }
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  }
}
