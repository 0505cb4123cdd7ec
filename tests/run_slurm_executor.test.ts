// The SLURM executor driven directly against a real one-node cluster: afterok chains, a failing
// stage cancelling its queued dependents, cancelling everything, plus the pure helpers.
import { join } from "node:path";
import {
  jobIdentity,
  parseScontrolJob,
  sbatchOptions,
  SlurmExecutor,
  type SlurmStageHandle,
} from "../lib/run/executors/slurm.ts";
import { assert, assertEquals, assertIncludes } from "./asserts.ts";
import { makeProject } from "./fake_stages/project.ts";
import {
  clusterSkipReason,
  listJobs,
  showJob,
  startTestCluster,
  type TestCluster,
  waitFor,
} from "./slurm/cluster.ts";
import { EventLog, makeStageJob, type TestStage } from "./slurm/jobs.ts";

const POLL_INTERVAL_MS = 200;
const skipReason = clusterSkipReason();
if (skipReason) console.warn(skipReason);

Deno.test("slurm: scontrol's one-line job record gives state, reason and exit code", () => {
  const line = "JobId=42 JobName=peftlab:agg UserId=root(0) JobState=CANCELLED Reason=" +
    "DependencyNeverSatisfied Dependency=afterok:41(failed) ExitCode=0:0 NodeList=(null) " +
    "BatchHost=vm";
  assertEquals(parseScontrolJob(line), {
    jobId: "42",
    state: "CANCELLED",
    reason: "DependencyNeverSatisfied",
    exitCode: 0,
    exitSignal: 0,
  });
  const failed = parseScontrolJob(
    "JobId=7 JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0 " +
      "NodeList=vm",
  );
  assertEquals([failed?.state, failed?.exitCode, failed?.nodes], ["FAILED", 3, "vm"]);
  assertEquals(parseScontrolJob("slurm_load_jobs error: Invalid job id specified"), undefined);
});

Deno.test("slurm: stage resources become sbatch options, upstream jobs an afterok dependency", () => {
  const options = sbatchOptions(
    { cpus: 4, mem: "8G", gpus: 1, time: "01:30:00", partition: "gpu", sbatch: ["--qos=short"] },
    { jobName: "peftlab:train", outputPath: "/c/out", cwd: "/p", after: ["11", "12"] },
  );
  for (
    const expected of [
      "--cpus-per-task=4",
      "--mem=8G",
      "--gpus=1",
      "--time=01:30:00",
      "--partition=gpu",
      "--dependency=afterok:11:12",
      "--kill-on-invalid-dep=yes",
    ]
  ) assert(options.includes(expected), `${expected} missing from ${options.join(" ")}`);
  assertEquals(options.at(-1), "--qos=short");
  const plain = sbatchOptions(undefined, { jobName: "j", outputPath: "/o", cwd: "/p" });
  assert(!plain.some((option) => /dependency|cpus|mem|gpus|time|partition/.test(option)));
});

/** `promise`, or a rejection after `timeoutMs`. */
function within<T>(timeoutMs: number, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

Deno.test("slurm: the same work in a new attempt folder keeps its identity; a param change does not", async () => {
  const where = await newProject();
  const stage = { stage: "same", uses: "stages/write.ts", params: { value: 1 } };
  const first = await jobIdentity(await makeStageJob(where.project, where.cacheDir, stage));
  const again = await jobIdentity(await makeStageJob(where.project, where.cacheDir, stage));
  assertEquals(again, first);
  const changed = await jobIdentity(
    await makeStageJob(where.project, where.cacheDir, { ...stage, params: { value: 2 } }),
  );
  assert(changed !== first, "a param change must give new work");
  await Deno.writeTextFile(
    join(where.project, "stages/write.ts"),
    "\n// edited",
    { append: true },
  );
  const edited = await jobIdentity(await makeStageJob(where.project, where.cacheDir, stage));
  assert(edited !== first, "a code change must give new work");
});

/** Names in a folder; none when it does not exist. */
function entriesOf(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((entry) => entry.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

async function newProject(): Promise<{ project: string; cacheDir: string }> {
  const project = await makeProject("stages: {}\n", {
    "stages/fail_later.ts": await Deno.readTextFile(
      new URL("./slurm/stages/fail_later.ts", import.meta.url),
    ),
  });
  return { project, cacheDir: join(project, "artifacts") };
}

function executorFor(cluster: TestCluster, cacheDir: string): SlurmExecutor {
  return new SlurmExecutor({
    stateDir: join(cacheDir, "slurm"),
    pollIntervalMs: POLL_INTERVAL_MS,
    slurmEnv: cluster.env,
  });
}

async function queue(
  executor: SlurmExecutor,
  where: { project: string; cacheDir: string },
  stage: TestStage,
  after: SlurmStageHandle[] = [],
): Promise<{ handle: SlurmStageHandle; events: EventLog; outDir: string; logPath: string }> {
  const job = await makeStageJob(where.project, where.cacheDir, stage);
  const events = new EventLog();
  const handle = executor.submit(job, events.onEvent, { after });
  return { handle, events, outDir: job.outDir, logPath: job.logPath };
}

Deno.test({
  name: "slurm executor on a real one-node cluster",
  ignore: skipReason !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const cluster = await startTestCluster();
    console.log(`one-node cluster started in ${cluster.startMs.toFixed(0)} ms`);
    try {
      await t.step(
        "a chain queued at once waits on afterok and reads its upstream's output",
        async () => {
          const where = await newProject();
          const executor = executorFor(cluster, where.cacheDir);
          const first = await queue(executor, where, {
            stage: "chain-first",
            uses: "stages/write.ts",
            params: { value: 2, sleep_ms: 1500 },
          });
          const second = await queue(executor, where, {
            stage: "chain-second",
            uses: "stages/write.ts",
            params: { value: 1 },
            inputs: { "chain-first": await first.handle.finishedDir },
          }, [first.handle]);
          const [firstId, secondId] = await waitFor("both jobs submitted", () => {
            const ids = [first.handle.jobId(), second.handle.jobId()];
            return ids.every(Boolean) ? ids as string[] : undefined;
          });
          const queued = await showJob(cluster, secondId);
          assertIncludes(queued, `Dependency=afterok:${firstId}`);
          assertIncludes(queued, "JobState=PENDING");

          const exits = await Promise.all([first.handle.finished, second.handle.finished]);
          assertEquals(exits.map((exit) => [exit.code, exit.state]), [[0, "COMPLETED"], [
            0,
            "COMPLETED",
          ]]);
          const metrics = JSON.parse(await Deno.readTextFile(join(second.outDir, "metrics.json")));
          assertEquals(metrics.metrics.value, 3); // its own 1 + upstream's 2
          assert(second.events.events.some((event) => event.type === "result"));
          assertIncludes(await Deno.readTextFile(second.logPath), `submitted job ${secondId}`);
          await executor.close();
          // Nothing kept once outputs are handed over: no records, no finished copies.
          assertEquals(entriesOf(join(where.cacheDir, "slurm/jobs")), []);
          assertEquals(entriesOf(join(where.cacheDir, "slurm/outputs")), []);
        },
      );

      await t.step(
        "a failing stage cancels its queued dependents instead of leaving them pending",
        async () => {
          const where = await newProject();
          const executor = executorFor(cluster, where.cacheDir);
          const failing = await queue(executor, where, {
            stage: "doomed",
            uses: "stages/fail_later.ts",
            params: { sleep_ms: 1000 },
          });
          const child = await queue(executor, where, {
            stage: "doomed-child",
            uses: "stages/write.ts",
            inputs: { doomed: await failing.handle.finishedDir },
          }, [failing.handle]);
          const grandchild = await queue(executor, where, {
            stage: "doomed-grandchild",
            uses: "stages/write.ts",
            inputs: { "doomed-child": await child.handle.finishedDir },
          }, [child.handle]);
          const started = performance.now();
          // Without --kill-on-invalid-dep the dependents would stay PENDING forever.
          const [failed, childExit, grandchildExit] = await within(
            20_000,
            Promise.all([failing, child, grandchild].map((queued) => queued.handle.finished)),
          );
          console.log(
            `failure reached the dependents in ${(performance.now() - started).toFixed(0)} ms`,
          );
          assertEquals([failed.state, failed.code !== 0], ["FAILED", true]);
          assertIncludes(failing.events.errors().join("\n"), "failed on purpose after a nap");
          assertIncludes(
            failed.logTail.join("\n"),
            "about to fail: the last line before the error",
          );
          for (const exit of [childExit, grandchildExit]) {
            assert(exit.jobId, "dependent was never submitted to SLURM");
            assertEquals([exit.state, exit.reason], ["CANCELLED", "DependencyNeverSatisfied"]);
            assertIncludes(await showJob(cluster, exit.jobId), "JobState=CANCELLED");
          }
          const left = (await listJobs(cluster)).filter((job) => job.name.includes("doomed"))
            .filter((job) => job.state === "PENDING" || job.state === "RUNNING");
          assertEquals(left, []);
          assertIncludes(await Deno.readTextFile(child.logPath), "DependencyNeverSatisfied");
          // The failed stage left no output where dependents or a later run would find one.
          assertEquals(entriesOf(join(where.cacheDir, "slurm/outputs")), []);
          await executor.close();
        },
      );

      await t.step("cancelAll scancels running and queued jobs", async () => {
        const where = await newProject();
        const executor = executorFor(cluster, where.cacheDir);
        const sleepers = [];
        for (const index of [1, 2]) {
          sleepers.push(
            await queue(executor, where, {
              stage: `sleeper-${index}`,
              uses: "stages/write.ts",
              params: { sleep_ms: 60_000 },
            }),
          );
        }
        const waiter = await queue(executor, where, {
          stage: "sleeper-child",
          uses: "stages/write.ts",
          inputs: { "sleeper-1": await sleepers[0].handle.finishedDir },
        }, [sleepers[0].handle]);
        await waitFor("the sleepers to run", async () => {
          const running = (await listJobs(cluster)).filter((job) =>
            job.name.startsWith("peftlab:sleeper-") && job.state === "RUNNING"
          );
          return running.length === 2 ? true : undefined;
        });
        const started = performance.now();
        await executor.cancelAll();
        console.log(`cancelAll took ${(performance.now() - started).toFixed(0)} ms`);
        const exits = await Promise.all(
          [...sleepers, waiter].map((queued) => queued.handle.finished),
        );
        assertEquals(exits.map((exit) => exit.state), ["CANCELLED", "CANCELLED", "CANCELLED"]);
        const left = (await listJobs(cluster)).filter((job) => job.name.includes("sleeper"))
          .filter((job) => job.state !== "CANCELLED");
        assertEquals(left, []);
        await executor.close();
      });

      await t.step("at most `jobs` jobs are in flight at once", async () => {
        const where = await newProject();
        const executor = new SlurmExecutor({
          stateDir: join(where.cacheDir, "slurm"),
          pollIntervalMs: POLL_INTERVAL_MS,
          slurmEnv: cluster.env,
          jobs: 1,
        });
        const queued = [];
        for (const index of [1, 2, 3]) {
          queued.push(
            await queue(executor, where, {
              stage: `capped-${index}`,
              uses: "stages/write.ts",
              params: { value: index, sleep_ms: 300 },
            }),
          );
        }
        let mostInFlight = 0;
        let allDone = false;
        const finished = Promise.all(queued.map((job) => job.handle.finished)).then((exits) => {
          allDone = true;
          return exits;
        });
        while (!allDone) {
          const live = (await listJobs(cluster)).filter((job) =>
            job.name.startsWith("peftlab:capped-") && (job.state === "PENDING" ||
              job.state === "RUNNING" || job.state === "CONFIGURING")
          );
          mostInFlight = Math.max(mostInFlight, live.length);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assertEquals((await finished).map((exit) => exit.code), [0, 0, 0]);
        assertEquals(mostInFlight, 1);
        assertEquals(
          (await listJobs(cluster)).filter((job) => job.name.startsWith("peftlab:capped-")).length,
          3,
        );
        await executor.close();
      });
    } finally {
      await cluster.stop();
    }
  },
});
