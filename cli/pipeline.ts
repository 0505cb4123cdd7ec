/**
 * `deno task pipeline [run|status|dag|repro] [options]`: run a YAML DAG of cached stages.
 *
 * Exit codes: 0 success, 1 a stage failed (or repro drifted, or the run lock is busy with
 * `--no-wait`), 2 usage or configuration error, 130 interrupted (Ctrl-C). A user's mistake (bad
 * YAML, unknown key, bad data row, missing file, bad checkpoint) prints one line; its stack trace
 * goes to the stage log, and `--verbose` prints it too.
 *
 * @module
 */
import { parseFlags } from "./args.ts";
import { join, relative } from "node:path";
import { ConfigError, isUserError, UsageError } from "../lib/config/errors.ts";
import { loadPipeline } from "../lib/dag/load.ts";
import type { Pipeline } from "../lib/dag/types.ts";
import { publishFinalOutputs } from "../lib/run/publish.ts";
import {
  acquireRunLock,
  ConsoleReporter,
  type Executor,
  formatDriftTable,
  JsonReporter,
  LocalExecutor,
  pipelineStatus,
  type Reporter,
  reproPipeline,
  RunLockBusyError,
  runPipeline,
} from "../lib/run/mod.ts";

const USAGE = `usage: deno task pipeline [run|status|dag|repro] [options]

  run (default)    bring stages up to date
  status           show every stage as fresh or stale, and why
  dag              print the graph (--format text|mermaid|dot)
  repro            rerun everything into a temporary cache and compare metrics with the lock

options:
  -f, --file PATH        pipeline file (default pipeline.yaml)
  -s, --stage NAME       only this stage and its upstream (repeatable; a matrix name means all cells)
      --force            rerun the selected stages even when fresh
      --set KEY=VALUE    override a value of the file, e.g. train-lora.params.r=16 (repeatable)
  -j, --jobs N           stages running at once (default 1)
  -n, --dry-run          show what would run and why
      --json             one JSON event per line
      --no-wait          fail at once if another run holds the cache
      --executor NAME    local or slurm (default: the file's executor key)
      --backend NAME     tensor backend for every stage, overriding settings.backend
                         (auto, blas, wasm, cpu, webgpu, tensorflow)
  -k, --keep-going       after a failure, still run every stage that does not depend on it
      --format FORMAT    dag output: text, mermaid or dot
      --tolerance X      repro: relative tolerance for every metric (default: exact integers, 1e-6 floats)
      --ignore-metric G  repro: do not compare metrics named like glob G (repeatable)
  -v, --verbose          print stack traces and a failed stage's log tail even for user errors
  -h, --help             this help

exit codes: 0 done, 1 a stage failed (or repro drifted), 2 usage or configuration error,
130 interrupted`;

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_INTERRUPTED = 130;
const COMMANDS = ["run", "status", "dag", "repro"];

/** Parsed command line. */
export interface Cli {
  command: string;
  file: string;
  stages?: string[];
  force: boolean;
  set: string[];
  jobs?: number;
  dryRun: boolean;
  json: boolean;
  noWait: boolean;
  executor?: string;
  backend?: string;
  keepGoing: boolean;
  format: string;
  tolerance?: number;
  ignoreMetrics: string[];
  verbose: boolean;
}

/** Parses the pipeline CLI's arguments; throws UsageError for an unknown command or a bad flag. */
export function parseCli(args: string[]): Cli | "help" {
  const parsed = parseFlags({
    args,
    allowPositionals: true,
    options: {
      file: { type: "string", short: "f", default: "pipeline.yaml" },
      stage: { type: "string", short: "s", multiple: true },
      force: { type: "boolean", default: false },
      set: { type: "string", multiple: true, default: [] },
      jobs: { type: "string", short: "j" },
      "dry-run": { type: "boolean", short: "n", default: false },
      json: { type: "boolean", default: false },
      "no-wait": { type: "boolean", default: false },
      executor: { type: "string" },
      backend: { type: "string" },
      "keep-going": { type: "boolean", short: "k", default: false },
      format: { type: "string", default: "text" },
      tolerance: { type: "string" },
      "ignore-metric": { type: "string", multiple: true, default: [] },
      verbose: { type: "boolean", short: "v", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const { values, positionals } = parsed;
  if (values.help) return "help";
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  const command = positionals[0] ?? "run";
  if (!COMMANDS.includes(command)) {
    throw new UsageError(`unknown command "${command}" (commands: ${COMMANDS.join(", ")})`);
  }
  const jobs = values.jobs === undefined ? undefined : Number(values.jobs);
  if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) {
    throw new UsageError(`--jobs expects a whole number ≥ 1, got "${values.jobs}"`);
  }
  const tolerance = values.tolerance === undefined ? undefined : Number(values.tolerance);
  if (tolerance !== undefined && !(tolerance >= 0)) {
    throw new UsageError(`--tolerance expects a number ≥ 0, got "${values.tolerance}"`);
  }
  if (!["text", "mermaid", "dot"].includes(values.format)) {
    throw new UsageError(`--format expects text, mermaid or dot, got "${values.format}"`);
  }
  if (values.executor !== undefined && !["local", "slurm"].includes(values.executor)) {
    throw new UsageError(`--executor expects local or slurm, got "${values.executor}"`);
  }
  return {
    command,
    file: values.file,
    stages: values.stage,
    force: values.force,
    set: values.set,
    jobs,
    dryRun: values["dry-run"],
    json: values.json,
    noWait: values["no-wait"],
    executor: values.executor,
    backend: values.backend,
    keepGoing: values["keep-going"],
    format: values.format,
    tolerance,
    ignoreMetrics: values["ignore-metric"],
    verbose: values.verbose,
  };
}

/** `PEFTLAB_PROGRESS_INTERVAL_MS` sets how often plain (non-terminal) progress lines appear. */
function plainProgressInterval(): number | undefined {
  const value = Number(Deno.env.get("PEFTLAB_PROGRESS_INTERVAL_MS"));
  return value > 0 ? value : undefined;
}

async function createExecutor(name: string, pipeline: Pipeline, jobs?: number): Promise<Executor> {
  if (name === "local") return new LocalExecutor(jobs ?? 1);
  const modulePath = "../lib/run/executors/slurm.ts";
  let module: Record<string, unknown>;
  try {
    module = await import(modulePath);
  } catch (error) {
    throw new UsageError(`the slurm executor is not available: ${(error as Error).message}`);
  }
  const create = module.createSlurmExecutor as
    | ((pipeline: Pipeline, options: { jobs?: number }) => Executor | Promise<Executor>)
    | undefined;
  if (typeof create !== "function") {
    throw new UsageError(`${modulePath} does not export createSlurmExecutor(pipeline, { jobs })`);
  }
  return await create(pipeline, { jobs });
}

/** A stage's SLURM job as `status` shows it. */
interface SlurmJobLine {
  jobId: string;
  state: string;
  reason: string;
}

/**
 * Queued and running SLURM jobs of this pipeline's cache, by stage; none (with a warning) when
 * the controller cannot be reached.
 */
async function slurmJobs(pipeline: Pipeline): Promise<Map<string, SlurmJobLine>> {
  const jobs = new Map<string, SlurmJobLine>();
  try {
    const { queuedStages } = await import("../lib/run/executors/slurm.ts");
    for (const queued of await queuedStages(join(pipeline.cacheDir, "slurm"))) {
      jobs.set(queued.stage, { jobId: queued.jobId, state: queued.state, reason: queued.reason });
    }
  } catch (error) {
    console.error(`warning: SLURM jobs not shown: ${(error as Error).message.split("\n")[0]}`);
  }
  return jobs;
}

function printDag(pipeline: Pipeline, format: string): void {
  const lines: string[] = [];
  if (format === "text") {
    for (const name of pipeline.order) {
      const needs = pipeline.stages.get(name)!.needs;
      lines.push(needs.length > 0 ? `${name} ← ${needs.join(", ")}` : name);
    }
  } else if (format === "mermaid") {
    const id = new Map(pipeline.order.map((name, i) => [name, `s${i}`]));
    lines.push("graph TD");
    for (const name of pipeline.order) {
      lines.push(`  ${id.get(name)}["${name.replaceAll('"', "#quot;")}"]`);
    }
    for (const name of pipeline.order) {
      for (const need of pipeline.stages.get(name)!.needs) {
        lines.push(`  ${id.get(need)} --> ${id.get(name)}`);
      }
    }
  } else {
    lines.push("digraph pipeline {", "  rankdir=LR;");
    for (const name of pipeline.order) lines.push(`  ${JSON.stringify(name)};`);
    for (const name of pipeline.order) {
      for (const need of pipeline.stages.get(name)!.needs) {
        lines.push(`  ${JSON.stringify(need)} -> ${JSON.stringify(name)};`);
      }
    }
    lines.push("}");
  }
  console.log(lines.join("\n"));
}

async function main(args: string[]): Promise<number> {
  const cli = parseCli(args);
  if (cli === "help") {
    console.log(USAGE);
    return EXIT_OK;
  }
  const pipeline = await loadPipeline(cli.file, { set: cli.set, backend: cli.backend }).catch((
    error,
  ) => {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(`pipeline file ${cli.file} not found`);
    }
    throw error;
  });

  if (cli.command === "dag") {
    printDag(pipeline, cli.format);
    return EXIT_OK;
  }
  if (cli.command === "status") {
    const status = await pipelineStatus(pipeline, cli.stages);
    const jobs = (cli.executor ?? pipeline.executor) === "slurm"
      ? await slurmJobs(pipeline)
      : new Map<string, SlurmJobLine>();
    for (const stage of status) {
      const job = jobs.get(stage.stage);
      if (cli.json) {
        console.log(
          JSON.stringify({
            stage: stage.stage,
            fresh: stage.fresh,
            reasons: stage.reasons,
            ...(job ? { slurm: job } : {}),
          }),
        );
        continue;
      }
      const queued = job
        ? ` [SLURM job ${job.jobId} ${job.state}${
          job.reason && job.reason !== "None" ? `: ${job.reason}` : ""
        }]`
        : "";
      if (stage.fresh) console.log(`${stage.stage}: fresh${queued}`);
      else console.log(`${stage.stage}: stale: ${stage.reasons.join("; ")}${queued}`);
    }
    return EXIT_OK;
  }

  const controller = new AbortController();
  const onInterrupt = () => controller.abort();
  Deno.addSignalListener("SIGINT", onInterrupt);
  Deno.addSignalListener("SIGTERM", onInterrupt);
  const reporter: Reporter = cli.json
    ? new JsonReporter()
    : new ConsoleReporter(Deno.stdout.isTerminal(), false, plainProgressInterval());
  const executor = await createExecutor(cli.executor ?? pipeline.executor, pipeline, cli.jobs);
  try {
    if (cli.command === "repro") {
      const result = await reproPipeline(pipeline, {
        executor,
        reporter,
        tolerance: cli.tolerance,
        ignoreMetrics: cli.ignoreMetrics,
        jobs: cli.jobs,
        signal: controller.signal,
        set: cli.set,
        backend: cli.backend,
      });
      reporter.close();
      if (result.cancelled) return EXIT_INTERRUPTED;
      if (cli.json) {
        console.log(
          JSON.stringify({
            event: "repro",
            drifted: result.drifted,
            comparisons: result.comparisons,
          }),
        );
      } else if (result.drifted) {
        console.log(formatDriftTable(result.comparisons));
        if (result.failed.length > 0) console.log(`failed in rerun: ${result.failed.join(", ")}`);
        if (result.keptCache) {
          console.log(`the rerun's cache and logs are kept in ${result.keptCache}`);
        }
        console.log("repro: metrics drifted from the lock file");
      } else {
        console.log(`repro: all ${result.comparisons.length} recorded metrics reproduced`);
      }
      return result.drifted ? EXIT_FAILED : EXIT_OK;
    }

    const lock = cli.dryRun ? undefined : await acquireRunLock(pipeline.cacheDir, {
      noWait: cli.noWait,
      signal: controller.signal,
      onWait: (message) => console.error(message),
    });
    try {
      const summary = await runPipeline(pipeline, {
        executor,
        reporter,
        targets: cli.stages,
        force: cli.force,
        jobs: cli.jobs,
        dryRun: cli.dryRun,
        signal: controller.signal,
        verbose: cli.verbose,
        keepGoing: cli.keepGoing,
      });
      reporter.close();
      if (summary.cancelled) return EXIT_INTERRUPTED;
      if (!cli.json) {
        const file = relative(Deno.cwd(), pipeline.file);
        const parts = cli.dryRun
          ? [`${summary.wouldRun.length} would run`, `${summary.skipped.length} fresh`]
          : [
            `${summary.ran.length} ran`,
            `${summary.skipped.length} fresh`,
            `${summary.failed.length} failed`,
          ];
        if (summary.notRun.length > 0) parts.push(`${summary.notRun.length} not run`);
        if (summary.restored.length > 0) {
          parts.push(`${summary.restored.length} restored from the run cache`);
        }
        console.log(`${file}: ${parts.join(", ")}`);
      }
      if (!cli.dryRun && summary.failed.length === 0) {
        const published = await publishFinalOutputs(pipeline, summary.lock);
        const table = published.find((path) => path.endsWith("metrics.md"));
        if (table && !cli.json) {
          console.log(`\n${await Deno.readTextFile(table)}`);
          const shown = published.map(shownPath).join(", ");
          console.log(`written: ${shown}`);
        }
      }
      return summary.failed.length > 0 ? EXIT_FAILED : EXIT_OK;
    } finally {
      lock?.release();
    }
  } finally {
    reporter.close();
    Deno.removeSignalListener("SIGINT", onInterrupt);
    Deno.removeSignalListener("SIGTERM", onInterrupt);
  }
}

/** A path relative to the working folder when it is below it, else absolute. */
function shownPath(path: string): string {
  const fromCwd = relative(Deno.cwd(), path);
  return fromCwd.startsWith("..") ? path : fromCwd;
}

/** The exit code for an error that ended the CLI, after printing it (one line unless a bug). */
function reportError(error: unknown, verbose: boolean): number {
  if (error instanceof DOMException && error.name === "AbortError") return EXIT_INTERRUPTED;
  const user = isUserError(error) || error instanceof RunLockBusyError;
  if (!user || verbose) console.error(error);
  if (user) console.error(`error: ${error.message}`);
  return error instanceof ConfigError || error instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (error) {
    code = reportError(error, Deno.args.includes("--verbose") || Deno.args.includes("-v"));
  }
  Deno.exit(code);
}
