/**
 * After a run, the results users look for sit at the top of the cache: the declared outputs of the
 * pipeline's final stages (for peftlab's pipelines, the aggregate's `metrics.md`, `metrics.json`,
 * `metrics.csv` and `report.html`) are copied to `artifacts/<name>`, each written to a temporary
 * file and renamed so a reader never sees half a file.
 *
 * @module
 */
import { basename, join } from "node:path";
import type { Pipeline } from "../dag/types.ts";
import { outputPath } from "../cache/store.ts";
import type { LockFile } from "../cache/lockfile.ts";

/** Copies the final stages' declared output files to the cache root; returns the paths written. */
export async function publishFinalOutputs(pipeline: Pipeline, lock: LockFile): Promise<string[]> {
  const written: string[] = [];
  for (const name of pipeline.order) {
    if (pipeline.graph.outDegree(name) > 0) continue;
    const entry = lock.stages[name];
    const spec = pipeline.stages.get(name)!;
    if (!entry) continue;
    for (const out of spec.outs) {
      const from = join(outputPath(pipeline.cacheDir, entry.output), out);
      let info: Deno.FileInfo;
      try {
        info = await Deno.stat(from);
      } catch {
        continue;
      }
      if (!info.isFile) continue;
      const to = join(pipeline.cacheDir, basename(out));
      const temporary = `${to}.${crypto.randomUUID()}.tmp`;
      await Deno.copyFile(from, temporary);
      await Deno.chmod(temporary, 0o644);
      await Deno.rename(temporary, to);
      written.push(to);
    }
  }
  return written;
}
