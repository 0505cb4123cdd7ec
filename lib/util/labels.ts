/**
 * The label convention every layer shares: a position whose label is {@link ignoreLabel} is not
 * scored (PyTorch's `ignore_index` default and Hugging Face's convention). Tf-free, so the data
 * layer can use it without loading TensorFlow.js.
 *
 * @module
 */

/** Label of positions the loss skips (the prompt, padding). */
export const ignoreLabel = -100;
