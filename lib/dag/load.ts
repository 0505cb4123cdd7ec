import { dirname, join, resolve } from "node:path";
import { DirectedGraph } from "graphology";
import { sha256Hex } from "../cache/hash.ts";
import { writeTextFileAtomic } from "../util/fs.ts";
import type { LoadOptions, Pipeline, StageSpec } from "./types.ts";

export type { LoadOptions };

/** Bump when the parsed form changes so old parse-cache entries are ignored. */
const PARSE_CACHE_VERSION = 5;

/**
 * Read, validate and expand a pipeline file. Returns the typed {@linkcode Pipeline} with matrix
 * cells expanded and a topological order. Throws `ConfigError` (with file:line:column and key) for
 * any problem in the file or an override, and `Deno.errors.NotFound` when the file does not exist.
 *
 * A validated file is remembered in a parse cache (`$XDG_CACHE_HOME/peftlab/parsed/`, keyed by
 * the file's content, the overrides and the working directory), so an unchanged pipeline loads
 * without starting the YAML parser: that keeps a no-op run of a large DAG fast.
 */
export async function loadPipeline(path: string, options: LoadOptions = {}): Promise<Pipeline> {
  const file = resolve(path);
  const text = await Deno.readTextFile(file);
  const root = findProjectRoot(dirname(file));
  const cachePath = parseCachePath(text, file, root, options);
  const cached = cachePath ? readParsed(cachePath) : undefined;
  if (cached) return cached;
  const { parsePipeline } = await import("./parse.ts");
  const pipeline = parsePipeline(text, file, root, options);
  if (cachePath) await writeParsed(cachePath, pipeline, text);
  return pipeline;
}

/** The nearest folder at or above `start` that holds a `deno.json`, else `start` itself. */
export function findProjectRoot(start: string): string {
  let dir = start;
  while (true) {
    try {
      Deno.statSync(join(dir, "deno.json"));
      return dir;
    } catch { /* keep looking upward */ }
    const parent = dirname(dir);
    if (parent === dir) return start;
    dir = parent;
  }
}

function parseCachePath(
  text: string,
  file: string,
  root: string,
  options: LoadOptions,
): string | undefined {
  let base: string | undefined;
  try {
    base = Deno.env.get("XDG_CACHE_HOME") ??
      (Deno.env.get("HOME") ? join(Deno.env.get("HOME")!, ".cache") : undefined);
  } catch {
    return undefined; // no env permission: no parse cache
  }
  if (!base) return undefined;
  const key = sha256Hex(JSON.stringify([
    PARSE_CACHE_VERSION,
    text,
    file,
    root,
    Deno.cwd(),
    options.set ?? [],
    options.cacheDir ?? null,
    options.backend ?? null,
  ]));
  return join(base, "peftlab", "parsed", `${key}.json`);
}

interface ParsedForm {
  pipeline: Omit<Pipeline, "stages" | "groups" | "graph">;
  stages: StageSpec[];
  groups: [string, string[]][];
  /** Stage modules that must still exist for the cached result to hold. */
  modules: string[];
}

function readParsed(path: string): Pipeline | undefined {
  let parsed: ParsedForm;
  try {
    parsed = JSON.parse(Deno.readTextFileSync(path));
  } catch {
    return undefined;
  }
  for (const module of parsed.modules) {
    try {
      if (!Deno.statSync(resolve(parsed.pipeline.root, module)).isFile) return undefined;
    } catch {
      return undefined; // a stage module vanished: validate again to report it
    }
  }
  const stages = new Map(parsed.stages.map((spec) => [spec.name, spec]));
  const graph = new DirectedGraph();
  for (const name of parsed.pipeline.order) graph.addNode(name);
  for (const spec of parsed.stages) {
    for (const need of spec.needs) graph.addDirectedEdge(need, spec.name);
  }
  return { ...parsed.pipeline, stages, groups: new Map(parsed.groups), graph };
}

async function writeParsed(path: string, pipeline: Pipeline, text: string): Promise<void> {
  // YAML's .inf/.nan do not survive JSON; such files are simply parsed every time.
  if (/\.(inf|nan)\b/i.test(text)) return;
  const { stages, groups, graph: _graph, ...rest } = pipeline;
  const form: ParsedForm = {
    pipeline: rest,
    stages: [...stages.values()],
    groups: [...groups.entries()],
    modules: [...new Set([...stages.values()].map((spec) => spec.uses))],
  };
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
    await writeTextFileAtomic(path, JSON.stringify(form));
  } catch { /* a read-only home only costs speed */ }
}
