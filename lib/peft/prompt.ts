/**
 * Prompt tuning (Lester et al. 2021) as in Hugging Face PEFT: `soft_tokens` learnable embeddings
 * `[P, C]` placed in front of the token embeddings through the model's prefix hook; every model
 * weight stays frozen, so exactly P·C parameters train.
 */
import * as tf from "@tensorflow/tfjs-core";
import { CheckpointError } from "../model/safetensors.ts";
import {
  assignData,
  expectTensor,
  readAdapterConfig,
  readMethodRecord,
  readWeightsFile,
  tensorRecord,
  variableFrom,
  writeAdapterDir,
} from "./adapter_io.ts";
import { readChoice, readIntList, readNumber, rejectUnknownKeys } from "../config/readers.ts";
import { ConfigError } from "../config/errors.ts";
import { seededRandom } from "../util/random.ts";
import type { AppliedMethod, ModelShape, TunableModel, TuningMethod } from "./types.ts";

/** How the soft prompt starts: random normal, embeddings of random vocabulary tokens, or of a text. */
export type PromptInit = "random" | "vocab" | "text";

/** Text whose token embeddings initialise the soft prompt when `init: text`. */
export const defaultPromptInitText = "Summarize the following text:";

/** What a user sets for prompt tuning (YAML keys: `soft_tokens`, `init`, `init_text`, `init_token_ids`). */
export interface PromptConfig {
  /** Number of soft tokens P. */
  softTokens: number;
  /** Initialisation. */
  init: PromptInit;
  /** Text for `init: text`; the stage tokenizes it into `initTokenIds`. */
  initText: string;
  /** Token ids of `initText` (repeated or cut to P tokens, as PEFT does). Required for `text`. */
  initTokenIds?: number[];
}

/** PEFT-style defaults: 5 soft tokens initialised from the instruction text. */
export const defaultPromptConfig: PromptConfig = {
  softTokens: 5,
  init: "text",
  initText: defaultPromptInitText,
};

const peftInitName: Record<PromptInit, string> = {
  random: "RANDOM",
  vocab: "SAMPLE_VOCAB",
  text: "TEXT",
};

function parsePromptConfig(raw: Record<string, unknown>, where: string): PromptConfig {
  rejectUnknownKeys(raw, ["soft_tokens", "init", "init_text", "init_token_ids"], where);
  const initText = raw.init_text ?? defaultPromptInitText;
  if (typeof initText !== "string" || initText.length === 0) {
    throw new ConfigError(`${where ? where + "." : ""}init_text`, "expected a non-empty string");
  }
  return {
    softTokens: readNumber(raw, "soft_tokens", where, defaultPromptConfig.softTokens, {
      min: 1,
      integer: true,
    }),
    init: readChoice(raw, "init", where, defaultPromptConfig.init, ["random", "vocab", "text"]),
    initText,
    initTokenIds: readIntList(raw, "init_token_ids", where),
  };
}

/** P · C: soft tokens times the embedding width. */
function promptTrainableParams(shape: ModelShape, config: PromptConfig): number {
  return config.softTokens * shape.nEmbd;
}

function initialPrompt(model: TunableModel, config: PromptConfig, seed: number): tf.Tensor2D {
  const { softTokens: P } = config;
  const { nEmbd: C, vocabSize: V } = model.config;
  const wte = model.params.get("wte.weight");
  if (!wte) throw new ConfigError("model", "has no wte.weight token embedding");
  return tf.tidy(() => {
    if (config.init === "random") {
      // PEFT draws N(0, 1); we match the spread of the model's own token embeddings instead, so the
      // soft tokens start on the scale the first layer norm and attention were trained on.
      // Scaled on the device (no read-back, so webgpu works too).
      const std = tf.sqrt(tf.moments(wte).variance);
      return tf.randomNormal([P, C], 0, 1, "float32", seed + 1).mul(std); // tfjs reads 0 as unseeded
    }
    let ids: number[];
    if (config.init === "vocab") {
      const uniform = seededRandom(seed);
      ids = Array.from({ length: P }, () => Math.floor(uniform() * V));
    } else {
      const text = config.initTokenIds;
      if (!text || text.length === 0) {
        throw new ConfigError(
          "init_token_ids",
          `init: text needs the token ids of "${config.initText}" (the stage tokenizes init_text)`,
        );
      }
      // PEFT repeats the text's ids until there are enough, then cuts to P.
      ids = Array.from({ length: P }, (_, i) => text[i % text.length]);
    }
    const bad = ids.find((id) => id >= V);
    if (bad !== undefined) {
      throw new ConfigError("init_token_ids", `token id ${bad} is outside the vocabulary (${V})`);
    }
    return tf.gather(wte, tf.tensor1d(ids, "int32")) as tf.Tensor2D; // (P, C)
  });
}

function wrapPrompt(model: TunableModel, config: PromptConfig, prompt: tf.Variable): AppliedMethod {
  for (const p of model.params.values()) p.trainable = false;
  return {
    method: "prompt",
    trainable: new Map([["prompt_embeddings", prompt]]),
    addedParams: prompt.size,
    prefix(batchSize: number): tf.Tensor3D {
      return tf.tidy(() => tf.tile(tf.expandDims(prompt, 0), [batchSize, 1, 1]) as tf.Tensor3D); // (B, P, C)
    },
    dispose() {
      prompt.dispose();
    },
    async save(dir, info = {}) {
      const tensors = new Map([["prompt_embeddings", await tensorRecord(prompt)]]);
      const record = { method: "prompt", config };
      // PEFT re-runs the init when it loads an adapter (then overwrites it with the saved
      // embeddings) and refuses TEXT without a tokenizer it can load, so TEXT is written only with
      // one; otherwise RANDOM, which every PEFT version loads, and peftlab_method.json keeps the
      // real init.
      const text = config.init === "text" && info.tokenizer !== undefined;
      await writeAdapterDir(dir, record, tensors, "PROMPT_TUNING", info.baseModel, {
        num_virtual_tokens: config.softTokens,
        token_dim: model.config.nEmbd,
        num_transformer_submodules: 1,
        num_attention_heads: model.config.nHead,
        num_layers: model.config.nLayer,
        prompt_tuning_init: text || config.init !== "text" ? peftInitName[config.init] : "RANDOM",
        prompt_tuning_init_text: text ? config.initText : null,
        tokenizer_name_or_path: text ? info.tokenizer : null,
        tokenizer_kwargs: null,
      });
    },
  };
}

function applyPrompt(model: TunableModel, config: PromptConfig, seed: number): AppliedMethod {
  if (config.softTokens >= model.config.nPositions) {
    throw new ConfigError(
      "soft_tokens",
      `${config.softTokens} leaves no room in ${model.config.nPositions} positions`,
    );
  }
  const prompt = variableFrom(initialPrompt(model, config, seed));
  return wrapPrompt(model, config, prompt);
}

async function loadPrompt(model: TunableModel, dir: string): Promise<AppliedMethod> {
  const { configPath, saved, weightsPath } = await readAdapterConfig(dir, "PROMPT_TUNING");
  if (saved.token_dim !== model.config.nEmbd) {
    throw new CheckpointError(
      configPath,
      `token_dim ${saved.token_dim} differs from the model's n_embd ${model.config.nEmbd}`,
    );
  }
  const softTokens = saved.num_virtual_tokens;
  if (typeof softTokens !== "number" || !Number.isInteger(softTokens) || softTokens < 1) {
    throw new CheckpointError(configPath, `num_virtual_tokens is ${softTokens}`);
  }
  const init = (Object.keys(peftInitName) as PromptInit[])
    .find((key) => peftInitName[key] === saved.prompt_tuning_init) ?? "random";
  // peftlab's record keeps the real init (the saved config may say RANDOM, see save).
  const record = await readMethodRecord(dir);
  const recorded = record?.method === "prompt" ? record.config as PromptConfig : undefined;
  const config: PromptConfig = recorded?.softTokens === softTokens ? recorded : {
    softTokens,
    init,
    initText: typeof saved.prompt_tuning_init_text === "string"
      ? saved.prompt_tuning_init_text
      : defaultPromptInitText,
  };
  const data = expectTensor(
    await readWeightsFile(weightsPath),
    "prompt_embeddings",
    [softTokens, model.config.nEmbd],
    weightsPath,
  );
  const prompt = variableFrom(tf.zeros([softTokens, model.config.nEmbd]));
  assignData(prompt, data);
  return wrapPrompt(model, config, prompt);
}

/** Prompt tuning behind the tuning-method interface (registry name `prompt`). */
export const prompt: TuningMethod<PromptConfig> = {
  name: "prompt",
  peftType: "PROMPT_TUNING",
  parseConfig: parsePromptConfig,
  apply: applyPrompt,
  load: loadPrompt,
  countTrainable: promptTrainableParams,
};
