// Fake stage: reads its input the way real stages do, so user errors take the real paths:
// params.check = "params" (a typed param), "data" (a JSONL file, row by row), "checkpoint" (a safetensors
// file), "model" (config.json of a model folder or Hub id), "bug" (a TypeError, which is not a user error).
import type { StageContext, StageResult } from "../../lib/run/types.ts";
import { Params } from "../../lib/stagekit/params.ts";
import { readLines } from "../../lib/data/lines.ts";
import { DataError } from "../../lib/data/errors.ts";
import { readSafetensors } from "../../lib/model/safetensors.ts";

export async function run(ctx: StageContext): Promise<StageResult> {
  const params = new Params(ctx.params);
  const check = params.string("check");
  if (check === "params") {
    return { metrics: { lr: params.section("training").number("lr") } };
  }
  if (check === "data") {
    const path = params.string("path");
    let rows = 0;
    for await (const line of readLines(path)) {
      try {
        JSON.parse(line.text ?? "");
      } catch {
        throw new DataError([{ file: path, line: line.line, reason: "not JSON" }]);
      }
      rows++;
    }
    return { metrics: { rows } };
  }
  if (check === "model") {
    const config = JSON.parse(
      await Deno.readTextFile(`${ctx.path(params.string("path"))}/config.json`),
    );
    return { metrics: { n_embd: config.n_embd } };
  }
  if (check === "checkpoint") {
    const path = params.string("path");
    return { metrics: { tensors: readSafetensors(await Deno.readFile(path), path).size } };
  }
  const missing = ctx.params.nothing as { field: number };
  return { metrics: { value: missing.field } };
}
