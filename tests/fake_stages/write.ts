// Fake stage: writes its params and the sum of its upstream values; value = params.value + sum.
import { describeParams } from "./helper.ts";
import type { StageContext, StageResult } from "../../lib/run/types.ts";

export async function run(ctx: StageContext): Promise<StageResult> {
  let upstreamSum = 0;
  for (const [name, path] of Object.entries(ctx.inputs)) {
    if (name.includes("/")) {
      await Deno.readTextFile(path); // a declared file dependency must be readable
      continue;
    }
    const metrics = JSON.parse(await Deno.readTextFile(`${path}/metrics.json`));
    upstreamSum += Number(metrics.value ?? 0);
  }
  const value = Number(ctx.params.value ?? 1) + upstreamSum;
  ctx.progress(1, 2, "writing");
  await Deno.writeTextFile(`${ctx.outDir}/result.json`, describeParams(ctx.params));
  if (typeof ctx.params.sleep_ms === "number") {
    await new Promise((resolve) => setTimeout(resolve, ctx.params.sleep_ms as number));
  }
  ctx.progress(2, 2);
  ctx.log(`inputs: ${Object.keys(ctx.inputs).join(",")}`);
  return { metrics: { value, ratio: value / 3, started_ms: Date.now() } };
}
