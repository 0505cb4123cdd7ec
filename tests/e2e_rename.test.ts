/**
 * Stages declare roles, not names: a copy of the smoke pipeline whose tuning stages are renamed
 * `tune-*` (and whose evaluate wiring says so) runs the real stages with no code change.
 *
 * @module
 */
import { assert, assertEquals } from "./asserts.ts";
import {
  describeRun,
  makeWorkspace,
  readLock,
  runPipelineCli,
  writeSmokePipeline,
} from "./e2e/smoke.ts";
import type { YAMLMap } from "yaml";

Deno.test("e2e roles: renaming train-lora to tune-lora in a copy of the smoke pipeline runs with no code change", async () => {
  const workspace = await makeWorkspace("rename");
  try {
    const file = await writeSmokePipeline(workspace, "renamed", (doc) => {
      const stages = doc.get("stages") as YAMLMap;
      for (const method of ["prompt", "lora", "ia3", "full"]) {
        const spec = stages.get(`train-${method}`);
        stages.delete(`train-${method}`);
        stages.set(`tune-${method}`, spec);
      }
      doc.setIn(["stages", "evaluate", "needs", "tuned"], "tune-${matrix.method}");
    });
    const run = await runPipelineCli([
      "--file",
      file,
      "--stage",
      "evaluate[method=lora]",
      "--json",
    ]);
    assertEquals(run.code, 0, describeRun(run));
    const lock = await readLock(file);
    assert(lock, "no lock written");
    assertEquals(Object.keys(lock.stages).sort(), [
      "evaluate[method=lora]",
      "pretrain",
      "tokenize",
      "tune-lora",
    ]);
    const evaluation = lock.stages["evaluate[method=lora]"].metrics;
    assertEquals(evaluation.trainableParams, lock.stages["tune-lora"].metrics.trainableParams);
    assertEquals(
      lock.stages["evaluate[method=lora]"].upstream["tune-lora"],
      lock.stages["tune-lora"].output,
    );
  } finally {
    await workspace.remove();
  }
});
