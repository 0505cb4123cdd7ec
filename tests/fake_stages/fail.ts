// Fake stage: always fails with a message.
import type { StageContext, StageResult } from "../../lib/run/types.ts";

export function run(_ctx: StageContext): Promise<StageResult> {
  return Promise.reject(new Error("fake stage failed on purpose"));
}
