/**
 * Back-propagation that frees memory as it goes. Stock tfjs keeps every intermediate gradient and
 * every tensor saved for the backward pass until the whole backward pass ends, so the peak is
 * forward activations + all gradients at once. This version disposes a tensor's gradient as soon as
 * the node that produced the tensor has been processed (the tape is in execution order, so no
 * later use exists) and each node's saved tensors right after its gradient ran. The maths and the
 * tape are tfjs's own; only the order of disposal changes.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T>(nameOrFn: string | (() => T), fn?: () => T): T;
  gradients: unknown;
}

/** The nodes on a path from some x to y, with inputs not derived from any x pruned (as tfjs does). */
function nodesFromXToY(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((input) => fromX.has(input.id))) {
      for (const output of node.outputs) fromX.add(output.id);
      nodesFromX.add(node.id);
    }
  }
  const leadsToY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((output) => leadsToY.has(output.id))) {
      for (const input of Object.values(node.inputs)) leadsToY.add(input.id);
      nodesToY.add(node.id);
    }
  }
  const filtered: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, input] of Object.entries(node.inputs)) {
      if (fromX.has(input.id)) inputs[name] = input;
    }
    filtered.push({ ...node, inputs });
  }
  return filtered;
}

function gradientsFreeingMemory(
  this: EngineInternals,
  f: () => tf.Tensor,
  xs: tf.Tensor[],
  dy?: tf.Tensor,
  allowNoGradients = false,
): { value: tf.Tensor; grads: tf.Tensor[] } {
  if (xs.length === 0) throw new Error("gradients() received an empty list of xs.");
  if (dy != null && dy.dtype !== "float32") {
    throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
  }
  const y = this.scopedRun(
    () => this.startTape(),
    () => this.endTape(),
    () => this.tidy("forward", f),
  );
  if (!(y instanceof tf.Tensor)) throw new Error("The result y returned by f() must be a tensor.");
  const fullTape = this.state.activeTape ?? [];
  const tape = nodesFromXToY(fullTape, xs, y);
  if (!allowNoGradients && tape.length === 0 && xs.length > 0) {
    throw new Error(
      "Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed " +
        "encloses all operations that lead from x to y.",
    );
  }
  const firstOrder = this.state.gradientDepth === 0;
  return this.tidy("backward", () => {
    const gradientOf = new Map<number, tf.Tensor>();
    gradientOf.set(y.id, dy ?? tf.ones(y.shape));
    const keep = new Set<number>(xs.map((x) => x.id));
    if (dy != null) keep.add(y.id); // the caller's tensor
    for (let i = tape.length - 1; i >= 0; i--) {
      const node = tape[i];
      const dys = node.outputs.map((o) => gradientOf.get(o.id) ?? null);
      if (node.gradient == null) {
        throw new Error(
          `Cannot compute gradient: gradient function not found for ${node.kernelName}.`,
        );
      }
      const inputGradients = node.gradient(dys);
      for (const [inputName, x] of Object.entries(node.inputs)) {
        if (!(inputName in inputGradients)) {
          throw new Error(
            `Cannot backprop through input ${inputName}. Available gradients found: ` +
              `${Object.keys(inputGradients)}.`,
          );
        }
        let dx = this.tidy(() => inputGradients[inputName]());
        if (dx.dtype !== "float32") {
          throw new Error(
            `Error in gradient for op ${node.kernelName}. The gradient of input ${inputName} ` +
              `must have 'float32' dtype, but has '${dx.dtype}'`,
          );
        }
        if (!tf.util.arraysEqual(dx.shape, x.shape)) {
          throw new Error(
            `Error in gradient for op ${node.kernelName}. The gradient of input '${inputName}' ` +
              `has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`,
          );
        }
        // A gradient function may hand back dy itself; own a separate handle before freeing dy.
        if (dys.includes(dx)) dx = tf.clone(dx);
        const previous = gradientOf.get(x.id);
        if (previous == null) gradientOf.set(x.id, dx);
        else {
          gradientOf.set(x.id, tf.add(previous, dx));
          previous.dispose();
          dx.dispose();
        }
      }
      // Every consumer of these outputs ran later in the forward pass, so is processed already.
      for (const output of node.outputs) {
        if (keep.has(output.id)) continue;
        gradientOf.get(output.id)?.dispose();
        gradientOf.delete(output.id);
      }
      if (firstOrder) { for (const saved of node.saved ?? []) saved.dispose(); }
    }
    const grads = xs.map((x) => gradientOf.get(x.id)!);
    if (firstOrder) {
      for (const node of fullTape) for (const saved of node.saved ?? []) saved.dispose();
      this.state.activeTape = null;
    }
    return { value: y, grads };
  });
}

let stockGradients: unknown;

/** Makes every `tf.grads`/`tf.variableGrads`/`tf.valueAndGrads` free memory during backprop. */
export function installMemoryFreeingGradients(): void {
  const engine = tf.engine() as unknown as EngineInternals;
  if (stockGradients === undefined) stockGradients = engine.gradients;
  engine.gradients = gradientsFreeingMemory;
}

/** Restores tfjs's own back-propagation (for comparisons in tests). */
export function restoreStockGradients(): void {
  if (stockGradients !== undefined) {
    (tf.engine() as unknown as EngineInternals).gradients = stockGradients;
  }
}
