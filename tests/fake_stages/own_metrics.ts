// Fake stage: writes its own metrics.json (as an aggregate stage writing a metrics table does).
import type { StageContext, StageResult } from "../../lib/run/types.ts";

export async function run(ctx: StageContext): Promise<StageResult> {
  await Deno.writeTextFile(`${ctx.outDir}/metrics.json`, '{"table": [1, 2]}');
  return { metrics: { rows: 2 } };
}
