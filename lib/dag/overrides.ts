import { type Document, isMap, isScalar, isSeq, parse as parseYaml, type Scalar } from "yaml";
import { ConfigError } from "../config/errors.ts";

/**
 * Apply `dotted.key=value` overrides to a parsed pipeline document in place. The key is a path in
 * the file (`data.limit_train`, `stages.train-lora.params.r`, or the short `train-lora.params.r`
 * for a stage); it must already exist, and the value is converted to the type of the value in the
 * file (number, boolean, string, list, mapping). Throws {@linkcode ConfigError} naming the key for
 * bad syntax, an unknown key or a value of the wrong type. Returns the nodes it put into the
 * document, so later errors about them can say they came from `--set`.
 */
export function applyOverrides(
  doc: Document,
  overrides: string[],
  file: string,
): WeakSet<object> {
  const created = new WeakSet<object>();
  for (const override of overrides) {
    const where = { file, line: 0, column: 0, key: `--set ${override}` };
    const eq = override.indexOf("=");
    if (eq <= 0) throw ConfigError.at(where, "expected --set dotted.key=value");
    const dotted = override.slice(0, eq);
    const text = override.slice(eq + 1);
    const path = resolvePath(doc, dotted.split("."));
    if (!path) {
      throw ConfigError.at({ ...where, key: dotted }, `--set: unknown key "${dotted}"`);
    }
    const existing = doc.getIn(path, true) as unknown;
    const node = doc.createNode(convert(existing, text, { ...where, key: dotted }));
    markTree(node, created);
    doc.setIn(path, node);
  }
  return created;
}

function markTree(node: unknown, marks: WeakSet<object>): void {
  if (node === null || typeof node !== "object") return;
  marks.add(node);
  if (isMap(node)) { for (const pair of node.items) markTree(pair.value, marks); }
  else if (isSeq(node)) { for (const item of node.items) markTree(item, marks); }
}

/** The file path of a dotted key, trying the `stages.` prefix for stage names; undefined if absent. */
function resolvePath(doc: Document, parts: string[]): (string | number)[] | undefined {
  const candidates = [parts, ["stages", ...parts]];
  for (const candidate of candidates) {
    const path: (string | number)[] = [];
    let node: unknown = doc.contents;
    let found = true;
    for (const part of candidate) {
      if (isMap(node) && node.has(part)) {
        path.push(part);
        node = node.get(part, true);
      } else if (isSeq(node) && /^\d+$/.test(part) && Number(part) < node.items.length) {
        path.push(Number(part));
        node = node.get(Number(part), true);
      } else {
        found = false;
        break;
      }
    }
    if (found && candidate.length > 0) return path;
  }
  return undefined;
}

function convert(
  existing: unknown,
  text: string,
  where: { file: string; line: number; column: number; key: string },
): unknown {
  if (isScalar(existing)) {
    const value = (existing as Scalar).value;
    if (typeof value === "number") {
      const number = Number(text);
      if (text.trim() === "" || !Number.isFinite(number)) {
        throw ConfigError.at(where, `expected a number like ${value}, got "${text}"`);
      }
      return number;
    }
    if (typeof value === "boolean") {
      if (text !== "true" && text !== "false") {
        throw ConfigError.at(where, `expected true or false, got "${text}"`);
      }
      return text === "true";
    }
    if (typeof value === "string") return text;
    return parseYaml(text);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw ConfigError.at(where, `value is not valid YAML: ${(error as Error).message}`);
  }
  if (isSeq(existing) && !Array.isArray(parsed)) {
    throw ConfigError.at(where, `expected a list like [a, b], got "${text}"`);
  }
  if (isMap(existing) && (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))) {
    throw ConfigError.at(where, `expected a mapping like {a: 1}, got "${text}"`);
  }
  return parsed;
}
