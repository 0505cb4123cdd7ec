/** Linear-module naming and shapes shared by the adapter methods (LoRA, IA³). */
import { linearLayers, type LinearShape, parameterShapes } from "../model/gpt2.ts";
import { ConfigError } from "../config/errors.ts";
import type { ModelShape, TunableModel } from "./types.ts";

export type { LinearShape };

/**
 * Every wrappable linear layer of a GPT-2 with this shape, in block order, e.g.
 * `h.0.attn.c_attn → {in: C, out: 3C}` (the MLP's width honours `nInner`).
 */
export function linearShapesFor(shape: ModelShape): Map<string, LinearShape> {
  return linearLayers(parameterShapes(shape));
}

/** The linear layers of an actual model, with shapes read from its weights (`{name}.weight`). */
export function linearShapesOf(model: TunableModel): Map<string, LinearShape> {
  return linearLayers([...model.params].map(([name, weight]) => [name, weight.shape] as const));
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

/**
 * The layers of `layers` whose names match `targets` (PEFT's `target_modules`), in the model's
 * order; throws ConfigError at `target_modules` when none does (an adapter on nothing trains
 * nothing).
 */
export function selectTargets<T>(layers: Map<string, T>, targets: TargetModules): Map<string, T> {
  const chosen = new Map<string, T>();
  for (const [name, value] of layers) {
    if (matchesTargets(name, targets)) chosen.set(name, value);
  }
  if (chosen.size === 0) {
    throw new ConfigError(
      "target_modules",
      `${JSON.stringify(targets)} matches no linear layer; use c_attn, c_proj, c_fc, ` +
        "attn.c_proj or mlp.c_proj",
    );
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
