/**
 * The contract every tuning method implements (PEFT-style: a config, a layer change, and the rule
 * for which parameters train) plus the slice of the GPT-2 model the methods touch.
 *
 * The model is described structurally (`TunableModel`: what `lib/model/gpt2.ts`'s `GPT2` offers);
 * GPT-2's layer table and the linear-wrapper type are lib/model's, stated there once.
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { LinearWrapper } from "../model/gpt2.ts";

export type { LinearWrapper };

/** The GPT-2 shape fields a method needs (a subset of `GPT2Config`). */
export interface ModelShape {
  /** Number of transformer blocks. */
  nLayer: number;
  /** Hidden width C. */
  nEmbd: number;
  /** Number of attention heads. */
  nHead: number;
  /** Vocabulary size V. */
  vocabSize: number;
  /** Hidden width of the MLP (`n_inner`); 4·nEmbd when absent. */
  nInner?: number;
  /** Maximum number of positions (prefix + tokens). */
  nPositions: number;
  /** Longest sequence the base was trained on, when it records one (see `usableContext`). */
  trainedContext?: number;
}

/** What a tuning method needs from the model: its weights by HF name and the linear-layer hook. */
export interface TunableModel {
  /** Model shape. */
  config: ModelShape;
  /** Every base weight by Hugging Face name without `transformer.` (Conv1D layout `[in, out]`). */
  params: Map<string, tf.Variable>;
  /** Per linear module name (e.g. `h.0.attn.c_attn`), a wrapper replacing its computation. */
  linearWrappers: Map<string, LinearWrapper>;
}

/** A tuning method attached to one model instance. */
export interface AppliedMethod {
  /** Registry name of the method that produced this (`prompt`, `lora`, `full`, `ia3`). */
  method: string;
  /** Exactly the variables the optimizer updates, by stable name (used in checkpoints). */
  trainable: Map<string, tf.Variable>;
  /** Parameters the method added beside the base model (0 for `full`). */
  addedParams: number;
  /** Soft prompt embeddings `[B, P, C]` to place before the token embeddings, if any. */
  prefix?(batchSize: number): tf.Tensor3D;
  /**
   * Turns adapter dropout on (with a seed for this forward pass) or off. The trainer calls it before
   * each forward pass; methods without dropout leave it out.
   */
  setTraining?(training: boolean, seed: number): void;
  /** Writes the method's result in its native format (PEFT layout for LoRA, IA³ and prompt). */
  save(dir: string, info?: SaveInfo): Promise<void>;
  /** Folds adapters into the base weights (generation then needs no wrappers); idempotent. */
  merge?(): void;
  /** Removes the method's wrappers and frees the variables it added (base weights stay). */
  dispose(): void;
}

/** Provenance written into saved adapter configs. */
export interface SaveInfo {
  /**
   * `base_model_name_or_path` in PEFT's adapter_config.json: where `from_pretrained` finds the base
   * (an absolute folder or a Hub id).
   */
  baseModel?: string;
  /**
   * A tokenizer `AutoTokenizer.from_pretrained` loads and whose ids are the model's
   * (`tokenizer_name_or_path`, prompt tuning with a text init). PEFT re-runs that init when it
   * loads the adapter, so without one the saved config says RANDOM (see prompt.ts).
   */
  tokenizer?: string;
}

/** A tuning method: configuration parsing, application to a model, and reloading a saved result. */
export interface TuningMethod<C> {
  /** Registry name. */
  name: string;
  /** PEFT's `peft_type` of the adapters it saves (`LORA`, `IA3`, `PROMPT_TUNING`), if any. */
  peftType?: string;
  /** Validates a raw config section; throws `ConfigError` naming the key (prefixed with `where`). */
  parseConfig(raw: Record<string, unknown>, where: string): C;
  /** Adds the method to `model` (wrappers, soft prompt) and picks the trainable variables. */
  apply(model: TunableModel, config: C, seed: number): AppliedMethod;
  /** Re-applies a result saved by `AppliedMethod.save` onto a freshly loaded base model. */
  load(model: TunableModel, dir: string): Promise<AppliedMethod>;
  /** Trainable parameter count from shapes alone (no tensors allocated). */
  countTrainable(shape: ModelShape, config: C): number;
}
