// Fake stage: reads its upstream by role, never by stage name: value = upstream `source` value + 1.
import type { StageContext, StageResult } from "../../lib/run/types.ts";
import { neededFolder } from "../../lib/stagekit/needs.ts";

export async function run(ctx: StageContext): Promise<StageResult> {
  const source = neededFolder(ctx, "source", "the value to increment");
  const metrics = JSON.parse(await Deno.readTextFile(`${source}/metrics.json`)).metrics;
  return { metrics: { value: Number(metrics.value) + 1 } };
}
