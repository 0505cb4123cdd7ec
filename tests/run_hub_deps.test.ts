/**
 * Hub ids in the pipeline: `model.path: hf:org/name[@rev]` as a dependency resolves to the
 * snapshot folder of the revision's commit, the lock records that commit, a moved revision makes
 * the stage stale, and the stage may read the repository's cache folder. Against the fake Hub.
 *
 * @module
 */
import { join } from "node:path";
import { assertEquals, assertIncludes } from "./asserts.ts";
import { makeProject, runCli, stagesWith } from "./fake_stages/project.ts";
import { fakeCommit, FakeHub, readFixtureFiles } from "./hub_server.ts";

const TINY_DIR = new URL("./fixtures/tiny-gpt2/", import.meta.url).pathname;

const PIPELINE = `
model:
  path: hf:peftlab-test/tiny-gpt2
stages:
  load:
    uses: stages/checks.ts
    deps: ["\${model.path}/*"]
    params: { check: model, path: "\${model.path}" }
`;

Deno.test("hub deps: hf:org/name resolves to its snapshot, the lock records the commit, a moved revision reruns", async () => {
  const files = await readFixtureFiles(TINY_DIR, ["config.json", "model.safetensors"]);
  const first = fakeCommit("pipeline first");
  const second = fakeCommit("pipeline second");
  const hub = FakeHub.start({
    "peftlab-test/tiny-gpt2": {
      commits: { [first]: files, [second]: files },
      refs: { main: first },
    },
  });
  const hubCache = await Deno.makeTempDir({ prefix: "peftlab-hub-pipeline-" });
  const env = {
    HF_ENDPOINT: hub.endpoint,
    HF_HUB_CACHE: hubCache,
    HF_HUB_OFFLINE: "",
    HF_TOKEN: "",
  };
  try {
    const dir = await makeProject(PIPELINE);
    const run = await runCli(dir, ["--json"], env);
    assertEquals(run.code, 0, run.stdout + run.stderr);
    const finish = run.events.find((e) => e.event === "finish");
    assertEquals(
      finish?.metrics?.n_embd,
      JSON.parse(new TextDecoder().decode(files["config.json"])).n_embd,
    );
    const lock = JSON.parse(await Deno.readTextFile(join(dir, "pipeline.lock")));
    assertEquals(lock.stages.load.deps, { "hf:peftlab-test/tiny-gpt2/*": first });

    const again = await runCli(dir, ["--json"], env);
    assertEquals(stagesWith(again, "skip"), ["load"]);

    hub.repos["peftlab-test/tiny-gpt2"].refs.main = second;
    const status = await runCli(dir, ["status"], env);
    assertIncludes(status.stdout, "load: stale: hf:peftlab-test/tiny-gpt2/* changed");
    const rerun = await runCli(dir, ["--json"], env);
    assertEquals(stagesWith(rerun, "finish"), ["load"]);
    const moved = JSON.parse(await Deno.readTextFile(join(dir, "pipeline.lock")));
    assertEquals(moved.stages.load.deps, { "hf:peftlab-test/tiny-gpt2/*": second });
  } finally {
    await hub.stop();
    await Deno.remove(hubCache, { recursive: true });
  }
});

Deno.test("hub deps: an unknown repository is one line naming where model.path was written", async () => {
  const hub = FakeHub.start({});
  const hubCache = await Deno.makeTempDir({ prefix: "peftlab-hub-pipeline-" });
  const env = {
    HF_ENDPOINT: hub.endpoint,
    HF_HUB_CACHE: hubCache,
    HF_HUB_OFFLINE: "",
    HF_TOKEN: "",
  };
  try {
    const dir = await makeProject(PIPELINE);
    const run = await runCli(dir, [], env);
    assertEquals(run.code, 1, run.stdout + run.stderr);
    const failures = run.stdout.split("\n").filter((line) => line.startsWith("✖"));
    assertEquals(failures.length, 1, run.stdout);
    assertIncludes(
      failures[0],
      "✖ load: failed: pipeline.yaml:3:3: model.path: hf:peftlab-test/tiny-gpt2",
    );
  } finally {
    await hub.stop();
    await Deno.remove(hubCache, { recursive: true });
  }
});
