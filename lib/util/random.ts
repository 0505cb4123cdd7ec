/**
 * Seeded randomness shared by training (shuffles, dropout seeds), generation (sampling), prompt
 * initialisation and bootstrap resampling. Our own generator (mulberry32) gives the same numbers on
 * every platform and Deno version, which the recorded metrics and tests rely on.
 *
 * @module
 */

/** Mixes integers into one 32-bit seed (murmur3 finaliser per part). Never throws. */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    let k = Math.imul((part | 0) ^ Math.floor(part / 4294967296), 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32: a small, fast generator with a 32-bit state that can be saved and restored. */
export class Rng {
  /** Current 32-bit state. */
  state: number;

  /** Starts from `seed`. */
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform number in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A Fisher–Yates permutation of 0..n-1. */
  permutation(n: number): number[] {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }
}

/**
 * Returns a seeded generator of floats in [0, 1): the sequence of `new Rng(seed).next()` (period
 * 2^32, good enough for resampling and sampling). Same seed → same sequence. Never throws.
 */
export function seededRandom(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}
