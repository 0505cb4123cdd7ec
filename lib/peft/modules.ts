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
 * PEFT's rule for a list of `target_modules`: a module matches a target when its full name equals
 * it or ends with `.` + target, so `c_proj` matches `attn.c_proj` and `mlp.c_proj` while
 * `mlp.c_proj` matches only the MLP one.
 */
export function matchesTarget(moduleName: string, target: string): boolean {
  return moduleName === target || moduleName.endsWith(`.${target}`);
}

/** The layers of `layers` matched by any of `targets`, keeping the model's order. */
export function selectTargets<T>(layers: Map<string, T>, targets: string[]): Map<string, T> {
  const chosen = new Map<string, T>();
  for (const [name, value] of layers) {
    if (targets.some((target) => matchesTarget(name, target))) chosen.set(name, value);
  }
  return chosen;
}

/** Hugging Face module path of a model-local name, as PEFT writes it in adapter files. */
export function peftModulePath(moduleName: string): string {
  return `base_model.model.transformer.${moduleName}`;
}
