/**
 * What `pipeline status` can show for SLURM: the stages whose jobs are queued or running, read
 * from the job records on the shared cache and one `squeue` call.
 *
 * @module
 */
import { join } from "node:path";
import { isTerminalState, SlurmClient } from "./slurm_commands.ts";
import type { JobRecord } from "./slurm_records.ts";

/** A stage whose SLURM job has not ended. */
export interface QueuedStage {
  stage: string;
  jobId: string;
  /** `PENDING`, `RUNNING`, … */
  state: string;
  /** Why it waits, e.g. `Dependency`, `Resources`, `Priority` (`None` while running). */
  reason: string;
  /** ISO time of submission. */
  submittedAt: string;
}

/**
 * Stages with a queued or running job recorded under `stateDir` (`<cache>/slurm`), in submission
 * order; jobs the controller no longer knows, or that ended, are left out. Throws SlurmError when
 * `squeue` cannot reach the controller.
 */
export async function queuedStages(
  stateDir: string,
  client: SlurmClient = new SlurmClient(),
): Promise<QueuedStage[]> {
  const records: JobRecord[] = [];
  try {
    for await (const entry of Deno.readDir(join(stateDir, "jobs"))) {
      if (!entry.name.endsWith(".json")) continue;
      try {
        records.push(JSON.parse(await Deno.readTextFile(join(stateDir, "jobs", entry.name))));
      } catch { /* being replaced right now */ }
    }
  } catch {
    return []; // nothing was ever submitted from this cache
  }
  if (records.length === 0) return [];
  const states = await client.states(records.map((record) => record.jobId));
  return records
    .flatMap((record) => {
      const info = states.get(record.jobId);
      if (!info || isTerminalState(info.state)) return [];
      return [{
        stage: record.stage,
        jobId: record.jobId,
        state: info.state,
        reason: info.reason,
        submittedAt: record.submittedAt,
      }];
    })
    .sort((a, b) => Number(a.jobId) - Number(b.jobId));
}
