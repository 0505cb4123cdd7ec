// Fake stage: a metric that differs on every run (for repro drift).
import type { StageContext, StageResult } from "../../lib/run/types.ts";

export function run(_ctx: StageContext): Promise<StageResult> {
  return Promise.resolve({ metrics: { value: 1, noise: Math.random(), count: 3 } });
}
