/**
 * End-to-end: the real CLI on the real smoke pipeline (all nine stages, real training), in
 * workspaces of its own. Two cold caches are built once and shared by the steps, in the order a
 * user meets them: a cold run, a no-op rerun, one changed parameter, a second cold run compared
 * with the first plus `repro`, and a training stage killed with SIGKILL and resumed.
 *
 * @module
 */
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { RunEvent } from "../lib/run/progress.ts";
import { assert, assertEquals, assertIncludes } from "./asserts.ts";
import { stagesWith } from "./fake_stages/project.ts";
import {
  baseModelParams,
  describeRun,
  expectedTrainableParams,
  type Lock,
  MACHINE_METRICS,
  makeWorkspace,
  type Method,
  processesMentioning,
  readLock,
  readSmokeDocument,
  runPipelineCli,
  spawnPipeline,
  stageCells,
  withoutMetrics,
  type Workspace,
  writeSmokePipeline,
} from "./e2e/smoke.ts";

const METHODS: Method[] = ["prompt", "lora", "ia3", "full"];
/** Rows the baseline stage adds to every table: they train nothing. */
const BASELINES = ["lead", "base"];
const PUBLISHED = ["metrics.md", "metrics.json", "metrics.csv", "report.html"];
/** Generous: the CLI's own target for a run where every stage is fresh is < 1 s. */
const NO_OP_LIMIT_SECONDS = 5;
/**
 * How long a SIGKILLed CLI's stage worker may take to notice and stop (its watchdog checks every
 * 0.5 s). Well below the training left after the kill, so a worker without one is caught running.
 */
const ORPHAN_GRACE_MS = 3_000;
/** Longest wait for the killed run's train-full to write a checkpoint. */
const CHECKPOINT_WAIT_MS = 180_000;

/**
 * Events other than progress as `event stage (reason)` lines, sorted: with one job at a time the
 * order among independent stages is the scheduler's choice, not something to pin down here.
 */
function outline(events: RunEvent[]): string[] {
  return events.filter((e) => e.event !== "progress").map((e) =>
    `${e.event} ${e.stage}${e.event === "finish" ? "" : ` (${e.reason})`}`
  ).sort();
}

/** Copy of `names`, sorted. */
function sorted(names: string[]): string[] {
  return [...names].sort();
}

/** The train-full checkpoint folders in a cache, as the scheduler names them. */
async function trainFullCheckpoints(cacheDir: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(join(cacheDir, "checkpoints"))) {
      if (entry.isDirectory && entry.name.startsWith("train-full-")) {
        found.push(join(cacheDir, "checkpoints", entry.name));
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return found;
}

/** Optimizer step of the checkpoint a resumed run would read (`latest/`, else `latest.old/`). */
async function checkpointStep(dir: string): Promise<number | undefined> {
  for (const name of ["latest", "latest.old"]) {
    try {
      return JSON.parse(await Deno.readTextFile(join(dir, name, "state.json"))).step;
    } catch { /* not there (yet), or being swapped */ }
  }
  return undefined;
}

Deno.test("e2e smoke pipeline: cold run, no-op, one changed param, determinism + repro, kill -9 and resume", async (t) => {
  const doc = await readSmokeDocument();
  const cells = stageCells(doc);
  const expected = expectedTrainableParams(doc);
  const workspaces: Workspace[] = [];
  try {
    const a = await makeWorkspace("smoke-a");
    workspaces.push(a);
    const b = await makeWorkspace("smoke-b");
    workspaces.push(b);
    const fileA = await writeSmokePipeline(a, "smoke");
    const fileB = await writeSmokePipeline(b, "smoke");
    let coldLockA: Lock | undefined;

    await t.step(
      "1. a cold run runs every stage, prints the table and publishes the metrics with each method's own trainable-parameter count",
      async () => {
        const run = await runPipelineCli(["--file", fileA]);
        console.log(`cold run: ${run.seconds.toFixed(1)} s wall`);
        assertEquals(run.code, 0, describeRun(run));
        for (const cell of cells) assertIncludes(run.stdout, `✔ ${cell}: done in`);
        assertIncludes(run.stdout, `${fileA}: ${cells.length} ran, 0 fresh, 0 failed`);

        for (const name of PUBLISHED) {
          const info = await Deno.stat(join(a.cacheDir, name));
          assert(info.isFile && info.size > 0, `${name} is not published to the cache root`);
        }
        const table = await Deno.readTextFile(join(a.cacheDir, "metrics.md"));
        assertIncludes(run.stdout, table.trim());
        const html = await Deno.readTextFile(join(a.cacheDir, "report.html"));
        assert(html.trimStart().toLowerCase().startsWith("<!doctype html>"), "report.html");
        for (const method of METHODS) assertIncludes(html, method);

        const published = JSON.parse(await Deno.readTextFile(join(a.cacheDir, "metrics.json"))) as {
          rows: { method: string; baseline: boolean; trainableParams: { mean: number | null } }[];
        };
        const tuned = published.rows.filter((row) => !row.baseline);
        assertEquals(tuned.map((row) => row.method).sort(), [...METHODS].sort());
        assertEquals(
          published.rows.filter((row) => row.baseline).map((row) => row.method).sort(),
          [...BASELINES].sort(),
        );
        const trainable = Object.fromEntries(
          tuned.map((row) => [row.method, row.trainableParams.mean]),
        );
        assertEquals(trainable, expected);
        assertEquals(new Set(Object.values(trainable)).size, METHODS.length);

        const csv = (await Deno.readTextFile(join(a.cacheDir, "metrics.csv"))).trim().split("\n");
        const column = csv[0].split(",").indexOf("trainableParams.mean");
        assert(column >= 0, `metrics.csv has no trainableParams.mean column: ${csv[0]}`);
        assertEquals(csv.length, 1 + METHODS.length + BASELINES.length);
        for (const line of csv.slice(1)) {
          const fields = line.split(",");
          if (BASELINES.includes(fields[0])) continue;
          assertEquals(Number(fields[column]), expected[fields[0] as Method], line);
        }

        coldLockA = await readLock(fileA);
        assert(coldLockA, "no lock file after a successful run");
        assertEquals(Object.keys(coldLockA.stages).sort(), [...cells].sort());
        // Each train stage counts its own model: the totals differ by exactly the added weights.
        const vocabSize = coldLockA.stages.tokenize.metrics.vocabSize as number;
        const base = baseModelParams(doc, vocabSize);
        assertEquals(coldLockA.stages.pretrain.metrics.totalParams, base);
        const totals = Object.fromEntries(
          METHODS.map((m) => [m, coldLockA!.stages[`train-${m}`].metrics.totalParams]),
        );
        assertEquals(totals, {
          prompt: base + expected.prompt,
          lora: base + expected.lora,
          ia3: base + expected.ia3,
          full: base,
        });
      },
    );

    await t.step("2. a second run skips every stage as fresh, quickly", async () => {
      const run = await runPipelineCli(["--file", fileA, "--json"]);
      console.log(
        `no-op run: ${run.seconds.toFixed(2)} s wall (CLI process, Deno start-up included)`,
      );
      assertEquals(run.code, 0, describeRun(run));
      assertEquals(
        outline(run.events),
        sorted(cells.map((cell) => `skip ${cell} (fresh)`)),
      );
      assert(run.seconds < NO_OP_LIMIT_SECONDS, `the no-op run took ${run.seconds} s`);
    });

    await t.step(
      "3. --set train-lora.params.config.r=4: status names exactly the stale stages and why, then only they run",
      async () => {
        const oldRank = doc.getIn(["stages", "train-lora", "params", "config", "r"]);
        const set = ["--set", "train-lora.params.config.r=4"];
        const stale = ["train-lora", "evaluate[method=lora]", "aggregate"];

        const status = await runPipelineCli(["status", "--file", fileA, ...set, "--json"]);
        assertEquals(status.code, 0, describeRun(status));
        const rows = status.stdout.trim().split("\n").map((line) =>
          JSON.parse(line) as { stage: string; fresh: boolean; reasons: string[] }
        );
        assertEquals(sorted(rows.map((row) => row.stage)), sorted(cells));
        assertEquals(
          sorted(rows.filter((row) => !row.fresh).map((row) => row.stage)),
          sorted(stale),
        );
        const reasons = Object.fromEntries(rows.map((row) => [row.stage, row.reasons.join("; ")]));
        assertEquals(reasons["train-lora"], `params.config.r ${oldRank} → 4`);
        assertIncludes(reasons["evaluate[method=lora]"], "upstream train-lora");
        assertIncludes(reasons["aggregate"], "upstream evaluate[method=lora]");

        const plain = await runPipelineCli(["status", "--file", fileA, ...set]);
        assertEquals(plain.code, 0, describeRun(plain));
        assertIncludes(plain.stdout, `train-lora: stale: params.config.r ${oldRank} → 4\n`);
        assertIncludes(plain.stdout, "train-prompt: fresh\n");

        const run = await runPipelineCli(["--file", fileA, ...set, "--json"]);
        assertEquals(run.code, 0, describeRun(run));
        assertEquals(stagesWith(run, "start"), stale);
        assertEquals(stagesWith(run, "finish"), stale);
        assertEquals(
          sorted(stagesWith(run, "skip")),
          sorted(cells.filter((cell) => !stale.includes(cell))),
        );
        const changed = doc.clone();
        changed.setIn(["stages", "train-lora", "params", "config", "r"], 4);
        const lora = run.events.find((e) => e.event === "finish" && e.stage === "train-lora");
        assertEquals(lora?.metrics?.trainableParams, expectedTrainableParams(changed).lora);
      },
    );

    await t.step(
      "4. two cold runs in separate caches record identical metrics except machine measurements, and repro passes",
      async () => {
        const run = await runPipelineCli(["--file", fileB, "--json"]);
        console.log(`second cold run: ${run.seconds.toFixed(1)} s wall`);
        assertEquals(run.code, 0, describeRun(run));
        assertEquals(sorted(stagesWith(run, "finish")), sorted(cells));
        assert(coldLockA, "step 1 recorded no lock to compare with");
        const lockB = await readLock(fileB);
        assert(lockB, "no lock file after the second cold run");
        for (const cell of cells) {
          const first = withoutMetrics(coldLockA.stages[cell].metrics, MACHINE_METRICS);
          const second = withoutMetrics(lockB.stages[cell].metrics, MACHINE_METRICS);
          assert(Object.keys(first).length > 0, `${cell}: nothing left to compare`);
          assertEquals(second, first, `${cell}: metrics differ between two cold runs`);
        }

        const repro = await runPipelineCli(["repro", "--file", fileB, "--json"]);
        console.log(`repro: ${repro.seconds.toFixed(1)} s wall`);
        assertEquals(repro.code, 0, describeRun(repro));
        const verdict = repro.events.at(-1) as unknown as {
          event: string;
          drifted: boolean;
          comparisons: unknown[];
        };
        assertEquals([verdict.event, verdict.drifted], ["repro", false]);
        assert(verdict.comparisons.length > 0, "repro compared nothing");
      },
    );

    await t.step(
      "5. SIGKILL of the CLI during train-full: no orphan, and the rerun resumes from the checkpoint and ends like an uninterrupted run",
      async () => {
        // Longer training with frequent checkpoints, so there is time to kill it mid-way. Each
        // cache already holds tokenize and pretrain for these params (restored from its run cache).
        const longer = (file: typeof doc) => {
          file.setIn(["stages", "train-full", "params", "training", "epochs"], 10);
          file.setIn(["stages", "train-full", "params", "training", "checkpoint_every_steps"], 2);
        };
        const killFile = await writeSmokePipeline(a, "kill", longer);
        const referenceFile = await writeSmokePipeline(b, "kill", longer);
        const args = ["--stage", "train-full", "--json"];

        const victim = spawnPipeline(["--file", killFile, ...args]);
        const victimOutput = victim.output();
        let exited = false;
        victim.status.then(() => exited = true);
        let stepAtKill: number | undefined;
        try {
          const deadline = Date.now() + CHECKPOINT_WAIT_MS;
          while (!exited && Date.now() < deadline) {
            const [dir] = await trainFullCheckpoints(a.cacheDir);
            const step = dir ? await checkpointStep(dir) : undefined;
            if (step !== undefined && step >= 4) break;
            await sleep(25);
          }
          assert(!exited, "the run ended before train-full wrote its second checkpoint");
          // The CLI alone, as the OOM killer or `kill -9 <pid>` would: its stage worker must notice.
          Deno.kill(victim.pid, "SIGKILL");
          const killed = await victimOutput;
          assertEquals(killed.signal, "SIGKILL");

          let orphans = processesMentioning(a.rel);
          const atKill = orphans.length;
          let waited = 0;
          for (; orphans.length > 0 && waited < ORPHAN_GRACE_MS; waited += 100) {
            await sleep(100);
            orphans = processesMentioning(a.rel);
          }
          console.log(
            `processes of the run right after the kill: ${atKill}; ${orphans.length} left after ${waited} ms`,
          );
          assertEquals(orphans, [], "processes of the killed run still running");

          const dirs = await trainFullCheckpoints(a.cacheDir);
          assertEquals(dirs.length, 1, "one train-full checkpoint folder after the kill");
          stepAtKill = await checkpointStep(dirs[0]);
          const lockAfterKill = await readLock(killFile);
          assert(!lockAfterKill?.stages["train-full"], "a killed stage must not reach the lock");
        } finally {
          try {
            Deno.kill(-victim.pid, "SIGKILL");
          } catch { /* the group is gone */ }
          await victimOutput.catch(() => {});
        }

        const resumed = await runPipelineCli(["--file", killFile, ...args]);
        assertEquals(resumed.code, 0, describeRun(resumed));
        assertEquals(stagesWith(resumed, "start"), ["train-full"]);
        const resumedMetrics = resumed.events.find((e) => e.event === "finish")!.metrics!;
        assert(stepAtKill !== undefined && stepAtKill > 0, `checkpoint step ${stepAtKill}`);
        console.log(
          `killed at checkpoint step ${stepAtKill}; resumed from ${resumedMetrics.resumedFromStep}; ${resumedMetrics.steps} steps`,
        );
        assertEquals(resumedMetrics.resumedFromStep, stepAtKill);
        assert(
          (resumedMetrics.steps as number) > stepAtKill,
          "the kill came after the last step",
        );
        assertEquals(await trainFullCheckpoints(a.cacheDir), [], "checkpoints stay after success");

        const reference = await runPipelineCli(["--file", referenceFile, ...args]);
        assertEquals(reference.code, 0, describeRun(reference));
        assertEquals(stagesWith(reference, "start"), ["train-full"]);
        const referenceMetrics = reference.events.find((e) => e.event === "finish")!.metrics!;
        assertEquals(referenceMetrics.resumedFromStep, 0);
        for (const name of ["validationLoss", "trainableParams", "steps"]) {
          assertEquals(resumedMetrics[name], referenceMetrics[name], name);
        }
        const ignore = [...MACHINE_METRICS, "resumedFromStep"];
        assertEquals(
          withoutMetrics(resumedMetrics, ignore),
          withoutMetrics(referenceMetrics, ignore),
        );
      },
    );
  } finally {
    for (const workspace of workspaces) await workspace.remove();
  }
});
