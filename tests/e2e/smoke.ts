/**
 * End-to-end test helpers: run the real CLI on copies of `pipelines/smoke.yaml`, each in a
 * workspace of its own so that the repository's `artifacts/` and `pipelines/smoke.lock` are never
 * touched.
 *
 * A workspace is a folder `.e2e-<label>-<random>.tmp/` in the project root. It must be inside the
 * project because `settings.cache` may not leave it; the `.tmp` suffix keeps it out of git, and
 * therefore out of `deno fmt`/`deno lint`, while tests run. It holds the pipeline copies (whose
 * locks sit beside them) and the cache `cache/`.
 *
 * @module
 */
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseDocument } from "yaml";
import type { Document } from "yaml";
import { type CliResult, collect } from "../fake_stages/project.ts";

/** The project root: the folder holding deno.json. */
export const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI_PATH = fileURLToPath(new URL("../../cli/pipeline.ts", import.meta.url));
const SMOKE_PATH = join(PROJECT_ROOT, "pipelines", "smoke.yaml");

/** No CLI run of the smoke pipeline should come near this; past it the CLI gets SIGTERM. */
export const CLI_TIMEOUT_MS = 240_000;

/**
 * Metrics that measure the machine rather than the result (the brief's list, which is also what
 * `repro` skips for the smoke pipeline): never compared between runs.
 */
export const MACHINE_METRICS = [
  "*Seconds",
  "tokensPerSecond",
  "peak*Bytes",
  "version.*",
  "threads",
  "adapter",
  "verdict.cheapest",
];

/** A temporary folder in the project root holding pipeline copies and one cache. */
export interface Workspace {
  /** Absolute path of the folder. */
  dir: string;
  /** Its name relative to the project root; unique, so it also marks this workspace's processes. */
  rel: string;
  /** Absolute path of the cache. */
  cacheDir: string;
  /** Remove the folder and everything in it. */
  remove(): Promise<void>;
}

/** One stage's entry in a lock file (the fields the tests read). */
export interface LockEntry {
  key: string;
  params: Record<string, unknown>;
  output: string;
  upstream: Record<string, string>;
  metrics: Record<string, unknown>;
}

/** A parsed lock file. */
export interface Lock {
  stages: Record<string, LockEntry>;
}

/** Create an empty workspace; call `remove()` in a `finally`. */
export async function makeWorkspace(label: string): Promise<Workspace> {
  const dir = await Deno.makeTempDir({
    dir: PROJECT_ROOT,
    prefix: `.e2e-${label}-`,
    suffix: ".tmp",
  });
  const rel = relative(PROJECT_ROOT, dir);
  return {
    dir,
    rel,
    cacheDir: join(dir, "cache"),
    remove: () => removeTree(dir),
  };
}

/** Stage outputs are read-only: make everything writable, then remove it. */
async function removeTree(dir: string): Promise<void> {
  try {
    await Deno.remove(dir, { recursive: true });
    return;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
  }
  const makeWritable = async (path: string) => {
    const info = await Deno.lstat(path);
    if (info.isSymlink) return;
    await Deno.chmod(path, info.isDirectory ? 0o755 : 0o644);
    if (info.isDirectory) {
      for await (const entry of Deno.readDir(path)) await makeWritable(join(path, entry.name));
    }
  };
  await makeWritable(dir);
  await Deno.remove(dir, { recursive: true });
}

/** The smoke pipeline's text, parsed with source positions kept. */
export async function readSmokeDocument(): Promise<Document> {
  return parseDocument(await Deno.readTextFile(SMOKE_PATH));
}

/**
 * Write a copy of the smoke pipeline named `<name>.yaml` into the workspace, with its cache set to
 * the workspace's cache and `edit` applied; returns its path relative to the project root (what
 * `--file` takes).
 */
export async function writeSmokePipeline(
  workspace: Workspace,
  name: string,
  edit?: (doc: Document) => void,
): Promise<string> {
  const doc = await readSmokeDocument();
  doc.setIn(["settings", "cache"], relative(PROJECT_ROOT, workspace.cacheDir));
  edit?.(doc);
  const path = join(workspace.dir, `${name}.yaml`);
  await Deno.writeTextFile(path, doc.toString());
  return relative(PROJECT_ROOT, path);
}

/** The lock file beside a pipeline file (`x.yaml` → `x.lock`), or undefined when there is none. */
export async function readLock(pipelineFile: string): Promise<Lock | undefined> {
  const path = join(PROJECT_ROOT, pipelineFile.replace(/\.ya?ml$/, ".lock"));
  try {
    return JSON.parse(await Deno.readTextFile(path)) as Lock;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** The pipeline CLI as a child process in its own process group, from the project root. */
export function spawnPipeline(args: string[], signal?: AbortSignal): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-ffi", "--quiet", CLI_PATH, ...args],
    cwd: PROJECT_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    detached: true,
    signal,
  }).spawn();
}

/** A finished CLI run and how long it took (wall seconds, Deno's start-up included). */
export interface TimedCliResult extends CliResult {
  seconds: number;
}

/** Run the pipeline CLI to the end (SIGTERM after {@linkcode CLI_TIMEOUT_MS}). */
export async function runPipelineCli(args: string[]): Promise<TimedCliResult> {
  const started = performance.now();
  const child = spawnPipeline(args, AbortSignal.timeout(CLI_TIMEOUT_MS));
  const output = await child.output();
  const seconds = (performance.now() - started) / 1000;
  return { ...collect(output.code, output.stdout, output.stderr), seconds };
}

/** Everything a failed assertion on a CLI run needs to be diagnosed. */
export function describeRun(result: CliResult): string {
  return `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

/**
 * Pids of live processes whose command line mentions `marker`: from `/proc` on Linux, else from
 * `ps`. Zombies (ended, not yet reaped) do not count.
 */
export function processesMentioning(marker: string): number[] {
  if (Deno.build.os !== "linux") {
    const ps = new Deno.Command("ps", { args: ["-axo", "pid=,stat=,command="] }).outputSync();
    return new TextDecoder().decode(ps.stdout).split("\n").map((line) => line.trim().split(/\s+/))
      .filter(([pid, state, ...command]) =>
        Number(pid) !== Deno.pid && !state?.startsWith("Z") && command.join(" ").includes(marker)
      ).map(([pid]) => Number(pid));
  }
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      const state = Deno.readTextFileSync(`/proc/${entry.name}/stat`).split(") ")[1]?.[0];
      if (state !== "Z" && cmdline.includes(marker)) pids.push(Number(entry.name));
    } catch { /* the process ended while we looked */ }
  }
  return pids;
}

/** True when `name` matches one of the globs (`*`, `?`; the whole name). */
export function matchesAny(name: string, globs: string[]): boolean {
  return globs.some((glob) =>
    new RegExp(
      `^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".")}$`,
    ).test(name)
  );
}

/** `metrics` without the entries whose names match `ignore`. */
export function withoutMetrics(
  metrics: Record<string, unknown>,
  ignore: string[],
): Record<string, unknown> {
  return Object.fromEntries(Object.entries(metrics).filter(([name]) => !matchesAny(name, ignore)));
}

/** Stage cells of a pipeline document in file order (a one-variable matrix expands in order). */
export function stageCells(doc: Document): string[] {
  const stages = doc.getIn(["stages"]) as { toJSON(): Record<string, { matrix?: unknown }> };
  const cells: string[] = [];
  for (const [name, stage] of Object.entries(stages.toJSON())) {
    const matrix = stage.matrix as Record<string, unknown[]> | undefined;
    if (!matrix) {
      cells.push(name);
      continue;
    }
    const entries = Object.entries(matrix);
    if (entries.length !== 1) throw new Error(`${name}: only one matrix variable is handled here`);
    const [variable, values] = entries[0];
    for (const value of values) cells.push(`${name}[${variable}=${value}]`);
  }
  return cells;
}

/** GPT-2 model shape as the pipeline file states it. */
export interface ModelShape {
  nLayer: number;
  nEmbd: number;
  nPositions: number;
  /** The MLP's inner width (GPT-2: 4 × n_embd unless `n_inner` says otherwise). */
  nInner: number;
}

/** The model shape from a pipeline document's `model` section. */
export function modelShape(doc: Document): ModelShape {
  const model = (doc.getIn(["model"]) as { toJSON(): Record<string, number | null> }).toJSON();
  const nEmbd = model.n_embd!;
  return {
    nLayer: model.n_layer!,
    nEmbd,
    nPositions: model.n_positions!,
    nInner: model.n_inner ?? 4 * nEmbd,
  };
}

/**
 * Parameters of one GPT-2 block: ln_1 and ln_2 (gain + bias), attention c_attn (d → 3d) and c_proj
 * (d → d), MLP c_fc (d → inner) and c_proj (inner → d), every linear layer with a bias.
 */
export function blockParams({ nEmbd: d, nInner: inner }: ModelShape): number {
  const layerNorms = 2 * (2 * d);
  const attention = (d * 3 * d + 3 * d) + (d * d + d);
  const mlp = (d * inner + inner) + (inner * d + d);
  return layerNorms + attention + mlp;
}

/** Input and output width of an adapter target module of a GPT-2 block (n_inner = 4·n_embd). */
export function targetShape(module: string, shape: ModelShape): [number, number] {
  // Named in full: "c_proj" alone would match both the attention's and the MLP's.
  if (module === "c_attn") return [shape.nEmbd, 3 * shape.nEmbd];
  if (module === "mlp.c_proj") return [4 * shape.nEmbd, shape.nEmbd];
  throw new Error(`no shape known here for target ${module}`);
}

/** The tuning methods the smoke pipeline compares, by their train stage's `method`. */
export type Method = "prompt" | "lora" | "ia3" | "full";

function stageConfig(doc: Document, stage: string): Record<string, unknown> {
  const node = doc.getIn(["stages", stage, "params", "config"]) as {
    toJSON(): Record<string, unknown>;
  };
  return node.toJSON();
}

/**
 * Trainable parameters each method must report, from the pipeline's own settings: prompt tuning
 * trains soft_tokens × n_embd; LoRA trains r·(in + out) per target module per block; IA³, as PEFT
 * counts it, one scale per output of each attention target (q, k and v of c_attn) and per input
 * of each feed-forward target, per block; full fine-tuning trains the last `last_blocks` blocks
 * plus the final layer norm (gain + bias).
 */
export function expectedTrainableParams(doc: Document): Record<Method, number> {
  const shape = modelShape(doc);
  const prompt = stageConfig(doc, "train-prompt");
  const lora = stageConfig(doc, "train-lora");
  const ia3 = stageConfig(doc, "train-ia3");
  const full = stageConfig(doc, "train-full");
  const r = lora.r as number;
  const perBlock = (lora.target_modules as string[])
    .map((module) => targetShape(module, shape))
    .reduce((sum, [fanIn, fanOut]) => sum + r * (fanIn + fanOut), 0);
  const feedforward = ia3.feedforward_modules as string[];
  const scalesPerBlock = (ia3.target_modules as string[])
    .map((module) => {
      const [fanIn, fanOut] = targetShape(module, shape);
      return feedforward.includes(module) ? fanIn : fanOut;
    })
    .reduce((sum, scales) => sum + scales, 0);
  return {
    prompt: (prompt.soft_tokens as number) * shape.nEmbd,
    lora: shape.nLayer * perBlock,
    ia3: shape.nLayer * scalesPerBlock,
    full: (full.last_blocks as number) * blockParams(shape) + 2 * shape.nEmbd,
  };
}

/**
 * Parameters of the whole base GPT-2 for a vocabulary of `vocabSize`: token and position
 * embeddings, the blocks and the final layer norm (the LM head is tied to the token embedding).
 */
export function baseModelParams(doc: Document, vocabSize: number): number {
  const shape = modelShape(doc);
  return (vocabSize + shape.nPositions) * shape.nEmbd + shape.nLayer * blockParams(shape) +
    2 * shape.nEmbd;
}
