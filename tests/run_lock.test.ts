import { join } from "node:path";
import { acquireRunLock, RunLockBusyError } from "../lib/run/mod.ts";
import { assert, assertEquals, assertIncludes } from "./asserts.ts";
import { collect, makeProject, runCli, spawnCli, stagesWith } from "./fake_stages/project.ts";

async function waitFor(path: string, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    try {
      await Deno.stat(path);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  throw new Error(`timed out waiting for ${path}`);
}

const SLOW = `
stages:
  slow: { uses: stages/write.ts, params: { sleep_ms: 1500 } }
`;

Deno.test("run lock: a second run fails at once with --no-wait, and waits then skips without it", async () => {
  const dir = await makeProject(SLOW);
  const first = spawnCli(dir, ["--json"]);
  await waitFor(join(dir, "artifacts/.run.lock"));
  const busy = await runCli(dir, ["--no-wait"]);
  assertEquals(busy.code, 1);
  assertIncludes(busy.stderr, "another run (pid");
  assertIncludes(busy.stderr, ".run.lock");

  const waiting = await runCli(dir, ["--json"]);
  const firstResult = await first.output();
  assertEquals(firstResult.code, 0);
  assertEquals(waiting.code, 0);
  assertIncludes(waiting.stderr, "waiting: another run");
  // it waited for the first run to finish, so the stage was already fresh
  assertEquals(stagesWith(waiting, "skip"), ["slow"]);
  assertEquals(stagesWith(collect(0, firstResult.stdout, firstResult.stderr), "finish"), ["slow"]);
});

Deno.test("run lock: a lock left by a dead process is taken over", async () => {
  const cache = await Deno.makeTempDir();
  const dead = new Deno.Command("true").spawn();
  await dead.status;
  await Deno.writeTextFile(
    join(cache, ".run.lock"),
    JSON.stringify({ pid: dead.pid, host: Deno.hostname(), started: "1", since: "earlier" }),
  );
  const lock = await acquireRunLock(cache, { noWait: true });
  const holder = JSON.parse(await Deno.readTextFile(lock.path));
  assertEquals(holder.pid, Deno.pid);
  let busy: unknown;
  try {
    await acquireRunLock(cache, { noWait: true });
  } catch (error) {
    busy = error;
  }
  assert(busy instanceof RunLockBusyError);
  lock.release();
  (await acquireRunLock(cache, { noWait: true })).release();
});

Deno.test("interrupt: SIGINT stops the running stage, exits 130 and leaves the cache consistent", async () => {
  const dir = await makeProject(`
stages:
  slow: { uses: stages/slow.ts, params: { sleep_ms: 60000 } }
`);
  const child = spawnCli(dir, ["--json"]);
  const tmp = join(dir, "artifacts/tmp");
  await waitFor(tmp);
  let pidFile = "";
  const started = Date.now();
  while (!pidFile && Date.now() - started < 20_000) {
    for (const entry of Deno.readDirSync(tmp)) {
      try {
        Deno.statSync(join(tmp, entry.name, "out/pid"));
        pidFile = join(tmp, entry.name, "out/pid");
      } catch { /* not yet */ }
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const stagePid = Number(await Deno.readTextFile(pidFile));
  child.kill("SIGINT");
  const result = await child.output();
  assertEquals(result.code, 130);
  const events = collect(result.code, result.stdout, result.stderr);
  assertEquals(stagesWith(events, "cancel"), ["slow"]);
  let stageAlive = true;
  try {
    Deno.statSync(`/proc/${stagePid}`);
  } catch {
    stageAlive = false;
  }
  assert(!stageAlive, "the stage process must be stopped");
  let lockLeft = true;
  try {
    Deno.statSync(join(dir, "artifacts/.run.lock"));
  } catch {
    lockLeft = false;
  }
  assert(!lockLeft, "the run lock must be released");
  assertEquals([...Deno.readDirSync(tmp)], []);
});
