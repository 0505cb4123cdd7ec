/**
 * Minimal driving code for executor tests: builds stage jobs the way the scheduler does (job file,
 * temporary output folder, sandboxed command) so the SLURM executor can be driven directly, for
 * example to queue a whole chain at once with `afterok` dependencies.
 *
 * @module
 */
import { join, resolve } from "node:path";
import type { StageJob } from "../../lib/run/executor.ts";
import { sandboxCommand, sandboxEnv } from "../../lib/run/sandbox.ts";
import type { WorkerJob } from "../../lib/run/stage_worker.ts";
import type { WorkerEvent } from "../../lib/run/protocol.ts";

/** A stage to turn into a job: its module (relative to the project) and params. */
export interface TestStage {
  stage: string;
  uses: string;
  params?: Record<string, unknown>;
  /** Upstream stage name → its output folder. */
  inputs?: Record<string, string>;
}

/** Prepare a stage job in `project`, with its attempt folder under `<cacheDir>/tmp`. */
export async function makeStageJob(
  project: string,
  cacheDir: string,
  stage: TestStage,
): Promise<StageJob> {
  const safeName = stage.stage.replace(/[^A-Za-z0-9_.=,-]/g, "_");
  await Deno.mkdir(join(cacheDir, "tmp"), { recursive: true });
  await Deno.mkdir(join(cacheDir, "logs"), { recursive: true });
  const workDir = await Deno.makeTempDir({ dir: join(cacheDir, "tmp"), prefix: `${safeName}-` });
  const outDir = join(workDir, "out");
  await Deno.mkdir(outDir);
  const inputs = stage.inputs ?? {};
  const module = resolve(project, stage.uses);
  const job: WorkerJob = { stage: stage.stage, module, params: stage.params ?? {}, inputs, outDir };
  const jobFile = join(workDir, "job.json");
  await Deno.writeTextFile(jobFile, JSON.stringify(job));
  const logPath = join(cacheDir, "logs", `${safeName}.log`);
  await Deno.writeTextFile(logPath, "");
  const stagesDir = join(project, "stages");
  const command = sandboxCommand({
    root: project,
    jobFile,
    outDir,
    readPaths: [
      ...[...Deno.readDirSync(stagesDir)].map((entry) => join(stagesDir, entry.name)),
      ...Object.values(inputs),
    ],
  });
  return { stage: stage.stage, command, cwd: project, env: sandboxEnv(), workDir, outDir, logPath };
}

/** Collects a stage's worker events. */
export class EventLog {
  /** Every event received, in order. */
  readonly events: WorkerEvent[] = [];
  /** Pass to `start` / `submit`. */
  readonly onEvent = (event: WorkerEvent): void => {
    this.events.push(event);
  };

  /** Messages of the `error` events. */
  errors(): string[] {
    return this.events.flatMap((event) => event.type === "error" ? [event.message] : []);
  }
}
