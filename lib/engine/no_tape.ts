/**
 * Computation that back-propagation will never pass through, kept off the gradient tape.
 *
 * Under `tf.variableGrads` tfjs records every kernel and keeps the tensors each one saves for its
 * gradient until the backward pass ends, even kernels no trainable variable depends on (frozen
 * layers below the first trainable one). A custom-gradient op runs its forward function with the
 * tape paused, so wrapping such a computation in one records a single node that saves nothing;
 * that node is never differentiated because none of its inputs derives from a variable.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/**
 * Runs `compute` without recording it for back-propagation and returns its result. `input` is a
 * tensor the computation reads that derives from no trainable variable (token ids, say): tfjs
 * needs one as the op's input. Gradients never flow through the result into anything `compute`
 * read, so call this only for what lies entirely below the first trainable parameter; outside a
 * gradient tape it is the same as `compute()`. The result is numerically identical either way.
 */
export function withoutTape<T extends tf.Tensor>(compute: () => T, input: tf.Tensor): T {
  const op = tf.customGrad(
    ((anchor: tf.Tensor, save: (tensors: tf.Tensor[]) => void) => {
      save([]);
      return { value: compute(), gradFunc: () => tf.zerosLike(anchor) };
    }) as unknown as CustomGradFn,
  ) as (anchor: tf.Tensor) => tf.Tensor;
  return op(input) as T;
}
