// Fake stage: writes half an output and its pid, then waits to be killed.
import type { StageContext, StageResult } from "../../lib/run/types.ts";

export async function run(ctx: StageContext): Promise<StageResult> {
  await Deno.writeTextFile(`${ctx.outDir}/partial.txt`, "half of the output");
  await Deno.writeTextFile(`${ctx.outDir}/pid`, String(Deno.pid));
  await new Promise((resolve) => setTimeout(resolve, Number(ctx.params.sleep_ms ?? 60_000)));
  await Deno.writeTextFile(`${ctx.outDir}/partial.txt`, "the whole output");
  return { metrics: { value: 1 } };
}
