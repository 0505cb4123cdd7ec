/**
 * Float64 reference maths and seeded random inputs for the engine tests.
 *
 * @module
 */

/** Mulberry32: a small seeded generator so each test draws fresh but reproducible inputs. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fresh seed per run (printed by failing assertions through the test name). */
export function freshSeed(): number {
  return (Math.random() * 2 ** 31) >>> 0;
}

/** `size` normal(0, scale) draws as float32. */
export function randomNormal(size: number, random: () => number, scale = 1): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const u = Math.max(random(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  }
  return out;
}

/** Mean softmax cross-entropy and its gradient in float64; ignored rows skipped. */
export function referenceCrossEntropy(
  logits: Float32Array,
  labels: Int32Array,
  vocabSize: number,
  ignoreIndex: number,
): { loss: number; grad: Float64Array } {
  const rows = labels.length;
  const grad = new Float64Array(rows * vocabSize);
  let total = 0;
  let counted = 0;
  for (let r = 0; r < rows; r++) if (labels[r] !== ignoreIndex) counted++;
  for (let r = 0; r < rows; r++) {
    if (labels[r] === ignoreIndex) continue;
    let max = -Infinity;
    for (let v = 0; v < vocabSize; v++) max = Math.max(max, logits[r * vocabSize + v]);
    let sum = 0;
    for (let v = 0; v < vocabSize; v++) sum += Math.exp(logits[r * vocabSize + v] - max);
    const lse = max + Math.log(sum);
    total += lse - logits[r * vocabSize + labels[r]];
    for (let v = 0; v < vocabSize; v++) {
      grad[r * vocabSize + v] = (Math.exp(logits[r * vocabSize + v] - lse) -
        (v === labels[r] ? 1 : 0)) / counted;
    }
  }
  return { loss: counted === 0 ? 0 : total / counted, grad };
}

/** Row-major float64 `op(A)·op(B)` for `batch` pairs (a or b batch 1 = broadcast). */
export function referenceMatMul(
  a: Float32Array,
  b: Float32Array,
  dims: { batchA: number; batchB: number; m: number; n: number; k: number },
  transposeA: boolean,
  transposeB: boolean,
): Float64Array {
  const { batchA, batchB, m, n, k } = dims;
  const batch = Math.max(batchA, batchB);
  const out = new Float64Array(batch * m * n);
  for (let s = 0; s < batch; s++) {
    const ao = (batchA === 1 ? 0 : s) * m * k;
    const bo = (batchB === 1 ? 0 : s) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++) {
          const av = transposeA ? a[ao + p * m + i] : a[ao + i * k + p];
          const bv = transposeB ? b[bo + j * k + p] : b[bo + p * n + j];
          acc += av * bv;
        }
        out[s * m * n + i * n + j] = acc;
      }
    }
  }
  return out;
}

/** Largest |actual − expected| / (atol + rtol·|expected|); ≤ 1 means within tolerance. */
export function worstError(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
): number {
  if (actual.length !== expected.length) {
    throw new Error(`length ${actual.length} ≠ expected ${expected.length}`);
  }
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const ratio = Math.abs(actual[i] - expected[i]) / (atol + rtol * Math.abs(expected[i]));
    if (!(ratio <= worst)) worst = Number.isNaN(ratio) ? Infinity : Math.max(worst, ratio);
  }
  return worst;
}
