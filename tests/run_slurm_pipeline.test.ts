// The pipeline CLI with `--executor slurm` on a real one-node cluster: same results as local,
// one job per matrix cell, Ctrl-C cancels submitted jobs, a killed coordinator's rerun finishes
// the work without redoing finished stages.
import { join } from "node:path";
import { parse } from "yaml";
import { readLock } from "../lib/cache/mod.ts";
import { queuedStages, SlurmClient } from "../lib/run/executors/slurm.ts";
import { compareLocks, formatDriftTable } from "../lib/run/repro.ts";
import { assert, assertEquals, assertIncludes } from "./asserts.ts";
import { collect, makeProject, runCli, spawnCli, stagesWith } from "./fake_stages/project.ts";
import {
  clusterSkipReason,
  listJobs,
  showJob,
  startTestCluster,
  type TestCluster,
  waitFor,
  watchDependencies,
} from "./slurm/cluster.ts";
import { copyProject } from "./slurm/project_copy.ts";

/** The part of a pipeline file the comparison reads. */
interface SmokeFile {
  repro?: { ignore_metrics?: string[] };
}

const FAIL_LATER = new URL("./slurm/stages/fail_later.ts", import.meta.url);
const skipReason = clusterSkipReason();
if (skipReason) console.warn(skipReason);

const SWEEP_PIPELINE = `
stages:
  prepare: { uses: stages/write.ts, params: { value: 2, sleep_ms: 1000 } }
  sweep:
    uses: stages/write.ts
    needs: [prepare]
    matrix: { x: [1, 2, 3] }
    params: { value: "\${matrix.x}" }
    resources: { cpus: 1, time: "5:00", sbatch: ["--comment=peftlab-sweep"] }
  aggregate: { uses: stages/write.ts, needs: [sweep] }
`;

/** Jobs of the test cluster whose name is `peftlab:<stage>` for a stage starting with `prefix`. */
async function jobsOf(cluster: TestCluster, prefix: string) {
  return (await listJobs(cluster)).filter((job) => job.name.startsWith(`peftlab:${prefix}`));
}

/** Metrics and output hash of every stage in a project's lock file. */
async function results(project: string) {
  const lock = await readLock(join(project, "pipeline.lock"));
  return Object.fromEntries(
    Object.entries(lock.stages).map(([name, entry]) => [name, {
      metrics: entry.metrics,
      output: entry.output,
    }]),
  );
}

Deno.test({
  name: "pipeline --executor slurm on a real one-node cluster",
  ignore: skipReason !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const cluster = await startTestCluster();
    // The CLI runs as a child process and finds the cluster like a user's shell would.
    Deno.env.set("SLURM_CONF", cluster.env.SLURM_CONF);
    Deno.env.set("PEFTLAB_SLURM_POLL_MS", "200");
    try {
      await t.step(
        "a matrix pipeline gives the same outputs and metrics as a local run",
        async () => {
          const local = await makeProject(SWEEP_PIPELINE);
          const onSlurm = await makeProject(SWEEP_PIPELINE);
          const localRun = await runCli(local, ["--json", "--executor", "local"]);
          assertEquals(localRun.code, 0, localRun.stderr);
          const started = performance.now();
          const output = spawnCli(onSlurm, ["--json", "--executor", "slurm", "--jobs", "5"])
            .output();
          const waiting = await watchDependencies(cluster, output);
          const done = await output;
          const slurmRun = collect(done.code, done.stdout, done.stderr);
          console.log(`5 stages through SLURM in ${(performance.now() - started).toFixed(0)} ms`);
          assertEquals(slurmRun.code, 0, slurmRun.stderr + slurmRun.stdout);
          assertEquals(await results(onSlurm), await results(local));

          // The whole graph was queued at once: every dependent waited on its upstream's job.
          const idOf = async (prefix: string) =>
            (await jobsOf(cluster, prefix)).map((j) => j.jobId);
          const [prepareId] = await idOf("prepare");
          const sweepIds = await idOf("sweep[");
          const upstreamIds = (name: string) =>
            [...(waiting.find((job) => job.name === `peftlab:${name}`)?.dependency ?? "")
              .matchAll(/afterok:(\d+)/g)].map((match) => match[1]).sort();
          for (const cell of ["sweep[x=1]", "sweep[x=2]", "sweep[x=3]"]) {
            assertEquals(upstreamIds(cell), [prepareId], `${cell}: ${JSON.stringify(waiting)}`);
          }
          assertEquals(upstreamIds("aggregate"), sweepIds.sort(), JSON.stringify(waiting));
          const cellLog = await Deno.readTextFile(join(onSlurm, "artifacts/logs/sweep_x=1_.log"));
          assertIncludes(cellLog, `--dependency=afterok:${prepareId} --kill-on-invalid-dep=yes`);

          // One job per matrix cell, each with the stage's resources.
          const cells = await jobsOf(cluster, "sweep[");
          assertEquals(cells.map((job) => job.name).sort(), [
            "peftlab:sweep[x=1]",
            "peftlab:sweep[x=2]",
            "peftlab:sweep[x=3]",
          ]);
          const record = await showJob(cluster, cells[0].jobId);
          assert(record.includes("TimeLimit=00:05:00"), record);
          assert(record.includes("Comment=peftlab-sweep"), record);
          assertEquals((await jobsOf(cluster, "aggregate")).map((job) => job.state), ["COMPLETED"]);

          const again = await runCli(onSlurm, ["--json", "--executor", "slurm"]);
          assertEquals(stagesWith(again, "start"), []);
          assertEquals((await jobsOf(cluster, "prepare")).length, 1);
        },
      );

      await t.step(
        "a failing stage cancels its queued dependents; they are reported as not run",
        async () => {
          const project = await makeProject(
            `
stages:
  broken: { uses: stages/fail_later.ts, params: { sleep_ms: 1000 } }
  downstream: { uses: stages/write.ts, needs: [broken] }
  further: { uses: stages/write.ts, needs: [downstream] }
  unrelated: { uses: stages/write.ts }
`,
            { "stages/fail_later.ts": await Deno.readTextFile(FAIL_LATER) },
          );
          const run = await runCli(project, ["--json", "--executor", "slurm", "--jobs", "4"]);
          assertEquals(run.code, 1, run.stderr);
          const failure = run.events.find((event) => event.event === "fail");
          assert(failure && failure.stage === "broken", run.stdout);
          assertIncludes(String(failure.error), "failed on purpose after a nap");
          // The failure carries the rest of the error (here the stack) or the log's last lines.
          assertIncludes((failure.tail ?? []).join("\n"), "fail_later.ts");
          assertEquals(stagesWith(run, "not-run"), ["downstream", "further"]);
          assertEquals(stagesWith(run, "finish"), ["unrelated"]);
          const log = await Deno.readTextFile(join(project, "artifacts/logs/broken.log"));
          assertIncludes(log, "about to fail: the last line before the error");
          assert(/SLURM job \d+ FAILED/.test(log), log);

          // Both dependents reached SLURM queued behind the failing job, and SLURM cancelled
          // them (not left PENDING with DependencyNeverSatisfied).
          const [brokenJob] = await jobsOf(cluster, "broken");
          const [downstreamJob] = await jobsOf(cluster, "downstream");
          const [furtherJob] = await jobsOf(cluster, "further");
          assertEquals(
            [downstreamJob?.state, downstreamJob?.reason],
            ["CANCELLED", "DependencyNeverSatisfied"],
          );
          // Cancelled in turn when `downstream` was; SLURM may give either dependency reason.
          assertEquals(furtherJob?.state, "CANCELLED");
          assert(/^Dependency/.test(furtherJob.reason), furtherJob.reason);
          assertIncludes(await showJob(cluster, downstreamJob.jobId), `afterok:${brokenJob.jobId}`);
          assertIncludes(
            await showJob(cluster, furtherJob.jobId),
            `afterok:${downstreamJob.jobId}`,
          );
          const lock = await readLock(join(project, "pipeline.lock"));
          assertEquals(Object.keys(lock.stages), ["unrelated"]);

          // The console shows the failure with its tail and names the stages not run.
          const plain = await runCli(project, ["--executor", "slurm", "--jobs", "4"]);
          assertEquals(plain.code, 1, plain.stderr);
          assert(/✖ broken: failed: .*failed on purpose after a nap/.test(plain.stdout));
          assert(/\n {4}.*fail_later\.ts/.test(plain.stdout), plain.stdout);
          assertIncludes(plain.stdout, "– downstream: not run (upstream broken failed)");
          assertIncludes(plain.stdout, "0 ran, 1 fresh, 1 failed, 2 not run");
        },
      );

      await t.step("a job sbatch refuses fails its stage with sbatch's message", async () => {
        const project = await makeProject(`
stages:
  misplaced: { uses: stages/write.ts, resources: { partition: no-such-partition } }
`);
        const run = await runCli(project, ["--json", "--executor", "slurm"]);
        assertEquals(run.code, 1, run.stderr);
        const failure = run.events.find((event) => event.event === "fail");
        assert(failure && failure.stage === "misplaced", run.stdout);
        assert(/sbatch failed.*partition/i.test(String(failure.error)), String(failure.error));
      });

      await t.step("Ctrl-C cancels every job the run submitted", async () => {
        const project = await makeProject(`
stages:
  nap:
    uses: stages/write.ts
    matrix: { x: [1, 2] }
    params: { value: "\${matrix.x}", sleep_ms: 60000 }
  wake: { uses: stages/write.ts, needs: [nap] }
`);
        const child = spawnCli(project, ["--json", "--executor", "slurm", "--jobs", "3"]);
        await waitFor("both naps to run", async () => {
          const running = (await jobsOf(cluster, "nap[")).filter((job) => job.state === "RUNNING");
          return running.length === 2 ? true : undefined;
        });
        const started = performance.now();
        child.kill("SIGINT");
        const output = await child.output();
        const run = collect(output.code, output.stdout, output.stderr);
        console.log(`Ctrl-C to exit in ${(performance.now() - started).toFixed(0)} ms`);
        assertEquals(run.code, 130, run.stderr);
        const states = [...await jobsOf(cluster, "nap["), ...await jobsOf(cluster, "wake")]
          .map((job) => job.state);
        assertEquals(states, ["CANCELLED", "CANCELLED", "CANCELLED"]);
        assertEquals(stagesWith(run, "cancel").sort(), ["nap[x=1]", "nap[x=2]", "wake"]);
      });

      await t.step(
        "killing the coordinator and rerunning finishes without redoing finished work",
        async () => {
          const project = await makeProject(`
stages:
  setup: { uses: stages/write.ts, params: { value: 1 } }
  quick: { uses: stages/write.ts, needs: [setup], params: { value: 2, sleep_ms: 1500 } }
  long: { uses: stages/write.ts, needs: [setup], params: { value: 3, sleep_ms: 7000 } }
  final: { uses: stages/write.ts, needs: [quick, long] }
`);
          const child = spawnCli(project, ["--json", "--executor", "slurm", "--jobs", "2"]);
          await waitFor("quick and long to run", async () => {
            const jobs = [...await jobsOf(cluster, "quick"), ...await jobsOf(cluster, "long")];
            return jobs.filter((job) => job.state === "RUNNING").length === 2 ? true : undefined;
          });
          child.kill("SIGKILL"); // the coordinator dies; its SLURM jobs go on
          await child.output();
          // quick finishes while no coordinator watches; long is still running at the rerun.
          await waitFor("quick to finish", async () => {
            const [quick] = await jobsOf(cluster, "quick");
            return quick.state === "COMPLETED" ? true : undefined;
          });
          assertEquals((await jobsOf(cluster, "long"))[0].state, "RUNNING");
          // What `status` can show meanwhile: the job still running, none of the ended ones.
          const queued = await queuedStages(
            join(project, "artifacts/slurm"),
            new SlurmClient(cluster.env),
          );
          assertEquals(queued.map((stage) => [stage.stage, stage.state]), [["long", "RUNNING"]]);
          const status = await runCli(project, ["status", "--executor", "slurm"]);
          assertEquals(status.code, 0, status.stderr);
          assert(
            /^long: stale: .*\[SLURM job \d+ RUNNING\]$/m.test(status.stdout),
            status.stdout,
          );
          assert(/^quick: stale: [^[]*$/m.test(status.stdout), status.stdout);
          const statusJson = await runCli(project, ["status", "--json", "--executor", "slurm"]);
          const longLine = statusJson.stdout.split("\n").find((line) => line.includes('"long"'));
          assertEquals(JSON.parse(longLine ?? "{}").slurm?.state, "RUNNING", statusJson.stdout);

          const rerun = await runCli(project, ["--json", "--executor", "slurm"]);
          assertEquals(rerun.code, 0, rerun.stderr + rerun.stdout);
          assertEquals(stagesWith(rerun, "skip"), ["setup"]);
          for (const stage of ["setup", "quick", "long", "final"]) {
            assertEquals((await jobsOf(cluster, stage)).length, 1, `${stage} submitted again`);
          }
          const lock = await readLock(join(project, "pipeline.lock"));
          assertEquals(lock.stages.final.metrics.value, 1 + (2 + 1) + (3 + 1));
          const quickLog = await Deno.readTextFile(join(project, "artifacts/logs/quick.log"));
          assert(quickLog.includes("reusing the output of job"), quickLog);
          const longLog = await Deno.readTextFile(join(project, "artifacts/logs/long.log"));
          assert(longLog.includes("following job"), longLog);
        },
      );

      await t.step(
        "the smoke pipeline gives the same metrics through SLURM as locally",
        async () => {
          const project = await copyProject();
          try {
            const file = join(project, "pipelines/smoke.yaml");
            const lockPath = join(project, "pipelines/smoke.lock");
            await Deno.remove(lockPath).catch(() => {});
            const local = await runCli(project, ["--file", file, "--executor", "local"]);
            assertEquals(local.code, 0, local.stderr + local.stdout);
            const localLock = await readLock(lockPath);
            await Deno.remove(lockPath);
            const started = performance.now();
            const output = spawnCli(project, [
              "--file",
              file,
              "--executor",
              "slurm",
              "--jobs",
              "3",
              // A cache of its own: the local run's cache would restore every stage.
              "--set",
              "settings.cache=artifacts-slurm",
            ]).output();
            const waiting = await watchDependencies(cluster, output);
            const done = await output;
            const slurm = collect(done.code, done.stdout, done.stderr);
            console.log(
              `smoke pipeline through SLURM in ${(performance.now() - started).toFixed(0)} ms; ` +
                `seen queued behind upstream jobs: ${waiting.map((job) => job.name).join(", ")}`,
            );
            assertEquals(slurm.code, 0, slurm.stderr + slurm.stdout);
            // --jobs 3: tokenize, pretrain and train-prompt are queued at once, the last two
            // waiting on afterok.
            const [tokenize] = await jobsOf(cluster, "tokenize");
            const pretrain = waiting.find((job) => job.name === "peftlab:pretrain");
            assert(pretrain, JSON.stringify(waiting));
            assertIncludes(pretrain.dependency, `afterok:${tokenize.jobId}`);
            const slurmLock = await readLock(lockPath);
            assertEquals(
              Object.keys(slurmLock.stages).sort(),
              Object.keys(localLock.stages).sort(),
            );
            // Machine measurements (timings, memory, versions) are not results.
            const ignore = (parse(await Deno.readTextFile(file)) as SmokeFile).repro
              ?.ignore_metrics;
            const rows = compareLocks(localLock, slurmLock, 0, ignore ?? []);
            assert(rows.length > 50, `only ${rows.length} metrics compared`);
            const drifted = rows.filter((row) => row.drifted);
            assertEquals(drifted, [], formatDriftTable(drifted));
            assert(
              (await jobsOf(cluster, "aggregate")).length >= 2,
              "aggregate never ran on SLURM",
            );
          } finally {
            await Deno.remove(project, { recursive: true });
          }
        },
      );
    } finally {
      Deno.env.delete("SLURM_CONF");
      Deno.env.delete("PEFTLAB_SLURM_POLL_MS");
      await cluster.stop();
    }
  },
});
