/**
 * Stages declare roles, not names: `needs` may map the roles a stage reads to the stages filling
 * them, so renaming a stage in the pipeline file needs no code change.
 *
 * @module
 */
import { join } from "node:path";
import { assertEquals, assertIncludes } from "./asserts.ts";
import { makeProject, runCli } from "./fake_stages/project.ts";
import { parsePipeline } from "../lib/dag/mod.ts";

const root = Deno.makeTempDirSync({ prefix: "peftlab-roles-" });
Deno.mkdirSync(join(root, "stages"));
Deno.writeTextFileSync(join(root, "stages/write.ts"), "export function run() {}\n");

Deno.test("roles: a needs mapping gives each role its stages; a matrix stage fills a role with every cell", () => {
  const pipeline = parsePipeline(
    `stages:
  tokenize: { uses: stages/write.ts }
  tune-lora: { uses: stages/write.ts, needs: { tokenized: tokenize } }
  evaluate:
    uses: stages/write.ts
    matrix: { method: [lora] }
    needs: { tokenized: tokenize, tuned: "tune-\${matrix.method}" }
  report: { uses: stages/write.ts, needs: { runs: [evaluate] } }
  plain: { uses: stages/write.ts, needs: [tokenize] }
`,
    join(root, "pipeline.yaml"),
    root,
  );
  assertEquals(pipeline.stages.get("evaluate[method=lora]")!.roles, {
    tokenized: ["tokenize"],
    tuned: ["tune-lora"],
  });
  assertEquals(pipeline.stages.get("report")!.roles, { runs: ["evaluate[method=lora]"] });
  assertEquals(pipeline.stages.get("plain")!.roles, { tokenize: ["tokenize"] });
  assertEquals(
    pipeline.order.indexOf("tune-lora") < pipeline.order.indexOf("evaluate[method=lora]"),
    true,
  );
});

Deno.test("roles: renaming an upstream stage in YAML needs no code change; a missing role is one line at needs", async () => {
  const yaml = (name: string) => `
stages:
  ${name}: { uses: stages/write.ts, params: { value: 4 } }
  next: { uses: stages/roles.ts, needs: { source: ${name} } }
`;
  for (const name of ["first", "renamed"]) {
    const dir = await makeProject(yaml(name));
    const run = await runCli(dir, ["--json"]);
    assertEquals(run.code, 0, run.stdout + run.stderr);
    const lock = JSON.parse(await Deno.readTextFile(join(dir, "pipeline.lock")));
    assertEquals(lock.stages.next.metrics.value, 5);
  }
  const dir = await makeProject(`
stages:
  first: { uses: stages/write.ts }
  next: { uses: stages/roles.ts, needs: { input: first } }
`);
  const run = await runCli(dir, []);
  assertEquals(run.code, 1);
  assertIncludes(
    run.stdout,
    "✖ next: failed: pipeline.yaml:4:41: stages.next.needs.source: missing: name the stage giving the value to increment",
  );
});
