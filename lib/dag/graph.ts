import { DirectedGraph } from "graphology";
import { topologicalSort } from "graphology-dag";
import { ConfigError, type SourceLocation } from "../config/errors.ts";
import type { StageSpec } from "./types.ts";

/**
 * Build the upstream → downstream graph of `stages` and a topological order. Throws
 * {@linkcode ConfigError} naming the cycle (`a → b → a`) at the `needs` entry that closes it, as
 * located by `whereNeed(stage, need)`.
 */
export function buildGraph(
  stages: Map<string, StageSpec>,
  whereNeed: (stage: string, need: string) => SourceLocation,
): { graph: DirectedGraph; order: string[] } {
  const graph = new DirectedGraph();
  for (const name of stages.keys()) graph.addNode(name);
  for (const spec of stages.values()) {
    for (const need of spec.needs) {
      if (!graph.hasEdge(need, spec.name)) graph.addDirectedEdge(need, spec.name);
    }
  }
  const cycle = findCycle(stages);
  if (cycle) {
    const [last, first] = [cycle[cycle.length - 2], cycle[cycle.length - 1]];
    throw ConfigError.at(whereNeed(first, last), `cycle: ${cycle.join(" → ")}`);
  }
  return { graph, order: topologicalSort(graph) };
}

/** A cycle as a closed path `[a, b, …, a]` (each needs the one before it), or undefined. */
function findCycle(stages: Map<string, StageSpec>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (name: string): string[] | undefined => {
    state.set(name, "open");
    path.push(name);
    for (const need of stages.get(name)!.needs) {
      const seen = state.get(need);
      if (seen === "open") {
        // path holds downstream → upstream; report upstream → downstream.
        const loop = path.slice(path.indexOf(need)).reverse();
        return [...loop, loop[0]];
      }
      if (seen === undefined) {
        const found = visit(need);
        if (found) return found;
      }
    }
    path.pop();
    state.set(name, "done");
    return undefined;
  };
  for (const name of stages.keys()) {
    if (!state.has(name)) {
      const found = visit(name);
      if (found) return found;
    }
  }
  return undefined;
}

/** Every stage `names` depends on, transitively, plus `names` themselves, in `order`. */
export function withUpstream(
  stages: Map<string, StageSpec>,
  order: string[],
  names: string[],
): string[] {
  const keep = new Set<string>();
  const stack = [...names];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (keep.has(name)) continue;
    keep.add(name);
    stack.push(...stages.get(name)!.needs);
  }
  return order.filter((name) => keep.has(name));
}
