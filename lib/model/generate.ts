/**
 * Text generation with a KV cache: greedy, beam search, and temperature / nucleus (top-p) sampling.
 *
 * Batching prompts of different lengths: prompts are LEFT-padded to the longest one, so that every
 * row's next token sits in the same (last) column. Padding slots get attention mask 0 (no query
 * attends to them) and real tokens get position ids that ignore the padding (a prompt's first
 * token is at position P, right after the soft prompt), so a padded row computes exactly what it
 * would alone. After the prompt pass each step feeds one token per row and appends to the cache.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type GPT2, KVCache, ModelInputError } from "./gpt2.ts";
import { seededRandom } from "../util/random.ts";

/** How to continue the prompts. */
export interface GenerateOptions {
  /** Most new tokens per prompt. */
  maxNew: number;
  /** Stop a row when it produces this id (the id itself is not returned). */
  eosId?: number;
  /** Beam width; > 1 runs beam search (deterministic, ignores temperature/topP). */
  beams?: number;
  /** Sampling temperature; absent or 0 = greedy. */
  temperature?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches topP (default 1). */
  topP?: number;
  /** Seed of the sampler (default 0). */
  seed?: number;
  /** Soft prompt `[B, P, C]` (or `[1, P, C]`, shared) in front of every prompt. */
  prefix?: tf.Tensor3D;
  /** Beam search length penalty α: hypotheses are ranked by sum log p / length^α (default 1). */
  lengthPenalty?: number;
  /**
   * Hugging Face's `no_repeat_ngram_size`: never produce an n-gram of this many tokens that already
   * occurs in the row's sequence, prompt included (the soft prompt has no ids and never counts);
   * 0 or absent turns it off. Greedy, sampling and beam search (per hypothesis).
   */
  noRepeatNgramSize?: number;
  /**
   * The same ban counted over the generated tokens only, so that copying an n-gram from the prompt
   * stays possible; 0 or absent turns it off. Both bans may be set at once.
   */
  noRepeatGeneratedNgramSize?: number;
}

/**
 * The new token ids for each prompt (eos excluded), at most `maxNew` each. Each new token costs
 * one asynchronous read-back from the device (no `dataSync`, which webgpu cannot do in Deno).
 * Rejects with ModelInputError when a prompt is empty without a soft prompt, an id is outside the
 * vocabulary, or prompt + maxNew exceeds `nPositions`.
 */
export async function generate(
  model: GPT2,
  prompts: number[][],
  opts: GenerateOptions,
): Promise<number[][]> {
  if (prompts.length === 0) return [];
  checkPrompts(model, prompts, opts);
  if ((opts.beams ?? 1) > 1) return await beamSearch(model, prompts, opts);
  return await sampleOrGreedy(model, prompts, opts);
}

function checkPrompts(model: GPT2, prompts: number[][], opts: GenerateOptions): void {
  const { vocabSize, nPositions } = model.config;
  const P = opts.prefix?.shape[1] ?? 0;
  const longest = Math.max(...prompts.map((p) => p.length));
  for (const [row, prompt] of prompts.entries()) {
    if (prompt.length === 0 && P === 0) {
      throw new ModelInputError(`prompt ${row} is empty (give at least one token id)`);
    }
    for (const id of prompt) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new ModelInputError(`prompt ${row} has token id ${id} outside [0, ${vocabSize})`);
      }
    }
  }
  if (!Number.isInteger(opts.maxNew) || opts.maxNew < 0) {
    throw new ModelInputError(`maxNew must be a non-negative integer, got ${opts.maxNew}`);
  }
  if (P + longest + opts.maxNew > nPositions) {
    throw new ModelInputError(
      `prefix ${P} + prompt ${longest} + maxNew ${opts.maxNew} tokens exceed n_positions ${nPositions}`,
    );
  }
  if (opts.prefix && opts.prefix.shape[0] !== 1 && opts.prefix.shape[0] !== prompts.length) {
    throw new ModelInputError(
      `prefix batch ${opts.prefix.shape[0]} must be 1 or the number of prompts ${prompts.length}`,
    );
  }
}

/** Per-row bookkeeping of a left-padded batch: attention mask over all slots and next position. */
interface PaddedBatch {
  /** Per row: 1 for a real slot (prefix or token), 0 for padding, over every slot so far. */
  mask: number[][];
  /** Per row: the position id of the next token. */
  nextPosition: number[];
}

/**
 * Runs the prompt pass for `rowsPerPrompt` copies of each prompt and returns the last-position
 * logits `[R, V]` (R = prompts × rowsPerPrompt), filling `cache`.
 */
function promptPass(
  model: GPT2,
  prompts: number[][],
  prefix: tf.Tensor3D | undefined,
  cache: KVCache,
): { lastLogits: tf.Tensor2D; batch: PaddedBatch } {
  const B = prompts.length;
  const P = prefix?.shape[1] ?? 0;
  const L = Math.max(...prompts.map((p) => p.length));
  const ids: number[] = [];
  const positions: number[] = [];
  const mask: number[][] = [];
  for (const prompt of prompts) {
    const pad = L - prompt.length;
    const rowMask = new Array(P).fill(1);
    for (let j = 0; j < P; j++) positions.push(j);
    for (let j = 0; j < L; j++) {
      const real = j >= pad;
      ids.push(real ? prompt[j - pad] : 0);
      positions.push(real ? P + j - pad : 0);
      rowMask.push(real ? 1 : 0);
    }
    mask.push(rowMask);
  }
  const lastLogits = tf.tidy(() => {
    const sharedPrefix = prefix && prefix.shape[0] === 1 && B > 1
      ? tf.tile(prefix, [B, 1, 1])
      : prefix;
    const logits = model.forward(tf.tensor2d(ids, [B, L], "int32"), {
      prefix: sharedPrefix as tf.Tensor3D | undefined,
      cache,
      attentionMask: tf.tensor2d(mask, [B, P + L], "int32"),
      positionIds: tf.tensor2d(positions, [B, P + L], "int32"),
    }); // (B, P+L, V)
    const V = logits.shape[2];
    return tf.reshape(tf.slice(logits, [0, P + L - 1, 0], [B, 1, V]), [B, V]) as tf.Tensor2D; // (B, V)
  });
  const nextPosition = prompts.map((p) => P + p.length);
  return { lastLogits, batch: { mask, nextPosition } };
}

/** Feeds one token per row and returns the new last-position logits `[R, V]`. */
function stepPass(model: GPT2, tokens: number[], batch: PaddedBatch, cache: KVCache): tf.Tensor2D {
  const R = tokens.length;
  for (const row of batch.mask) row.push(1);
  const logits = tf.tidy(() => {
    const out = model.forward(tf.tensor2d(tokens, [R, 1], "int32"), {
      cache,
      attentionMask: tf.tensor2d(batch.mask, [R, batch.mask[0].length], "int32"),
      positionIds: tf.tensor2d(batch.nextPosition, [R, 1], "int32"),
    }); // (R, 1, V)
    return tf.reshape(out, [R, out.shape[2]]) as tf.Tensor2D; // (R, V)
  });
  batch.nextPosition = batch.nextPosition.map((p) => p + 1);
  return logits;
}

async function sampleOrGreedy(
  model: GPT2,
  prompts: number[][],
  opts: GenerateOptions,
): Promise<number[][]> {
  const B = prompts.length;
  const temperature = opts.temperature ?? 0;
  const topP = opts.topP ?? 1;
  const random = seededRandom(opts.seed ?? 0);
  const outputs: number[][] = prompts.map(() => []);
  const finished = new Array(B).fill(false);
  if (opts.maxNew === 0) return outputs;
  const cache = new KVCache();
  try {
    const first = promptPass(model, prompts, opts.prefix, cache);
    let logits = first.lastLogits;
    const banning = bansRepeats(opts);
    for (let step = 0; step < opts.maxNew; step++) {
      const banned = banning
        ? outputs.map((tokens, b) => bannedNextTokens(prompts[b], tokens, opts))
        : null;
      const next = temperature > 0
        ? await sampleRows(logits, temperature, topP, random, banned)
        : banned
        ? await greedyRows(logits, banned)
        : Array.from(await readAndDispose(tf.tidy(() => tf.argMax(logits, -1))));
      logits.dispose();
      for (let b = 0; b < B; b++) {
        if (finished[b]) continue;
        if (next[b] === opts.eosId) finished[b] = true;
        else outputs[b].push(next[b]);
      }
      if (finished.every(Boolean) || step === opts.maxNew - 1) break;
      // Finished rows keep being fed (their output is frozen): the batch stays rectangular.
      logits = stepPass(model, next, first.batch, cache);
    }
  } finally {
    cache.dispose();
  }
  return outputs;
}

/** Whether either no-repeat ban is on. */
function bansRepeats(opts: GenerateOptions): boolean {
  return (opts.noRepeatNgramSize ?? 0) > 0 || (opts.noRepeatGeneratedNgramSize ?? 0) > 0;
}

/**
 * The tokens a row may not produce next: those completing an n-gram of the whole sequence
 * (`noRepeatNgramSize`, as Hugging Face) or of the generated part (`noRepeatGeneratedNgramSize`).
 */
function bannedNextTokens(
  prompt: readonly number[],
  generated: readonly number[],
  opts: GenerateOptions,
): Set<number> {
  const banned = new Set<number>();
  const whole = opts.noRepeatNgramSize ?? 0;
  const generatedOnly = opts.noRepeatGeneratedNgramSize ?? 0;
  if (whole > 0) {
    for (const id of repeatedNgramEnds([...prompt, ...generated], whole)) banned.add(id);
  }
  if (generatedOnly > 0) {
    for (const id of repeatedNgramEnds(generated, generatedOnly)) banned.add(id);
  }
  return banned;
}

/**
 * The tokens that would complete an n-gram already present in `tokens` (the last n-1 tokens
 * followed by one of these would repeat an earlier n-gram).
 */
export function repeatedNgramEnds(tokens: readonly number[], n: number): Set<number> {
  const banned = new Set<number>();
  const start = tokens.length - (n - 1);
  if (n < 1 || start < 0) return banned;
  for (let i = 0; i + n <= tokens.length; i++) {
    let same = true;
    for (let j = 0; j < n - 1 && same; j++) same = tokens[i + j] === tokens[start + j];
    if (same) banned.add(tokens[i + n - 1]);
  }
  return banned;
}

/** Argmax per row, skipping each row's banned tokens. */
async function greedyRows(logits: tf.Tensor2D, banned: Set<number>[]): Promise<number[]> {
  const [R, V] = logits.shape;
  const values = await readAndDispose(logits.clone());
  const picks: number[] = [];
  for (let r = 0; r < R; r++) {
    let best = -1;
    for (let v = 0; v < V; v++) {
      if (banned[r].has(v)) continue;
      if (best < 0 || values[r * V + v] > values[r * V + best]) best = v;
    }
    picks.push(best);
  }
  return picks;
}

/** Draws one token per row from softmax(logits / temperature), restricted to the top-p nucleus. */
async function sampleRows(
  logits: tf.Tensor2D,
  temperature: number,
  topP: number,
  random: () => number,
  banned: Set<number>[] | null = null,
): Promise<number[]> {
  const [R, V] = logits.shape;
  const probs = await readAndDispose(tf.tidy(() => tf.softmax(tf.div(logits, temperature), -1)));
  const picks: number[] = [];
  for (let r = 0; r < R; r++) {
    const row = probs.subarray(r * V, (r + 1) * V);
    for (const id of banned?.[r] ?? []) row[id] = 0;
    let candidates: number[];
    if (topP >= 1) {
      candidates = Array.from({ length: V }, (_, i) => i);
    } else {
      const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => row[b] - row[a] || a - b);
      candidates = [];
      let mass = 0;
      for (const id of order) {
        candidates.push(id);
        mass += row[id];
        if (mass >= topP) break;
      }
    }
    let total = 0;
    for (const id of candidates) total += row[id];
    let threshold = random() * total;
    let chosen = candidates[candidates.length - 1];
    for (const id of candidates) {
      threshold -= row[id];
      if (threshold < 0) {
        chosen = id;
        break;
      }
    }
    picks.push(chosen);
  }
  return picks;
}

/** A beam: its tokens so far and their summed log-probability. */
interface Beam {
  tokens: number[];
  score: number;
}

/**
 * Beam search over `beams` hypotheses per prompt, run as one batch of prompts × beams rows. A
 * hypothesis ends at eos; a prompt is done once it has `beams` ended hypotheses or after maxNew
 * steps, and returns the one with the best sum log p / length^lengthPenalty.
 */
async function beamSearch(
  model: GPT2,
  prompts: number[][],
  opts: GenerateOptions,
): Promise<number[][]> {
  const B = prompts.length;
  const K = opts.beams!;
  const alpha = opts.lengthPenalty ?? 1;
  const rank = (beam: Beam) => beam.score / Math.max(beam.tokens.length, 1) ** alpha;
  if (opts.maxNew === 0) return prompts.map(() => []);
  const cache = new KVCache();
  try {
    const first = promptPass(model, prompts, opts.prefix, cache);
    // Row b·K + k is beam k of prompt b; all beams start as copies of the prompt.
    const copies = Array.from({ length: B * K }, (_, r) => Math.floor(r / K));
    cache.selectRows(copies);
    const batch: PaddedBatch = {
      mask: copies.map((b) => [...first.batch.mask[b]]),
      nextPosition: copies.map((b) => first.batch.nextPosition[b]),
    };
    let logits = tf.tidy(() => tf.gather(first.lastLogits, copies)) as tf.Tensor2D; // (B·K, V)
    first.lastLogits.dispose();
    const V = logits.shape[1];
    if (K * V > 2 ** 24) {
      throw new ModelInputError(
        `beams × vocabulary = ${K * V} exceeds 2^24 (indices read as float32)`,
      );
    }
    // Only beam 0 is live at the start, so the first step does not pick K copies of one token.
    let beams: Beam[][] = Array.from(
      { length: B },
      () => Array.from({ length: K }, (_, k) => ({ tokens: [], score: k === 0 ? 0 : -Infinity })),
    );
    const ended: Beam[][] = Array.from({ length: B }, () => []);
    const done = new Array(B).fill(false);
    for (let step = 0; step < opts.maxNew; step++) {
      const scores = beams.flat().map((beam) => beam.score);
      const banned = bansRepeats(opts) ? bannedScores(prompts, beams, V, opts) : null;
      const best = tf.tidy(() => {
        let total = tf.add(tf.logSoftmax(logits, -1), tf.tensor2d(scores, [B * K, 1])); // (B·K, V)
        if (banned) total = tf.add(total, tf.tensor2d(banned, [B * K, V])); // (B·K, V)
        const top = tf.topk(tf.reshape(total, [B, K * V]), Math.min(2 * K, K * V)); // (B, 2K)
        // One read-back: indices < K·V are exact in float32 for any real vocabulary (< 2^24 / K).
        return tf.stack([top.values, tf.cast(top.indices, "float32")]); // (2, B, 2K)
      });
      const both = await readAndDispose(best);
      const values = both.subarray(0, both.length / 2);
      const indices = both.subarray(both.length / 2);
      logits.dispose();
      const width = values.length / B;
      const sourceRows: number[] = [];
      const nextTokens: number[] = [];
      const nextBeams: Beam[][] = [];
      for (let b = 0; b < B; b++) {
        const chosen: Beam[] = [];
        for (let c = 0; c < width && chosen.length < K && !done[b]; c++) {
          const score = values[b * width + c];
          if (score === -Infinity) break;
          const beam = Math.floor(indices[b * width + c] / V);
          const token = indices[b * width + c] % V;
          const parent = beams[b][beam];
          if (token === opts.eosId) {
            ended[b].push({ tokens: parent.tokens, score });
            continue;
          }
          chosen.push({ tokens: [...parent.tokens, token], score });
          sourceRows.push(b * K + beam);
          nextTokens.push(token);
        }
        if (ended[b].length >= K) done[b] = true;
        // Rows of finished prompts (or missing candidates) keep a dead placeholder beam.
        while (chosen.length < K) {
          chosen.push({ tokens: [], score: -Infinity });
          sourceRows.push(b * K);
          nextTokens.push(0);
        }
        nextBeams.push(chosen);
      }
      beams = nextBeams;
      if (done.every(Boolean) || step === opts.maxNew - 1) break;
      cache.selectRows(sourceRows);
      logits = stepPass(model, nextTokens, batch, cache);
    }
    return beams.map((live, b) => {
      const candidates = [...ended[b], ...(done[b] ? [] : live.filter((x) => x.score > -Infinity))];
      candidates.sort((x, y) => rank(y) - rank(x));
      return candidates[0]?.tokens ?? [];
    });
  } finally {
    cache.dispose();
  }
}

/** Per beam row `[B·K, V]`: -Infinity for each token its hypothesis may not produce next, else 0. */
function bannedScores(
  prompts: number[][],
  beams: Beam[][],
  V: number,
  opts: GenerateOptions,
): Float32Array {
  const K = beams[0].length;
  const penalty = new Float32Array(prompts.length * K * V);
  beams.forEach((live, b) =>
    live.forEach((beam, k) => {
      for (const id of bannedNextTokens(prompts[b], beam.tokens, opts)) {
        penalty[(b * K + k) * V + id] = -Infinity;
      }
    })
  );
  return penalty;
}

/** The values of `tensor`, read back asynchronously; the tensor is then freed. */
async function readAndDispose(tensor: tf.Tensor): Promise<Float32Array | Int32Array> {
  try {
    return await tensor.data() as Float32Array | Int32Array;
  } finally {
    tensor.dispose();
  }
}
