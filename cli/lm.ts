/**
 * `deno task lm` — score or continue token sequences with a GPT-2 checkpoint directory.
 *
 *     deno task lm score --model DIR|hf:org/name[@rev] (--ids 1,2,3 | --text "...") [--backend B]
 *       → {"loss": mean next-token cross-entropy (null for one token), "logits_last": [...]}
 *     deno task lm generate --model DIR|hf:… (--ids 1,2,3 | --text "...") --max-new N
 *         [--beams K] [--temperature T] [--top-p P] [--seed S] [--backend B]
 *       → {"ids": [new ids], "text": decoded new text (null without a tokenizer)}
 *
 * `--model hf:org/name[@revision]` takes the model from the Hugging Face Hub through its cache
 * (HF_ENDPOINT, HF_HOME / HF_HUB_CACHE, HF_TOKEN and HF_HUB_OFFLINE as in huggingface_hub; see
 * lib/hub). `--text` needs a tokenizer in DIR (tokenizer.json, vocab.json + merges.txt or
 * compact_vocab.json). Generation is greedy unless `--beams` or `--temperature` is given and stops
 * at config.json's `eos_token_id`. Exit codes: 0 ok; 2 usage error or unusable model/tokenizer,
 * unknown Hub repository or revision, or not cached while offline; 1 Hub download failed
 * (network, integrity). Errors are one line on stderr.
 *
 * @module
 */
import { parseFlags, UsageError } from "./args.ts";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { BackendError, type BackendName, backendNames, initEngine } from "../lib/engine/mod.ts";
import {
  CheckpointError,
  generate,
  type GPT2,
  lmLoss,
  loadCheckpoint,
  ModelInputError,
} from "../lib/model/mod.ts";
import { loadTokenizer, TokenizerError } from "../lib/tokenizer/mod.ts";
import { HubError, isHubRef, resolveModel } from "../lib/hub/mod.ts";

const usage = "usage: deno task lm (score|generate) --model DIR|hf:org/name[@revision] " +
  "(--ids 1,2,3 | --text TEXT) " +
  "[--max-new N] [--beams K] [--temperature T] [--top-p P] [--seed S] [--backend B]";
const exitUsage = 2;
const exitFailure = 1;

/** A command-line mistake; printed as one line with exit code 2. */
export { UsageError };

/**
 * Runs the lm command on `args` (without the program name) and returns the JSON object it prints.
 * Throws UsageError for bad flags, CheckpointError / TokenizerError / ModelInputError / BackendError
 * for an unusable model, tokenizer, input or backend, HubError when a Hub model cannot be had.
 */
export async function runLm(args: string[]): Promise<Record<string, unknown>> {
  const parsed = parseFlags({
    args,
    allowPositionals: true,
    options: {
      model: { type: "string" },
      ids: { type: "string" },
      text: { type: "string" },
      "max-new": { type: "string" },
      beams: { type: "string" },
      temperature: { type: "string" },
      "top-p": { type: "string" },
      seed: { type: "string" },
      backend: { type: "string" },
      threads: { type: "string" },
    },
  });
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (positionals.length !== 1 || (command !== "score" && command !== "generate")) {
    throw new UsageError(
      `expected one command, score or generate; got ${JSON.stringify(positionals)}`,
    );
  }
  if (!values.model) throw new UsageError("--model DIR or --model hf:org/name is required");
  if ((values.ids === undefined) === (values.text === undefined)) {
    throw new UsageError("give exactly one of --ids or --text");
  }
  const backend = (values.backend ?? "auto") as BackendName;
  if (!backendNames.includes(backend)) {
    throw new UsageError(
      `--backend must be one of ${backendNames.join(", ")}, got "${values.backend}"`,
    );
  }
  const generateFlags = ["max-new", "beams", "temperature", "top-p", "seed"] as const;
  if (command === "score") {
    const stray = generateFlags.filter((flag) => values[flag] !== undefined);
    if (stray.length) throw new UsageError(`--${stray[0]} only applies to generate`);
  }
  const maxNew = command === "generate" ? integerFlag("max-new", values["max-new"], 0) : 0;
  const beams = values.beams === undefined ? 1 : integerFlag("beams", values.beams, 1);
  const temperature = values.temperature === undefined
    ? 0
    : numberFlag("temperature", values.temperature);
  const topP = values["top-p"] === undefined ? 1 : numberFlag("top-p", values["top-p"]);
  if (!(topP > 0 && topP <= 1)) throw new UsageError(`--top-p must be in (0, 1], got ${topP}`);
  const seed = values.seed === undefined ? 0 : integerFlag("seed", values.seed, 0);
  if (beams > 1 && temperature > 0) {
    throw new UsageError("--beams and --temperature cannot be combined");
  }
  const ids = values.ids === undefined ? undefined : parseIds(values.ids);
  const threads = values.threads === undefined
    ? undefined
    : integerFlag("threads", values.threads, 1);

  const modelDir = isHubRef(values.model) ? (await resolveModel(values.model)).dir : values.model;
  await initEngine({ backend, threads });
  const model = await loadCheckpoint(modelDir);
  try {
    const tokenizer = await loadTokenizer(modelDir).catch((e) => {
      if (values.text !== undefined) throw e;
      return undefined;
    });
    const input = ids ?? tokenizer!.encode(values.text!);
    if (input.length === 0) throw new UsageError("the input has no tokens");
    if (command === "score") return await score(model, input);
    const eosId = await readEosId(modelDir);
    const [newIds] = await generate(model, [input], {
      maxNew,
      beams,
      temperature,
      topP,
      seed,
      eosId,
    });
    return { ids: newIds, text: tokenizer ? tokenizer.decode(newIds) : null };
  } finally {
    for (const p of model.params.values()) p.dispose();
  }
}

async function score(model: GPT2, ids: number[]): Promise<Record<string, unknown>> {
  const V = model.config.vocabSize;
  const bad = ids.find((id) => id >= V);
  if (bad !== undefined) throw new ModelInputError(`token id ${bad} outside [0, ${V})`);
  const input = tf.tensor2d([ids], [1, ids.length], "int32");
  try {
    const last = tf.tidy(() => {
      const logits = model.forward(input); // (1, T, V)
      return tf.slice(logits, [0, ids.length - 1, 0], [1, 1, V]); // (1, 1, V)
    });
    const lossTensor = ids.length > 1 ? lmLoss(model, input, input) : undefined;
    const result = {
      loss: lossTensor ? (await lossTensor.data())[0] : null,
      logits_last: Array.from(await last.data()),
    };
    tf.dispose([last, ...(lossTensor ? [lossTensor] : [])]);
    return result;
  } finally {
    input.dispose();
  }
}

async function readEosId(dir: string): Promise<number | undefined> {
  const config = JSON.parse(await Deno.readTextFile(join(dir, "config.json")));
  return Number.isInteger(config.eos_token_id) ? config.eos_token_id : undefined;
}

function parseIds(text: string): number[] {
  const parts = text.split(",").map((p) => p.trim()).filter((p) => p !== "");
  const ids = parts.map(Number);
  const bad = parts.find((p, i) => !/^\d+$/.test(p) || !Number.isSafeInteger(ids[i]));
  if (bad !== undefined || ids.length === 0) {
    throw new UsageError(`--ids must be comma-separated non-negative integers, got "${text}"`);
  }
  return ids;
}

function integerFlag(name: string, raw: string | undefined, min: number): number {
  if (raw === undefined) throw new UsageError(`--${name} is required`);
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${raw}"`);
  }
  return value;
}

function numberFlag(name: string, raw: string): number {
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(value) || value < 0) {
    throw new UsageError(`--${name} must be a non-negative number, got "${raw}"`);
  }
  return value;
}

if (import.meta.main) {
  try {
    console.log(JSON.stringify(await runLm(Deno.args)));
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`lm: ${e.message} (${usage})`);
      Deno.exit(exitUsage);
    }
    if (e instanceof HubError) {
      console.error(`lm: ${e.message}`);
      Deno.exit(e.isConfigurationError ? exitUsage : exitFailure);
    }
    const known = [CheckpointError, TokenizerError, ModelInputError, BackendError];
    if (known.some((kind) => e instanceof kind)) {
      console.error(`lm: ${(e as Error).message}`);
      Deno.exit(exitUsage);
    }
    throw e;
  }
}
