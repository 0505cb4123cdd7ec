import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node as YamlNode,
  parseDocument,
  type Scalar,
  type YAMLMap,
  type YAMLSeq,
} from "yaml";
import { isAbsolute, normalize, relative, resolve } from "node:path";
import { ConfigError, type SourceLocation } from "../config/errors.ts";
import { homeFolder, resolveWrittenPath } from "../config/paths.ts";
import { applyOverrides } from "./overrides.ts";
import { buildGraph } from "./graph.ts";
import { interpolate, type Scope } from "./interpolate.ts";
import {
  BACKEND_NAMES,
  EXECUTOR_NAMES,
  type ExecutorName,
  type LoadOptions,
  type MatrixValue,
  type Pipeline,
  type PipelineSettings,
  type ReproSettings,
  type StageResources,
  type StageSpec,
} from "./types.ts";

const TOP_LEVEL_KEYS = ["settings", "executor", "repro", "data", "model", "vars", "stages"];
const REPRO_KEYS = ["ignore_metrics", "tolerance"];
const SECTION_KEYS = ["settings", "data", "model", "vars"];
const SETTINGS_KEYS = ["backend", "seed", "cache", "threads"];
const STAGE_KEYS = ["uses", "desc", "needs", "deps", "params", "outs", "matrix", "resources"];
const RESOURCE_KEYS = ["cpus", "mem", "gpus", "time", "partition", "sbatch"];
const STAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const MATRIX_VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MEMORY = /^\d+(\.\d+)?[KMGT]?B?$/i;
const WALL_TIME = /^(\d+-)?\d+(:\d{2}){0,2}$/;
/** A role a stage reads its upstream under (`tokenized`, `base`, `tuned`). */
const ROLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** One stage named in `needs`, with its key, and the role it fills (mapping form). */
interface NeedItem {
  value: string;
  node: YamlNode;
  key: string;
  role?: string;
}

/** How many `${section.key}` hops `locate` follows (sections may refer to each other). */
const MAX_REFERENCE_DEPTH = 8;

/**
 * Validate pipeline YAML text as if it were read from `file`, with paths relative to `root`.
 * Same result and errors as `loadPipeline` (which caches this function's result).
 */
export function parsePipeline(
  text: string,
  file: string,
  root: string,
  options: LoadOptions = {},
): Pipeline {
  const fromCwd = relative(Deno.cwd(), file);
  const shownFile = fromCwd && !fromCwd.startsWith("..") ? fromCwd : file;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const error = doc.errors[0];
    const pos = lineCounter.linePos(error.pos[0]);
    const detail = error.code === "DUPLICATE_KEY"
      ? "duplicate key (each key, including each stage name, must appear once)"
      : error.message.split("\n")[0];
    throw ConfigError.at(
      { file: shownFile, line: pos.line, column: pos.col, key: keyAt(doc, error.pos[0]) },
      detail,
    );
  }
  const overridden = applyOverrides(doc, options.set ?? [], shownFile);
  return new Checker(shownFile, lineCounter, overridden).pipeline(doc, file, root, options);
}

/** Dotted key of the innermost map pair whose range covers `offset` (for YAML syntax errors). */
function keyAt(doc: Document, offset: number): string {
  const path: string[] = [];
  let node: unknown = doc.contents;
  while (isMap(node)) {
    const pair = node.items.find((item) => {
      const key = item.key as YamlNode | null;
      const value = item.value as YamlNode | null;
      const start = key?.range?.[0] ?? Infinity;
      const end = value?.range?.[2] ?? key?.range?.[2] ?? -Infinity;
      return start <= offset && offset <= end;
    });
    if (!pair) break;
    path.push(String(isScalar(pair.key) ? pair.key.value : pair.key));
    node = pair.value;
  }
  return path.join(".");
}

class Checker {
  /** Top-level sections as YAML nodes, to locate where a `${section.key}` value was written. */
  sectionNodes = new Map<string, YamlNode>();

  constructor(
    readonly file: string,
    readonly lineCounter: LineCounter,
    readonly overridden: WeakSet<object> = new WeakSet(),
  ) {}

  where(node: YamlNode | null | undefined, key: string): SourceLocation {
    if (node && this.overridden.has(node)) return { file: "--set", line: 0, column: 0, key };
    const offset = node?.range?.[0];
    if (offset === undefined) return { file: this.file, line: 0, column: 0, key };
    const pos = this.lineCounter.linePos(offset);
    return { file: this.file, line: pos.line, column: pos.col, key };
  }

  fail(node: YamlNode | null | undefined, key: string, detail: string): never {
    throw ConfigError.at(this.where(node, key), detail);
  }

  /** Where the value of `node` was written: for a whole `${section.key}`, that section entry. */
  originWhere(node: YamlNode | null, key: string): SourceLocation {
    const origin = this.referenced(node, true);
    return origin ? this.where(origin.at, origin.key) : this.where(node, key);
  }

  /**
   * Record where `node` and every value under it were written, keyed by `relative` dotted paths
   * (`params.training.lr`, `params.sources[0]`), following whole `${section.key}` references to
   * the section entry they copy.
   */
  locate(
    node: YamlNode | null,
    relative: string,
    key: string,
    at: YamlNode | null,
    out: Record<string, SourceLocation>,
    depth = 0,
  ): void {
    const origin = depth < MAX_REFERENCE_DEPTH ? this.referenced(node) : undefined;
    if (origin) return this.locate(origin.value, relative, origin.key, origin.at, out, depth + 1);
    // A key's value set by --set was written there, not at the key in the file.
    const overridden = node !== null && this.overridden.has(node);
    out[relative] = this.where(overridden ? node : at ?? node, key);
    if (isMap(node)) {
      for (const pair of node.items) {
        const name = String(isScalar(pair.key) ? pair.key.value : pair.key);
        const value = pair.value as YamlNode | null;
        this.locate(
          value,
          `${relative}.${name}`,
          `${key}.${name}`,
          pair.key as YamlNode,
          out,
          depth,
        );
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const child = item as YamlNode;
        this.locate(child, `${relative}[${i}]`, `${key}[${i}]`, child, out, depth);
      });
    }
  }

  /**
   * The section entry a scalar that is exactly `${section.a.b}` copies (with `subPath`, also
   * `${section.a.b}/…`, a path under it): value, key node, key.
   */
  referenced(
    node: YamlNode | null,
    subPath = false,
  ): { value: YamlNode | null; at: YamlNode; key: string } | undefined {
    if (!isScalar(node) || typeof node.value !== "string") return undefined;
    const whole = (subPath ? /^\$\{([^}]*)\}(?:\/.*)?$/ : /^\$\{([^}]*)\}$/).exec(node.value);
    if (!whole) return undefined;
    const [head, ...rest] = whole[1].trim().split(".");
    let current: YamlNode | null | undefined = this.sectionNodes.get(head);
    if (!current) return undefined;
    let at: YamlNode = current;
    let key = head;
    for (const part of rest) {
      if (!isMap(current)) return undefined;
      const pair = current.items.find((item) =>
        isScalar(item.key) && String(item.key.value) === part
      );
      if (!pair) return undefined;
      current = pair.value as YamlNode | null;
      at = pair.key as YamlNode;
      key += `.${part}`;
    }
    return { value: current ?? null, at, key };
  }

  map(node: unknown, key: string, what = "a mapping"): YAMLMap<Scalar, YamlNode | null> {
    if (!isMap(node)) this.fail(node as YamlNode, key, `expected ${what}, got ${describe(node)}`);
    return node as YAMLMap<Scalar, YamlNode | null>;
  }

  /** Pairs of a mapping with string keys, rejecting keys outside `allowed` (when given). */
  entries(
    map: YAMLMap<Scalar, YamlNode | null>,
    key: string,
    allowed?: string[],
  ): [string, YamlNode | null, Scalar][] {
    return map.items.map((pair) => {
      const k = pair.key;
      if (!isScalar(k) || typeof k.value !== "string" && typeof k.value !== "number") {
        this.fail(k as YamlNode, key, "keys must be plain strings");
      }
      const name = String(k.value);
      const dotted = key ? `${key}.${name}` : name;
      if (allowed && !allowed.includes(name)) {
        this.fail(k, dotted, `unknown key "${name}"; allowed: ${allowed.join(", ")}`);
      }
      return [name, pair.value as YamlNode | null, k];
    });
  }

  string(node: YamlNode | null, key: string): string {
    if (!isScalar(node) || typeof node.value !== "string") {
      this.fail(node, key, `expected a string, got ${describe(node)}`);
    }
    return node.value as string;
  }

  integer(node: YamlNode | null, key: string, min: number): number {
    if (!isScalar(node) || typeof node.value !== "number" || !Number.isInteger(node.value)) {
      this.fail(node, key, `expected an integer, got ${describe(node)}`);
    }
    const value = node.value as number;
    if (value < min) this.fail(node, key, `expected an integer ≥ ${min}, got ${value}`);
    return value;
  }

  stringList(node: YamlNode | null, key: string): { value: string; node: YamlNode }[] {
    if (!isSeq(node)) this.fail(node, key, `expected a list of strings, got ${describe(node)}`);
    return (node as YAMLSeq<YamlNode>).items.map((item, i) => ({
      value: this.string(item, `${key}[${i}]`),
      node: item,
    }));
  }

  pipeline(doc: Document, file: string, root: string, options: LoadOptions): Pipeline {
    if (doc.contents === null) this.fail(null, "", "the pipeline file is empty");
    const top = this.map(doc.contents, "", "a mapping at the top level");
    const nodes = new Map<string, YamlNode | null>();
    const keyNodes = new Map<string, Scalar>();
    for (const [name, value, keyNode] of this.entries(top, "", TOP_LEVEL_KEYS)) {
      nodes.set(name, value);
      keyNodes.set(name, keyNode);
    }

    const sections: Record<string, unknown> = {};
    for (const name of SECTION_KEYS) {
      const node = nodes.get(name);
      if (node === undefined) continue;
      if (node !== null) {
        this.map(node, name);
        this.sectionNodes.set(name, node);
      }
      sections[name] = node === null ? {} : node.toJSON();
    }
    const settings = this.settings(nodes.get("settings"));
    if (options.backend !== undefined) {
      if (!(BACKEND_NAMES as readonly string[]).includes(options.backend)) {
        throw new ConfigError(
          "--backend",
          `unknown backend "${options.backend}"; allowed: ${BACKEND_NAMES.join(", ")}`,
        );
      }
      settings.backend = options.backend as PipelineSettings["backend"];
    }
    sections.settings = settings;

    let executor: ExecutorName = "local";
    if (nodes.has("executor")) {
      const value = this.string(nodes.get("executor")!, "executor");
      if (!(EXECUTOR_NAMES as readonly string[]).includes(value)) {
        this.fail(
          nodes.get("executor"),
          "executor",
          `unknown executor "${value}"; allowed: ${EXECUTOR_NAMES.join(", ")}`,
        );
      }
      executor = value as ExecutorName;
    }

    const repro = this.repro(nodes.get("repro"));

    if (!nodes.has("stages")) this.fail(top, "stages", 'missing required key "stages"');
    const stagesNode = this.map(nodes.get("stages"), "stages");
    if (stagesNode.items.length === 0) this.fail(stagesNode, "stages", "no stages declared");

    const stages = new Map<string, StageSpec>();
    const groups = new Map<string, string[]>();
    const needItems = new Map<string, NeedItem[]>();
    const usesChecked = new Map<string, boolean>();
    for (const [name, node, keyNode] of this.entries(stagesNode, "stages")) {
      const key = `stages.${name}`;
      if (!STAGE_NAME.test(name)) {
        this.fail(
          keyNode,
          key,
          "stage names use letters, digits, '-' and '_' and start with a letter or digit",
        );
      }
      const cells = this.stage(name, node, keyNode, sections, root, usesChecked);
      groups.set(name, cells.map((cell) => cell.spec.name));
      for (const cell of cells) {
        stages.set(cell.spec.name, cell.spec);
        needItems.set(cell.spec.name, cell.needs);
      }
    }

    // A need naming a matrix stage means every cell of it; a role gets every cell it names.
    for (const spec of stages.values()) {
      const expanded: string[] = [];
      const roles: Record<string, string[]> = {};
      spec.needs.forEach((need, i) => {
        const item = needItems.get(spec.name)![i];
        let cells: string[];
        if (stages.has(need)) cells = [need];
        else if (groups.has(need)) cells = groups.get(need)!;
        else {
          const known = [...groups.keys()].join(", ");
          this.fail(item.node, item.key, `unknown stage "${need}" (stages: ${known})`);
        }
        expanded.push(...cells);
        const role = item.role ?? need;
        roles[role] = [...new Set([...(roles[role] ?? []), ...cells])];
      });
      spec.needs = [...new Set(expanded)];
      spec.roles = roles;
    }

    const graph = buildGraph(stages, (stage, need) => {
      const spec = stages.get(stage)!;
      const i = spec.needs.indexOf(need);
      const items = needItems.get(stage)!;
      return this.where(items[Math.min(i, items.length - 1)]?.node, `stages.${spec.base}.needs`);
    });

    const cacheDir = resolveWrittenPath(root, options.cacheDir ?? settings.cache, homeFolder());
    const lockPath = file.replace(/\.(ya?ml)$/i, "") + ".lock";
    return {
      file,
      root,
      lockPath,
      cacheDir,
      settings,
      executor,
      repro,
      sections,
      stages,
      order: graph.order,
      groups,
      graph: graph.graph,
    };
  }

  repro(node: YamlNode | null | undefined): ReproSettings {
    const repro: ReproSettings = { ignoreMetrics: [] };
    if (node === undefined || node === null) return repro;
    for (const [name, value] of this.entries(this.map(node, "repro"), "repro", REPRO_KEYS)) {
      const key = `repro.${name}`;
      if (name === "ignore_metrics") {
        repro.ignoreMetrics = this.stringList(value, key).map((item) => item.value);
      } else {
        if (!isScalar(value) || typeof value.value !== "number" || !(value.value >= 0)) {
          this.fail(value, key, `expected a number ≥ 0, got ${describe(value)}`);
        }
        repro.tolerance = value.value as number;
      }
    }
    return repro;
  }

  settings(node: YamlNode | null | undefined): PipelineSettings {
    const settings: PipelineSettings = { backend: "auto", seed: 0, cache: "artifacts" };
    if (node === undefined || node === null) return settings;
    for (
      const [name, value] of this.entries(this.map(node, "settings"), "settings", SETTINGS_KEYS)
    ) {
      const key = `settings.${name}`;
      if (name === "backend") {
        const backend = this.string(value, key);
        if (!(BACKEND_NAMES as readonly string[]).includes(backend)) {
          this.fail(
            value,
            key,
            `unknown backend "${backend}"; allowed: ${BACKEND_NAMES.join(", ")}`,
          );
        }
        settings.backend = backend as PipelineSettings["backend"];
      } else if (name === "seed") settings.seed = this.integer(value, key, 0);
      else if (name === "threads") settings.threads = this.integer(value, key, 1);
      else if (name === "cache") {
        // Like deps, the cache may live anywhere: in the project, at an absolute path, or ~/….
        settings.cache = this.string(value, key);
      }
    }
    return settings;
  }

  stage(
    name: string,
    node: YamlNode | null,
    keyNode: Scalar,
    sections: Record<string, unknown>,
    root: string,
    usesChecked: Map<string, boolean>,
  ): { spec: StageSpec; needs: NeedItem[] }[] {
    const key = `stages.${name}`;
    const map = this.map(node, key);
    const fields = new Map<string, YamlNode | null>();
    for (const [field, value] of this.entries(map, key, STAGE_KEYS)) fields.set(field, value);

    if (!fields.has("uses")) this.fail(keyNode, key, 'missing required key "uses"');
    const usesNode = fields.get("uses")!;
    const uses = normalize(this.string(usesNode, `${key}.uses`));
    if (!usesChecked.has(uses)) {
      let exists = false;
      try {
        exists = Deno.statSync(resolve(root, uses)).isFile;
      } catch { /* reported below */ }
      usesChecked.set(uses, exists);
    }
    if (!usesChecked.get(uses)) {
      this.fail(usesNode, `${key}.uses`, `stage module "${uses}" not found under ${root}`);
    }

    const desc = fields.has("desc") ? this.string(fields.get("desc")!, `${key}.desc`) : undefined;
    const needsNode = fields.get("needs");
    const needsItems = needsNode === undefined ? [] : this.needs(needsNode, `${key}.needs`);
    const depsNode = fields.get("deps");
    const depsItems = depsNode === undefined ? [] : this.stringList(depsNode, `${key}.deps`);
    const paramsNode = fields.get("params");
    if (paramsNode !== undefined && paramsNode !== null) this.map(paramsNode, `${key}.params`);

    const outs: string[] = [];
    if (fields.has("outs")) {
      for (const [i, out] of this.stringList(fields.get("outs")!, `${key}.outs`).entries()) {
        const normal = normalize(out.value);
        if (isAbsolute(out.value) || normal === ".." || normal.startsWith("../")) {
          this.fail(
            out.node,
            `${key}.outs[${i}]`,
            `output path "${out.value}" escapes artifacts/ (outputs are paths inside the stage's output folder)`,
          );
        }
        outs.push(normal);
      }
    }
    const resources = fields.has("resources")
      ? this.resources(fields.get("resources")!, `${key}.resources`)
      : undefined;
    const cells = fields.has("matrix")
      ? this.matrix(fields.get("matrix")!, `${key}.matrix`)
      : [undefined];

    return cells.map((matrix) => {
      const cellName = matrix === undefined
        ? name
        : `${name}[${Object.entries(matrix).map(([k, v]) => `${k}=${v}`).join(",")}]`;
      const scope: Scope = { sections, matrix };
      const resolveString = (item: { value: string; node: YamlNode }, itemKey: string) => {
        const value = interpolate(item.node, scope, itemKey, this);
        if (typeof value !== "string") {
          this.fail(
            item.node,
            itemKey,
            `expected a string after substitution, got ${typeName(value)}`,
          );
        }
        return value;
      };
      const params = paramsNode === undefined || paramsNode === null
        ? {}
        : interpolate(paramsNode, scope, `${key}.params`, this) as Record<string, unknown>;
      const needs = needsItems.map((item) => resolveString(item, item.key));
      // Files anywhere: inside the project, absolute, or under ~ (hashed like the others).
      const deps = depsItems.map((item, i) => normalize(resolveString(item, `${key}.deps[${i}]`)));
      const keys: Record<string, SourceLocation> = { uses: this.where(usesNode, `${key}.uses`) };
      if (needsNode !== undefined) this.locate(needsNode, "needs", `${key}.needs`, null, keys);
      depsItems.forEach((item, i) => {
        keys[`deps[${i}]`] = this.originWhere(item.node, `${key}.deps[${i}]`);
      });
      if (paramsNode !== undefined && paramsNode !== null) {
        this.locate(paramsNode, "params", `${key}.params`, null, keys);
      }
      const spec: StageSpec = {
        name: cellName,
        base: name,
        matrix,
        uses,
        needs,
        deps,
        params,
        outs,
        resources,
        desc,
        where: this.where(keyNode, key),
        depsWhere: depsItems.map((item, i) => this.originWhere(item.node, `${key}.deps[${i}]`)),
        keys,
        roles: {},
      };
      // Leave optional fields out rather than undefined, so a spec survives a JSON round trip.
      for (const field of ["matrix", "resources", "desc"] as const) {
        if (spec[field] === undefined) delete spec[field];
      }
      return { spec, needs: needsItems };
    });
  }

  /**
   * A stage's `needs`: a list of stage names (each fills the role named after it), or a mapping
   * from the roles the stage reads to the stage (or list of stages) filling each.
   */
  needs(node: YamlNode | null, key: string): NeedItem[] {
    if (isSeq(node)) {
      return this.stringList(node, key).map((item, i) => ({ ...item, key: `${key}[${i}]` }));
    }
    if (!isMap(node)) {
      this.fail(
        node,
        key,
        `expected a list of stages or a mapping of roles to stages, got ${describe(node)}`,
      );
    }
    const items: NeedItem[] = [];
    for (const [role, value, keyNode] of this.entries(this.map(node, key), key)) {
      const roleKey = `${key}.${role}`;
      if (!ROLE_NAME.test(role)) {
        this.fail(keyNode, roleKey, "role names are identifiers (letters, digits, _)");
      }
      const stagesOfRole = isSeq(value)
        ? this.stringList(value, roleKey).map((item, i) => ({ ...item, key: `${roleKey}[${i}]` }))
        : [{ value: this.string(value, roleKey), node: value!, key: roleKey }];
      items.push(...stagesOfRole.map((item) => ({ ...item, role })));
    }
    return items;
  }

  matrix(node: YamlNode | null, key: string): Record<string, MatrixValue>[] {
    let cells: Record<string, MatrixValue>[] = [{}];
    const map = this.map(node, key);
    if (map.items.length === 0) this.fail(map, key, "a matrix needs at least one variable");
    for (const [name, value, keyNode] of this.entries(map, key)) {
      const varKey = `${key}.${name}`;
      if (!MATRIX_VARIABLE.test(name)) {
        this.fail(keyNode, varKey, "matrix variable names are identifiers (letters, digits, _)");
      }
      if (!isSeq(value) || value.items.length === 0) {
        this.fail(value, varKey, `expected a non-empty list of values, got ${describe(value)}`);
      }
      const values = (value as YAMLSeq<YamlNode>).items.map((item, i) => {
        if (!isScalar(item) || item.value === null || typeof item.value === "object") {
          this.fail(item, `${varKey}[${i}]`, `matrix values are strings, numbers or booleans`);
        }
        return item.value as MatrixValue;
      });
      if (new Set(values.map(String)).size !== values.length) {
        this.fail(value, varKey, "matrix values must be distinct");
      }
      cells = cells.flatMap((cell) => values.map((v) => ({ ...cell, [name]: v })));
    }
    return cells;
  }

  resources(node: YamlNode | null, key: string): StageResources {
    const resources: StageResources = {};
    for (const [name, value] of this.entries(this.map(node, key), key, RESOURCE_KEYS)) {
      const k = `${key}.${name}`;
      if (name === "cpus") resources.cpus = this.integer(value, k, 1);
      else if (name === "gpus") resources.gpus = this.integer(value, k, 0);
      else if (name === "mem") {
        const mem = isScalar(value) && typeof value.value === "number"
          ? `${value.value}M`
          : this.string(value, k);
        if (!MEMORY.test(mem)) this.fail(value, k, `memory "${mem}" is not like 512M, 8G or 1T`);
        resources.mem = mem;
      } else if (name === "time") {
        const time = isScalar(value) && typeof value.value === "number"
          ? String(this.integer(value, k, 1))
          : this.string(value, k);
        if (!WALL_TIME.test(time)) {
          this.fail(value, k, `time "${time}" is not like 90 (minutes), 1:30:00 or 2-00:00:00`);
        }
        resources.time = time;
      } else if (name === "partition") resources.partition = this.string(value, k);
      else if (name === "sbatch") resources.sbatch = this.stringList(value, k).map((s) => s.value);
    }
    return resources;
  }
}

function describe(node: unknown): string {
  if (node === null || node === undefined) return "nothing (null)";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const value = node.value;
    return value === null ? "null" : `${typeName(value)} ${JSON.stringify(value)}`;
  }
  return typeName(node);
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return typeof value === "number" ? "number" : typeof value === "boolean" ? "boolean" : "string";
}
