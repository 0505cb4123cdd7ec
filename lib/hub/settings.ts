/**
 * Where the Hub is and where its files are cached, read from the environment with
 * huggingface_hub's variables and defaults, so peftlab and Python tools share one cache.
 *
 * @module
 */

import { join } from "node:path";

/** How to reach the Hub and where to keep its files. */
export interface HubSettings {
  /** Base URL without a trailing slash; `HF_ENDPOINT`, default `https://huggingface.co`. */
  endpoint: string;
  /**
   * Cache root holding `models--org--name/` folders: `HF_HUB_CACHE` (or the older
   * `HUGGINGFACE_HUB_CACHE`), else `$HF_HOME/hub`; `HF_HOME` defaults to
   * `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
   */
  cacheDir: string;
  /**
   * Access token sent as `Authorization: Bearer`: `HF_TOKEN` (or the older
   * `HUGGING_FACE_HUB_TOKEN`), else the file `$HF_TOKEN_PATH` or `$HF_HOME/token` that
   * `huggingface-cli login` writes; undefined when none is set.
   */
  token?: string;
  /** `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is true: never touch the network. */
  offline: boolean;
}

/** The Hub's public endpoint, used when `HF_ENDPOINT` is not set. */
export const DEFAULT_HUB_ENDPOINT = "https://huggingface.co";

/** huggingface_hub's `_is_true`: 1, ON, YES or TRUE in any case. */
function isTrue(value: string | undefined): boolean {
  return value !== undefined && ["1", "ON", "YES", "TRUE"].includes(value.trim().toUpperCase());
}

function expandHome(path: string, home: string | undefined): string {
  if (path === "~" || path.startsWith("~/")) {
    if (home === undefined) throw new Error(`cannot expand "${path}": HOME is not set`);
    return join(home, path.slice(1));
  }
  return path;
}

/**
 * Reads {@link HubSettings} from `env` (default: the process environment; a plain record in
 * tests). Throws Error only when a path needs `~` expanded and `HOME` is unset.
 */
export function hubSettingsFromEnv(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): HubSettings {
  const value = (
    name: string,
  ) => (env[name] === undefined || env[name] === "" ? undefined : env[name]);
  const home = value("HOME");
  const hfHome = expandHome(
    value("HF_HOME") ?? join(value("XDG_CACHE_HOME") ?? "~/.cache", "huggingface"),
    home,
  );
  const cacheDir = expandHome(
    value("HF_HUB_CACHE") ?? value("HUGGINGFACE_HUB_CACHE") ?? join(hfHome, "hub"),
    home,
  );
  let token = value("HF_TOKEN") ?? value("HUGGING_FACE_HUB_TOKEN");
  if (token === undefined) {
    const tokenPath = expandHome(value("HF_TOKEN_PATH") ?? join(hfHome, "token"), home);
    try {
      token = Deno.readTextFileSync(tokenPath).trim() || undefined;
    } catch {
      token = undefined;
    }
  }
  return {
    endpoint: (value("HF_ENDPOINT") ?? DEFAULT_HUB_ENDPOINT).replace(/\/+$/, ""),
    cacheDir,
    token: token?.trim(),
    offline: isTrue(value("HF_HUB_OFFLINE") ?? value("TRANSFORMERS_OFFLINE")),
  };
}
