// Fake stage: writes its params and the sum of its upstream values; value = params.value + sum.
// Its output records the inputs it saw. With params.stamp the output also holds the time, so every run gives a different output.
import { describeParams } from "./helper.ts";
import type { StageContext, StageResult } from "../../lib/run/types.ts";

export async function run(ctx: StageContext): Promise<StageResult> {
  let upstreamSum = 0;
  const seen: Record<string, string> = {};
  for (const [name, path] of Object.entries(ctx.inputs)) {
    if (name.includes("/")) {
      seen[name] = await Deno.readTextFile(path); // a declared file dependency must be readable
      continue;
    }
    const metrics = JSON.parse(await Deno.readTextFile(`${path}/metrics.json`));
    upstreamSum += Number(metrics.metrics.value ?? 0);
    const parts = ["result.json", "inputs.json", "stamp"].map((file) =>
      Deno.readTextFile(`${path}/${file}`).catch(() => "")
    );
    seen[name] = (await Promise.all(parts)).join("\n");
  }
  // What this stage saw, so its output changes whenever an input's content does.
  await Deno.writeTextFile(`${ctx.outDir}/inputs.json`, JSON.stringify(seen));
  const value = Number(ctx.params.value ?? 1) + upstreamSum;
  ctx.progress(1, 2, "writing");
  await Deno.writeTextFile(`${ctx.outDir}/result.json`, describeParams(ctx.params));
  if (ctx.params.stamp) await Deno.writeTextFile(`${ctx.outDir}/stamp`, String(Date.now()));
  if (typeof ctx.params.sleep_ms === "number") {
    await new Promise((resolve) => setTimeout(resolve, ctx.params.sleep_ms as number));
  }
  ctx.progress(2, 2);
  ctx.log(`inputs: ${Object.keys(ctx.inputs).join(",")}`);
  return { metrics: { value, ratio: value / 3, inputs: Object.keys(ctx.inputs).length } };
}
