/**
 * `UnsortedSegmentSum` (scatter-add) for the CPU-resident backends. It is the gradient of
 * `tf.gather`, i.e. of the token-embedding lookup: the stock `wasm` backend lacks it and the stock
 * `cpu` one builds a `[segments, rows]` comparison matrix, O(vocab · tokens · width).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { allocate, valuesOf } from "./heap.ts";

/** Adds row `r` of `x` into row `segmentIds[r]` of a `[numSegments, …]` output; ids out of range are dropped. */
function unsortedSegmentSum(
  args: { inputs: Record<string, tf.TensorInfo>; backend: unknown; attrs?: tf.NamedAttrMap },
): tf.TensorInfo {
  const { x, segmentIds } = args.inputs;
  const numSegments = args.attrs!.numSegments as number;
  const rows = segmentIds.shape.reduce((a, b) => a * b, 1);
  const innerShape = x.shape.slice(segmentIds.shape.length);
  const width = innerShape.reduce((a, b) => a * b, 1);
  const dtype = x.dtype === "int32" ? "int32" : "float32";
  const out = allocate(args.backend, [numSegments, ...innerShape], dtype);
  const outValues = valuesOf(args.backend, out);
  const xValues = valuesOf(args.backend, x);
  const ids = valuesOf(args.backend, segmentIds);
  for (let r = 0; r < rows; r++) {
    const segment = ids[r];
    if (segment < 0 || segment >= numSegments) continue;
    const from = r * width;
    const to = segment * width;
    for (let j = 0; j < width; j++) outValues[to + j] += xValues[from + j];
  }
  return out;
}

/** Registers the scatter-add `UnsortedSegmentSum` kernel for `backendName`, replacing any other. */
export function registerSegmentSum(backendName: string): void {
  if (tf.getKernel(tf.UnsortedSegmentSum, backendName) != null) {
    tf.unregisterKernel(tf.UnsortedSegmentSum, backendName);
  }
  tf.registerKernel({
    kernelName: tf.UnsortedSegmentSum,
    backendName,
    kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc,
  });
}
