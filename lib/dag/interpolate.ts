import { isMap, isScalar, isSeq, type Node as YamlNode, type Scalar } from "yaml";
import type { MatrixValue } from "./types.ts";

/** What `${...}` references can see: the shared sections and, in a matrix cell, its values. */
export interface Scope {
  sections: Record<string, unknown>;
  matrix?: Record<string, MatrixValue>;
}

interface Failer {
  fail(node: YamlNode | null | undefined, key: string, detail: string): never;
}

const REFERENCE = /\$\{([^}]*)\}/g;
const WHOLE_REFERENCE = /^\$\{([^}]*)\}$/;

/**
 * Convert a YAML node to a plain value, replacing `${section.key}` and `${matrix.var}`. A string
 * that is exactly one reference keeps the referenced value's type (a whole section stays a
 * mapping); references inside longer strings are spliced in as text and must be scalars. Throws
 * through `failer` (a ConfigError with the node's location) for unknown references.
 */
export function interpolate(
  node: YamlNode | null,
  scope: Scope,
  key: string,
  failer: Failer,
): unknown {
  if (node === null || node === undefined) return null;
  if (isMap(node)) {
    const out: Record<string, unknown> = {};
    for (const pair of node.items) {
      const name = String((pair.key as Scalar).value);
      out[name] = interpolate(pair.value as YamlNode | null, scope, `${key}.${name}`, failer);
    }
    return out;
  }
  if (isSeq(node)) {
    return node.items.map((item, i) =>
      interpolate(item as YamlNode, scope, `${key}[${i}]`, failer)
    );
  }
  if (!isScalar(node)) return node.toJSON();
  const value = node.value;
  if (typeof value !== "string" || !value.includes("${")) return value;
  const whole = WHOLE_REFERENCE.exec(value);
  if (whole) return structuredClone(lookup(whole[1], scope, node, key, failer));
  return value.replace(REFERENCE, (_, reference: string) => {
    const found = lookup(reference, scope, node, key, failer);
    if (found !== null && typeof found === "object") {
      failer.fail(
        node,
        key,
        `\${${reference}} is a ${
          Array.isArray(found) ? "list" : "mapping"
        } and cannot be part of a longer string`,
      );
    }
    return String(found);
  });
}

function lookup(
  reference: string,
  scope: Scope,
  node: YamlNode,
  key: string,
  failer: Failer,
): unknown {
  const path = reference.trim().split(".");
  const [head, ...rest] = path;
  let current: unknown;
  if (head === "matrix") {
    if (!scope.matrix) failer.fail(node, key, `\${${reference}} used outside a matrix stage`);
    current = scope.matrix;
  } else if (head in scope.sections) {
    current = scope.sections[head];
  } else {
    const known = [...Object.keys(scope.sections), ...(scope.matrix ? ["matrix"] : [])];
    failer.fail(
      node,
      key,
      `unknown reference \${${reference}}: no section "${head}" (known: ${known.join(", ")})`,
    );
  }
  let walked = head;
  for (const part of rest) {
    if (current === null || typeof current !== "object" || !(part in current)) {
      const keys = current !== null && typeof current === "object"
        ? Object.keys(current).join(", ")
        : "none";
      failer.fail(
        node,
        key,
        `unknown reference \${${reference}}: ${walked} has no key "${part}" (keys: ${keys})`,
      );
    }
    current = (current as Record<string, unknown>)[part];
    walked += `.${part}`;
  }
  return current;
}
