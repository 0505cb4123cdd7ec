/** Linear-module naming and shapes shared by the adapter methods (LoRA, IA³). */
import type { ModelShape, TunableModel } from "./types.ts";

/** Input and output width of one linear (Conv1D) layer. */
export interface LinearShape {
  /** Input features (rows of the Conv1D weight `[in, out]`). */
  inFeatures: number;
  /** Output features. */
  outFeatures: number;
}

/**
 * Every wrappable linear layer of a GPT-2 with this shape, in block order, e.g.
 * `h.0.attn.c_attn → {in: C, out: 3C}`. The MLP width is 4C as in GPT-2.
 */
export function linearShapesFor(shape: ModelShape): Map<string, LinearShape> {
  const C = shape.nEmbd;
  const layers = new Map<string, LinearShape>();
  for (let i = 0; i < shape.nLayer; i++) {
    layers.set(`h.${i}.attn.c_attn`, { inFeatures: C, outFeatures: 3 * C });
    layers.set(`h.${i}.attn.c_proj`, { inFeatures: C, outFeatures: C });
    layers.set(`h.${i}.mlp.c_fc`, { inFeatures: C, outFeatures: 4 * C });
    layers.set(`h.${i}.mlp.c_proj`, { inFeatures: 4 * C, outFeatures: C });
  }
  return layers;
}

/** The linear layers of an actual model, with shapes read from its weights (`{name}.weight`). */
export function linearShapesOf(model: TunableModel): Map<string, LinearShape> {
  const layers = new Map<string, LinearShape>();
  for (const [name, weight] of model.params) {
    if (!/^h\.\d+\.(attn|mlp)\.c_(attn|proj|fc)\.weight$/.test(name)) continue;
    const [inFeatures, outFeatures] = weight.shape;
    layers.set(name.slice(0, -".weight".length), { inFeatures, outFeatures });
  }
  return layers;
}

/**
 * PEFT's `target_modules` (also its `feedforward_modules`): a list of names, or one string that is
 * a regular expression.
 */
export type TargetModules = string | string[];

/** A module's name as PEFT sees it inside `GPT2LMHeadModel`, e.g. `transformer.h.0.attn.c_attn`. */
export function hfModuleName(moduleName: string): string {
  return `transformer.${moduleName}`;
}

/**
 * PEFT's rule for `target_modules`: a list entry matches a module whose full name equals it or ends
 * with `.` + entry, so `c_proj` matches `attn.c_proj` and `mlp.c_proj` while `mlp.c_proj` matches
 * only the MLP one; a string is a regular expression that must match the whole name
 * (`transformer.h.0.attn.c_attn`), as Python's `re.fullmatch`.
 */
export function matchesTargets(moduleName: string, targets: TargetModules): boolean {
  const name = hfModuleName(moduleName);
  if (typeof targets === "string") return new RegExp(`^(?:${targets})$`).test(name);
  return targets.some((target) => name === target || name.endsWith(`.${target}`));
}

/** The layers of `layers` matched by `targets`, keeping the model's order. */
export function selectTargets<T>(layers: Map<string, T>, targets: TargetModules): Map<string, T> {
  const chosen = new Map<string, T>();
  for (const [name, value] of layers) {
    if (matchesTargets(name, targets)) chosen.set(name, value);
  }
  return chosen;
}

/**
 * The key of a PEFT `rank_pattern` / `alpha_pattern` map that applies to a module: the first key
 * `k` for which the module's full name matches `(.*\.)?k$` (PEFT's `get_pattern_key`); undefined
 * when none does.
 */
export function patternKeyFor(
  pattern: Record<string, number>,
  moduleName: string,
): string | undefined {
  const name = hfModuleName(moduleName);
  return Object.keys(pattern).find((key) => new RegExp(`^(?:.*\\.)?(?:${key})$`).test(name));
}

/** Hugging Face module path of a model-local name, as PEFT writes it in adapter files. */
export function peftModulePath(moduleName: string): string {
  return `base_model.model.${hfModuleName(moduleName)}`;
}
