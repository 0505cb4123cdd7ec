import { join } from "node:path";
import { listFiles, readLock } from "../lib/cache/mod.ts";
import { assert, assertEquals } from "./asserts.ts";
import { makeProject, runCli, spawnCli, stagesWith } from "./fake_stages/project.ts";

async function findPidFile(tmp: string, timeoutMs = 20_000): Promise<string> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    try {
      for (const entry of Deno.readDirSync(tmp)) {
        const path = join(tmp, entry.name, "out/pid");
        try {
          if ((await Deno.readTextFile(path)).length > 0) return path;
        } catch { /* not written yet */ }
      }
    } catch { /* tmp not created yet */ }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("the stage never started");
}

Deno.test("atomicity: kill -9 mid-write serves no partial output and the next run reruns the stage", async () => {
  const dir = await makeProject(`
stages:
  first: { uses: stages/write.ts }
  slow: { uses: stages/slow.ts, needs: [first], params: { sleep_ms: 3000 } }
  after: { uses: stages/write.ts, needs: [slow] }
`);
  const child = spawnCli(dir, ["--json"]);
  const pidFile = await findPidFile(join(dir, "artifacts/tmp"));
  const stagePid = Number(await Deno.readTextFile(pidFile));
  // Kill the engine mid-write, as the OOM killer would; its stage notices and stops too.
  child.kill("SIGKILL");
  await child.status;
  child.stdout.cancel();
  child.stderr.cancel();
  const killedAt = Date.now();
  while (processExists(stagePid) && Date.now() - killedAt < 1500) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert(!processExists(stagePid), "the orphaned stage process must stop");

  const lock = await readLock(join(dir, "pipeline.lock"));
  assertEquals(Object.keys(lock.stages), ["first"]);
  for (const file of await listFiles(join(dir, "artifacts/outputs"))) {
    assert(!file.endsWith("partial.txt"), `partial output served: ${file}`);
  }

  const rerun = await runCli(dir, ["--json"]);
  assertEquals(rerun.code, 0, rerun.stderr);
  assertEquals(stagesWith(rerun, "skip"), ["first"]);
  assertEquals(stagesWith(rerun, "start"), ["slow", "after"]);
  const after = await readLock(join(dir, "pipeline.lock"));
  const slowOutput = join(dir, "artifacts/outputs", after.stages.slow.output, "partial.txt");
  assertEquals(await Deno.readTextFile(slowOutput), "the whole output");
  // attempt folders of the killed run are gone
  assertEquals([...Deno.readDirSync(join(dir, "artifacts/tmp"))], []);
});

function processExists(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\S+ \(.*\) Z/.test(stat); // a zombie has exited
  } catch {
    return false;
  }
}
