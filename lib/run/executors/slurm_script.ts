/**
 * The batch script and `sbatch` options of one stage job.
 *
 * @module
 */
import type { StageResources } from "../../dag/types.ts";

/** Quote `value` for a POSIX shell. */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replaceAll("'", `'"'"'`)}'`;
}

/** What {@link sbatchOptions} needs besides the stage's resources. */
export interface SbatchJobOptions {
  /** Job name shown by `squeue`, e.g. `peftlab:train-lora`. */
  jobName: string;
  /** File the job's stdout and stderr go to. */
  outputPath: string;
  /** Working directory of the job. */
  cwd: string;
  /** Job ids that must complete successfully first (`--dependency=afterok:…`). */
  after?: string[];
}

/**
 * sbatch options for a stage: name, output file, working directory, the stage's resources
 * (`cpus` → `--cpus-per-task`, `mem` → `--mem`, `gpus` → `--gpus`, `time` → `--time`,
 * `partition` → `--partition`, then the raw `sbatch` list) and, with upstream jobs, an `afterok`
 * dependency plus `--kill-on-invalid-dep=yes` so that a job whose upstream failed is cancelled
 * instead of pending forever (reason `DependencyNeverSatisfied`).
 */
export function sbatchOptions(
  resources: StageResources | undefined,
  job: SbatchJobOptions,
): string[] {
  const options = [
    `--job-name=${job.jobName}`,
    `--output=${job.outputPath}`,
    `--chdir=${job.cwd}`,
    "--ntasks=1",
    "--nodes=1",
  ];
  if (resources?.cpus !== undefined) options.push(`--cpus-per-task=${resources.cpus}`);
  if (resources?.mem !== undefined) options.push(`--mem=${resources.mem}`);
  if (resources?.gpus !== undefined && resources.gpus > 0) options.push(`--gpus=${resources.gpus}`);
  if (resources?.time !== undefined) options.push(`--time=${resources.time}`);
  if (resources?.partition !== undefined) options.push(`--partition=${resources.partition}`);
  if (job.after && job.after.length > 0) {
    options.push(`--dependency=afterok:${job.after.join(":")}`, "--kill-on-invalid-dep=yes");
  }
  options.push(...(resources?.sbatch ?? []));
  return options;
}

/** What the batch script of a stage does. */
export interface BatchScriptOptions {
  /** Stage name (a comment in the script). */
  stage: string;
  /** argv of the sandboxed stage process. */
  command: string[];
  /** Its complete environment (the job's own environment is not passed on). */
  env: Record<string, string>;
  /** Working directory. */
  cwd: string;
  /** Folder the stage writes its output to. */
  outDir: string;
  /** Where a successful output is moved; a rename, so it is complete or absent. */
  finishedDir: string;
  /** File the script writes the stage's exit code to, for when the controller forgot the job. */
  exitCodePath: string;
}

/**
 * A bash batch script that runs the sandboxed stage command with exactly its environment, then,
 * on success, moves the output folder to `finishedDir` (first to a hidden sibling, then one
 * rename, so a job that dies midway never leaves a partial output there) and records the exit
 * code in `exitCodePath` (written to a temporary name and renamed).
 */
export function batchScript(options: BatchScriptOptions): string {
  const q = shellQuote;
  const envArgs = Object.entries(options.env).map(([name, value]) => q(`${name}=${value}`));
  const finishedParent = options.finishedDir.replace(/\/[^/]+\/?$/, "");
  return [
    "#!/bin/bash",
    `# peftlab stage ${options.stage.replaceAll("\n", " ")}`,
    `cd ${q(options.cwd)} || exit 1`,
    `env -i ${envArgs.join(" ")} ${options.command.map(q).join(" ")}`,
    "code=$?",
    `if [ "$code" -eq 0 ] && [ ! -d ${q(options.finishedDir)} ]; then`,
    `  partial=${q(finishedParent)}/.partial-$SLURM_JOB_ID`,
    `  mkdir -p ${q(finishedParent)} && rm -rf "$partial" && mv -T ${
      q(options.outDir)
    } "$partial" \\`,
    `    && mv -T "$partial" ${q(options.finishedDir)}`,
    // An identical job may have finished first: its output is as good as ours.
    `  [ -d ${q(options.finishedDir)} ] || code=70`,
    "fi",
    `printf '%s\\n' "$code" > ${q(options.exitCodePath)}.$SLURM_JOB_ID \\`,
    `  && mv -f ${q(options.exitCodePath)}.$SLURM_JOB_ID ${q(options.exitCodePath)}`,
    'exit "$code"',
    "",
  ].join("\n");
}
