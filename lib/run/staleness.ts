import { join, relative } from "node:path";
import {
  cachedRun,
  canonicalJson,
  type CodeFingerprint,
  CodeHasher,
  hashTree,
  hasOutput,
  type LockEntry,
  type LockFile,
  outputPath,
  outputProblems,
  sha256Hex,
  StatCache,
} from "../cache/mod.ts";
import type { Pipeline, StageSpec } from "../dag/types.ts";
import { ConfigError, formatLocation } from "../config/errors.ts";
import { HubError } from "../hub/mod.ts";
import { hubReference, HubResolver } from "./hub_deps.ts";
import { homeFolder, isHomePath, isOutsideProject, resolveWrittenPath } from "../config/paths.ts";

/** Bump when the meaning of a stage key changes, so every stage reruns once. */
const KEY_VERSION = 1;

/** Everything a stage's key is made of, computed from the current files. */
export interface StageState {
  /** SHA-256 over the parts below. */
  key: string;
  code: CodeFingerprint;
  /**
   * Dependency file as written (project-relative, absolute or `~/…`) → SHA-256 (a folder: its
   * tree hash).
   */
  deps: Record<string, string>;
  /** Declared dependencies that do not exist (a key is still computed without them). */
  missingDeps: string[];
  /** Upstream stage name → output hash used. */
  upstream: Record<string, string>;
  /** What the stage sees as `ctx.inputs` for its file deps: path as written → absolute path. */
  depInputs: Record<string, string>;
  /** Extra folders the stage may read: the fixed base folder of each glob in `deps`. */
  globBases: string[];
  /** Hub models in `deps`: `hf:org/name[@revision]` → the commit it resolved to. */
  hubDeps: Record<string, string>;
}

/** Reason added when a stale stage's result can be restored from the run cache. */
export const RESTORABLE_REASON = "a run with these inputs is cached: restored without rerunning";

/**
 * What to do with a stage whose upstream outputs are known: the one decision the local and the
 * queued (SLURM) loop both carry out.
 */
export type Decision =
  /** Its state cannot be computed or a dependency is missing: it fails without running. */
  | { action: "fail"; error: string }
  /** The lock says it is done with exactly these inputs and its output is stored. */
  | { action: "fresh"; entry: LockEntry }
  /** A run with exactly these inputs is in the run cache: take its result. */
  | { action: "restore"; entry: LockEntry; reason: string }
  /** Run it, for these reasons. */
  | { action: "run"; state: StageState; reasons: string[] };

/** Whether a stage is fresh and, when not, why (one short line per reason). */
export interface StageStatus {
  stage: string;
  fresh: boolean;
  reasons: string[];
}

/** Characters that make a `deps` entry a glob. */
const GLOB_CHARS = /[*?[]/;

/**
 * Computes stage keys and staleness reasons against a lock file. Shared by `run`, `status`,
 * `--dry-run` and `repro`; file hashes go through the stat cache.
 */
export class Planner {
  readonly code: CodeHasher;
  /** The home folder `~/…` dependencies live under. */
  readonly home = homeFolder();
  /** Resolves `hf:` dependencies to commits (once each). */
  readonly hub = new HubResolver();
  /** Integrity checks of recorded outputs, by stage name (each runs once, concurrently). */
  readonly #outputChecks = new Map<string, Promise<string[]>>();

  constructor(
    readonly pipeline: Pipeline,
    readonly lock: LockFile,
    readonly stats: StatCache,
  ) {
    this.code = new CodeHasher(pipeline.root, stats);
  }

  /**
   * The current state of `spec` given its upstream output hashes. Throws `Deno.errors.NotFound`
   * when the stage module or a module it imports is missing.
   */
  async state(spec: StageSpec, upstream: Record<string, string>): Promise<StageState> {
    const code = await this.code.fingerprint(spec.uses);
    const deps: Record<string, string> = {};
    const depInputs: Record<string, string> = {};
    const missingDeps: string[] = [];
    const globBases: string[] = [];
    const hubDeps: Record<string, string> = {};
    const { root } = this.pipeline;
    for (const [index, dep] of spec.deps.entries()) {
      const reference = hubReference(dep);
      if (reference !== undefined) {
        deps[dep] = hubDeps[reference] = await this.#hubCommit(spec, index, reference);
        continue;
      }
      const isGlob = GLOB_CHARS.test(dep);
      if (isGlob) globBases.push(resolveWrittenPath(root, globBase(dep), this.home));
      const matches = isGlob ? await expandGlob(root, dep, this.home) : [dep];
      if (matches.length === 0) missingDeps.push(dep);
      for (const match of matches) {
        const absolute = resolveWrittenPath(root, match, this.home);
        try {
          const stat = await Deno.stat(absolute);
          deps[match] = stat.isDirectory
            ? await hashTree(absolute, this.stats)
            : await this.stats.hashFile(absolute);
          depInputs[match] = absolute;
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
          missingDeps.push(match);
        }
      }
    }
    const key = sha256Hex(canonicalJson({
      version: KEY_VERSION,
      uses: spec.uses,
      code: code.hash,
      params: spec.params,
      deps,
      missingDeps,
      upstream,
      outs: spec.outs,
    }));
    return { key, code, deps, missingDeps, upstream, depInputs, globBases, hubDeps };
  }

  /** The commit of a Hub dependency; a wrong reference is a ConfigError at its `deps` entry. */
  async #hubCommit(spec: StageSpec, index: number, reference: string): Promise<string> {
    try {
      return await this.hub.commit(reference);
    } catch (error) {
      if (!(error instanceof HubError) || !error.isConfigurationError) throw error;
      throw ConfigError.at(spec.depsWhere[index], error.message);
    }
  }

  /**
   * Decide the fate of `spec` given its upstream output hashes (`forced`: run even when fresh or
   * cached). Never throws: a state that cannot be computed is a `fail` decision.
   */
  async decide(
    spec: StageSpec,
    upstream: Record<string, string>,
    forced: boolean,
  ): Promise<Decision> {
    let state: StageState;
    try {
      state = await this.state(spec, upstream);
    } catch (error) {
      return { action: "fail", error: (error as Error).message };
    }
    if (state.missingDeps.length > 0) {
      return { action: "fail", error: missingDependencyMessage(spec, state.missingDeps) };
    }
    if (forced) return { action: "run", state, reasons: ["forced"] };
    const problems = await this.outputProblems(spec, state);
    if (this.matchesLock(spec, state) && problems.length === 0) {
      return { action: "fresh", entry: this.lock.stages[spec.name] };
    }
    const entry = this.lock.stages[spec.name];
    if (problems.length > 0 && hasOutput(this.pipeline.cacheDir, entry.output)) {
      // Its content no longer matches its name: nothing may restore from it or reuse it.
      await Deno.remove(outputPath(this.pipeline.cacheDir, entry.output), { recursive: true });
    }
    const reasons = await this.reasons(spec, state);
    const cached = this.cachedRun(state);
    if (cached) {
      return {
        action: "restore",
        entry: cached,
        reason: `restored from the run cache (${reasons.join("; ")})`,
      };
    }
    return { action: "run", state, reasons };
  }

  /** Whether the lock says `spec` was done with exactly `state` (its output not yet checked). */
  matchesLock(spec: StageSpec, state: StageState): boolean {
    const entry = this.lock.stages[spec.name];
    return entry !== undefined && entry.key === state.key && state.missingDeps.length === 0;
  }

  /**
   * What is wrong with the output the lock records for `spec` when its key matches (missing,
   * or a file changed, missing or added since it was stored); empty otherwise.
   */
  outputProblems(spec: StageSpec, state: StageState): Promise<string[]> {
    if (!this.matchesLock(spec, state)) return Promise.resolve([]);
    return this.#storedOutputProblems(spec.name);
  }

  /**
   * Starts the integrity checks of the outputs the lock records for `names`, all at once (they are
   * independent stat calls), so deciding stage after stage then waits on none of them.
   */
  startOutputChecks(names: readonly string[]): void {
    for (const name of names) if (this.lock.stages[name]) void this.#storedOutputProblems(name);
  }

  /** The integrity check of the output the lock records for `name`, started once per planner. */
  #storedOutputProblems(name: string): Promise<string[]> {
    let problems = this.#outputChecks.get(name);
    if (!problems) {
      const entry = this.lock.stages[name];
      problems = outputProblems(
        this.pipeline.cacheDir,
        entry.output,
        entry.output_files,
        this.stats,
      );
      problems.catch(() => {}); // a failure surfaces where the check is awaited
      this.#outputChecks.set(name, problems);
    }
    return problems;
  }

  /** Whether `spec` is done with exactly `state` and its stored output is intact. */
  async isFresh(spec: StageSpec, state: StageState): Promise<boolean> {
    return this.matchesLock(spec, state) && (await this.outputProblems(spec, state)).length === 0;
  }

  /** One-line reasons why `spec` is not fresh (empty when it is). */
  async reasons(spec: StageSpec, state: StageState): Promise<string[]> {
    const reasons = state.missingDeps.map((dep) => `${dep} missing`);
    const entry = this.lock.stages[spec.name];
    if (!entry) return [...reasons, "never run"];
    if (entry.key === state.key) {
      return [...reasons, ...await this.#storedOutputProblems(spec.name)];
    }
    reasons.push(...codeReasons(entry, state.code));
    reasons.push(...paramReasons(entry.params, spec.params));
    reasons.push(...recordReasons(entry.deps, state.deps, (dep, what) => `${dep} ${what}`));
    reasons.push(
      ...recordReasons(entry.upstream, state.upstream, (name, what) => `upstream ${name} ${what}`),
    );
    if (reasons.length === 0) reasons.push("stage definition changed");
    return reasons;
  }

  /**
   * Status of every stage in `names` (default: all, in order) without running anything: a stage
   * downstream of a stale one is stale too ("upstream X stale").
   */
  async status(names = this.pipeline.order): Promise<StageStatus[]> {
    const stale = new Set<string>();
    // Output each stage will have after a run, where already known (fresh or in the run cache).
    const outputs = new Map<string, string>();
    const result: StageStatus[] = [];
    this.startOutputChecks(names);
    for (const name of names) {
      const spec = this.pipeline.stages.get(name)!;
      const upstream: Record<string, string> = {};
      const staleUpstream: string[] = [];
      for (const need of spec.needs) {
        upstream[need] = outputs.get(need) ?? this.lock.stages[need]?.output ?? "";
        if (stale.has(need)) staleUpstream.push(need);
      }
      let reasons: string[];
      try {
        const state = await this.state(spec, upstream);
        if (await this.isFresh(spec, state)) {
          reasons = [];
          if (staleUpstream.length === 0) outputs.set(name, this.lock.stages[name].output);
        } else {
          reasons = await this.reasons(spec, state);
          // A damaged output is the one the run cache would restore: it has to be rebuilt.
          const damaged = this.matchesLock(spec, state);
          const cached = staleUpstream.length === 0 && !damaged ? this.cachedRun(state) : undefined;
          if (cached) {
            outputs.set(name, cached.output);
            reasons.push(RESTORABLE_REASON);
          }
        }
      } catch (error) {
        reasons = [(error as Error).message];
      }
      if (staleUpstream.length > 0 && !reasons.includes("never run")) {
        // Upstream outputs are not known until upstream reruns; do not guess "changed".
        reasons = reasons.filter((reason) =>
          !staleUpstream.some((u) => reason === `upstream ${u} changed`)
        );
        reasons.push(...staleUpstream.map((need) => `upstream ${need} stale`));
      }
      if (reasons.length > 0 && !outputs.has(name)) stale.add(name);
      result.push({ stage: name, fresh: reasons.length === 0, reasons });
    }
    return result;
  }

  /**
   * A finished run of exactly this state (same key) from the run cache whose output is still
   * stored, or undefined. Lets a stage switch back to earlier params without recomputing.
   */
  cachedRun(state: StageState): LockEntry | undefined {
    return cachedRun(this.pipeline.cacheDir, state.key);
  }
}

/**
 * One line naming each missing dependency: where its key was written, the key and the path
 * (`pipeline.yaml:24:9: data.test: /data/test.jsonl: no such file`).
 */
export function missingDependencyMessage(spec: StageSpec, missing: string[]): string {
  return missing.map((path) => {
    const index = spec.deps.findIndex((dep) => dep === path);
    const glob = index < 0 ? spec.deps.findIndex((dep) => GLOB_CHARS.test(dep)) : -1;
    const where = spec.depsWhere[index >= 0 ? index : glob >= 0 ? glob : 0];
    const problem = index < 0 && glob >= 0 ? "matches no file" : "no such file";
    return where
      ? `${formatLocation(where)}: ${where.key}: ${path}: ${problem}`
      : `${path}: ${problem}`;
  }).join("; ");
}

function codeReasons(entry: LockEntry, code: CodeFingerprint): string[] {
  const reasons = recordReasons(
    entry.code?.files ?? {},
    code.files,
    (file, what) => what === "changed" ? `code ${file} changed` : `code ${file} ${what}`,
  );
  const before = new Set(entry.code?.packages ?? []);
  const after = new Set(code.packages);
  for (const pkg of after) if (!before.has(pkg)) reasons.push(`package ${pkg} added`);
  for (const pkg of before) if (!after.has(pkg)) reasons.push(`package ${pkg} removed`);
  return reasons;
}

function recordReasons(
  before: Record<string, string>,
  after: Record<string, string>,
  say: (name: string, what: "changed" | "added" | "removed") => string,
): string[] {
  const reasons: string[] = [];
  for (const [name, hash] of Object.entries(after)) {
    if (!(name in before)) reasons.push(say(name, "added"));
    else if (before[name] !== hash) reasons.push(say(name, "changed"));
  }
  for (const name of Object.keys(before)) if (!(name in after)) reasons.push(say(name, "removed"));
  return reasons;
}

/** `params.lr 5e-05 → 0.0001` for each changed leaf, `params.x added` / `removed`. */
export function paramReasons(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): string[] {
  const flatBefore = flatten(before, "params");
  const flatAfter = flatten(after, "params");
  const reasons: string[] = [];
  for (const [key, value] of flatAfter) {
    if (!flatBefore.has(key)) reasons.push(`${key} added (${formatValue(value)})`);
    else if (canonicalJson(flatBefore.get(key)) !== canonicalJson(value)) {
      reasons.push(`${key} ${formatValue(flatBefore.get(key))} → ${formatValue(value)}`);
    }
  }
  for (const key of flatBefore.keys()) if (!flatAfter.has(key)) reasons.push(`${key} removed`);
  return reasons;
}

function flatten(value: unknown, prefix: string, out = new Map<string, unknown>()) {
  if (
    value !== null && typeof value === "object" && !Array.isArray(value) &&
    Object.keys(value).length > 0
  ) {
    for (const [key, item] of Object.entries(value)) flatten(item, `${prefix}.${key}`, out);
  } else out.set(prefix, value);
  return out;
}

/** A param value as a user would write it (`5e-05`, `0.0001`, `lora`, `[1,2]`). */
export function formatValue(value: unknown): string {
  if (typeof value === "number") {
    const abs = Math.abs(value);
    if (abs !== 0 && (abs < 1e-4 || abs >= 1e16)) {
      const [mantissa, exponent] = value.toExponential().split("e");
      const sign = exponent.startsWith("-") ? "-" : "+";
      return `${mantissa}e${sign}${exponent.replace(/^[+-]/, "").padStart(2, "0")}`;
    }
    return String(value);
  }
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/** The folder part of a glob before its first wildcard (`data/tok/*.json` → `data/tok`). */
function globBase(pattern: string): string {
  const parts = pattern.split("/");
  return parts.slice(0, parts.findIndex((part) => GLOB_CHARS.test(part))).join("/") || ".";
}

/**
 * Files matching a glob (`*`, `?`, `**`, `[...]`), sorted, written the way the pattern is:
 * project-relative for a pattern inside the project, absolute or `~/…` for one outside it.
 */
export async function expandGlob(
  root: string,
  pattern: string,
  home = homeFolder(),
): Promise<string[]> {
  const outside = isOutsideProject(pattern);
  const regex = globToRegExp(outside ? resolveWrittenPath(root, pattern, home) : pattern);
  const written = (path: string) =>
    !outside
      ? relative(root, path)
      : isHomePath(pattern)
      ? `~${path.slice(home!.length)}`
      : pattern.startsWith("/")
      ? path
      : relative(root, path);
  const matches: string[] = [];
  const walk = async (dir: string) => {
    let entries;
    try {
      entries = Deno.readDir(dir);
    } catch {
      return;
    }
    try {
      for await (const entry of entries) {
        const path = join(dir, entry.name);
        if (entry.isDirectory) await walk(path);
        else if (regex.test(outside ? path : relative(root, path))) matches.push(written(path));
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  };
  await walk(resolveWrittenPath(root, globBase(pattern), home));
  return matches.sort();
}

function globToRegExp(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i];
    if (char === "*" && pattern[i + 1] === "*") {
      source += pattern[i + 2] === "/" ? "(?:.*/)?" : ".*";
      i += pattern[i + 2] === "/" ? 2 : 1;
    } else if (char === "*") source += "[^/]*";
    else if (char === "?") source += "[^/]";
    else if (char === "[") {
      const end = pattern.indexOf("]", i);
      source += end > i ? pattern.slice(i, end + 1) : "\\[";
      if (end > i) i = end;
    } else source += char.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}
