// Fake stage: writes (or with params.read, reads) a path outside what it declared; the sandbox
// must refuse.
import type { StageContext, StageResult } from "../../lib/run/types.ts";

export async function run(ctx: StageContext): Promise<StageResult> {
  if (ctx.params.read) await Deno.readTextFile(String(ctx.params.path));
  else await Deno.writeTextFile(String(ctx.params.path), "escaped");
  return { metrics: { value: 1 } };
}
