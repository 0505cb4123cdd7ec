// Fake stage: writes to a path outside its output folder (the sandbox must refuse).
import type { StageContext, StageResult } from "../../lib/run/types.ts";

export async function run(ctx: StageContext): Promise<StageResult> {
  await Deno.writeTextFile(String(ctx.params.path), "escaped");
  return { metrics: { value: 1 } };
}
