/**
 * Fast float32-accurate tanh: Eigen's rational approximation (odd degree-13 over even degree-6
 * polynomial, input clamped to ±7.9053, where tanh rounds to ±1 in float32). Measured 2–3× faster
 * than `Math.tanh` in V8 (12–20 ms vs 37 ms for 2M values); relative error ≤ 2.4e-7.
 *
 * @module
 */

const clampAt = 7.90531110763549805;
const linearBelow = 0.0004;
const alpha1 = 4.89352455891786e-03;
const alpha3 = 6.37261928875436e-04;
const alpha5 = 1.48572235717979e-05;
const alpha7 = 5.12229709037114e-08;
const alpha9 = -8.60467152213735e-11;
const alpha11 = 2.00018790482477e-13;
const alpha13 = -2.76076847742355e-16;
const beta0 = 4.89352518554385e-03;
const beta2 = 2.26843463243900e-03;
const beta4 = 1.18534705686654e-04;
const beta6 = 1.19825839466702e-06;

/** tanh(u) to float32 accuracy; NaN stays NaN. */
export function tanhFloat32(u: number): number {
  // beyond the clamp float32 tanh is ±1 (so 1 + tanh(u) is exactly 0 there, as in tfjs/PyTorch)
  if (u > clampAt) return 1;
  if (u < -clampAt) return -1;
  const x = u;
  if (Math.abs(x) < linearBelow) return x;
  const x2 = x * x;
  const p = x *
    (alpha1 +
      x2 *
        (alpha3 + x2 * (alpha5 + x2 * (alpha7 + x2 * (alpha9 + x2 * (alpha11 + x2 * alpha13))))));
  const q = beta0 + x2 * (beta2 + x2 * (beta4 + x2 * beta6));
  return p / q;
}
