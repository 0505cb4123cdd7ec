import { dirname, relative, resolve } from "node:path";
import { sha256Hex } from "./hash.ts";
import type { StatCache } from "./stat_cache.ts";

const IMPORT_PATTERNS = [
  /(?:^|[;\n])\s*(?:import|export)\s[^'"`;]*?\sfrom\s*["']([^"']+)["']/g,
  /(?:^|[;\n])\s*import\s*["']([^"']+)["']/g,
  /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
];

/** The code a stage runs: every local module file with its hash, and the external packages. */
export interface CodeFingerprint {
  /** Project-relative path → SHA-256, for the stage module and each local module it imports. */
  files: Record<string, string>;
  /** External specifiers with their pinned versions, e.g. `yaml=npm:yaml@2.9.1`. */
  packages: string[];
  /** SHA-256 over `files` and `packages`. */
  hash: string;
}

/**
 * Hashes stage implementations: the stage module and, transitively, the local modules it imports
 * (relative specifiers), plus the pinned version of every bare or `npm:` specifier (from the
 * project's `deno.json` import map). Results are memoised per module for the hasher's lifetime.
 */
export class CodeHasher {
  #importMap: Record<string, string>;
  #memo = new Map<string, Promise<CodeFingerprint>>();

  constructor(readonly root: string, readonly stats: StatCache) {
    this.#importMap = readImportMap(root);
  }

  /**
   * Fingerprint of the module at `modulePath` (project-relative or absolute). Throws
   * `Deno.errors.NotFound` naming the missing file when an imported local module is missing.
   */
  fingerprint(modulePath: string): Promise<CodeFingerprint> {
    const absolute = resolve(this.root, modulePath);
    let result = this.#memo.get(absolute);
    if (!result) {
      result = this.#compute(absolute);
      this.#memo.set(absolute, result);
    }
    return result;
  }

  async #compute(entry: string): Promise<CodeFingerprint> {
    const files: Record<string, string> = {};
    const packages = new Set<string>();
    const queue = [entry];
    const seen = new Set<string>(queue);
    while (queue.length > 0) {
      const file = queue.pop()!;
      let stat;
      try {
        stat = await this.stats.entry(file);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) {
          throw new Deno.errors.NotFound(`module ${relative(this.root, file)} not found`);
        }
        throw error;
      }
      files[relative(this.root, file)] = stat.hash;
      let imports = stat.imports;
      if (!imports) {
        imports = scanImports(await Deno.readTextFile(file));
        this.stats.setImports(file, imports);
      }
      for (const specifier of imports) {
        if (specifier.startsWith("./") || specifier.startsWith("../")) {
          const target = resolve(dirname(file), specifier);
          if (!seen.has(target)) {
            seen.add(target);
            queue.push(target);
          }
        } else if (specifier.startsWith("file:")) {
          const target = new URL(specifier).pathname;
          if (!seen.has(target)) {
            seen.add(target);
            queue.push(target);
          }
        } else {
          packages.add(this.#pinned(specifier));
        }
      }
    }
    const sortedFiles = Object.fromEntries(
      Object.entries(files).sort(([a], [b]) => a < b ? -1 : 1),
    );
    const sortedPackages = [...packages].sort();
    const hash = sha256Hex(JSON.stringify({ files: sortedFiles, packages: sortedPackages }));
    return { files: sortedFiles, packages: sortedPackages, hash };
  }

  #pinned(specifier: string): string {
    if (this.#importMap[specifier]) return `${specifier}=${this.#importMap[specifier]}`;
    for (const [prefix, target] of Object.entries(this.#importMap)) {
      if (prefix.endsWith("/") && specifier.startsWith(prefix)) {
        return `${specifier}=${target}${specifier.slice(prefix.length)}`;
      }
    }
    return specifier;
  }
}

/**
 * Import and re-export specifiers of a module's source (static and literal dynamic imports),
 * leaving out type-only imports.
 */
export function scanImports(source: string): string[] {
  const found = new Set<string>();
  for (const pattern of IMPORT_PATTERNS) {
    for (const match of source.matchAll(pattern)) {
      // Type-only imports vanish at run time, so they are not part of what a stage runs.
      if (/^[;\n]?\s*(?:import|export)\s+type\s/.test(match[0])) continue;
      found.add(match[1]);
    }
  }
  return [...found];
}

function readImportMap(root: string): Record<string, string> {
  try {
    const config = JSON.parse(Deno.readTextFileSync(resolve(root, "deno.json")));
    return config.imports ?? {};
  } catch {
    return {};
  }
}
