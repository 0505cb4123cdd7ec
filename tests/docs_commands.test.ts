/**
 * The commands the README and docs/ show must work as written: every `deno task X` names a task of
 * deno.json, every pipeline command parses with the pipeline CLI's own parser, and every flag
 * shown for another task is one its script declares.
 *
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { parseCli } from "../cli/pipeline.ts";
import { parseBenchArgs } from "../bench/engine.ts";

const DOCUMENTS = [
  "README.md",
  ...[...Deno.readDirSync("docs")].map((entry) => `docs/${entry.name}`),
]
  .filter((path) => path.endsWith(".md"));

interface Shown {
  where: string;
  task: string;
  args: string[];
}

/** `deno task …` lines inside fenced code blocks and inline code spans, comments removed. */
function shownCommands(path: string, text: string): Shown[] {
  const shown: Shown[] = [];
  text.split("\n").forEach((line, index) => {
    for (const match of line.matchAll(/deno task ([a-z:]+)((?: [^`#\n]*)?)/g)) {
      const args = match[2].trim().split(/\s+/).filter((word) => word !== "");
      // "[run|status]"-style synopses and "…" elisions are prose, not commands to run.
      if (args.some((word) => /^\[|…|\.\.\.|^<|\|/.test(word))) continue;
      shown.push({ where: `${path}:${index + 1}`, task: match[1], args });
    }
  });
  return shown;
}

const tasks: Record<string, string> = JSON.parse(Deno.readTextFileSync("deno.json")).tasks;
const commands = DOCUMENTS.flatMap((path) => shownCommands(path, Deno.readTextFileSync(path)));

Deno.test("docs: every `deno task` shown in README.md and docs/ is a task of deno.json", () => {
  assert(commands.length > 20, `found only ${commands.length} commands`);
  for (const { where, task } of commands) assert(task in tasks, `${where}: no task "${task}"`);
});

/** Every command of `task` shown in the docs parses with that task's own `parse`. */
function assertShownParse(task: string, parse: (args: string[]) => unknown): void {
  for (const { where, args } of commands.filter((command) => command.task === task)) {
    try {
      parse(args);
    } catch (error) {
      throw new Error(`${where}: deno task ${task} ${args.join(" ")}: ${(error as Error).message}`);
    }
  }
}

Deno.test("docs: every pipeline command shown parses with the pipeline CLI", () => {
  assertShownParse("pipeline", parseCli);
});

Deno.test("docs: every bench command shown parses with the bench's own flags", () => {
  assert(commands.some((command) => command.task === "bench"), "no bench command shown");
  assertShownParse("bench", parseBenchArgs);
});

Deno.test("docs: every flag shown for another task is declared by its script", () => {
  for (const { where, task, args } of commands.filter((command) => command.task !== "pipeline")) {
    const script = tasks[task]?.match(/(\S+\.ts)\b/)?.[1];
    if (!script) continue; // `deno task test` runs deno test itself
    const source = Deno.readTextFileSync(script);
    for (const flag of args.filter((word) => word.startsWith("--"))) {
      const name = flag.slice(2).split("=")[0];
      // A parseArgs option (`name: {`) or a hand-written parser's `case "--name"`.
      const declared = new RegExp(`["']?${name}["']?\\s*:\\s*\\{`).test(source) ||
        source.includes(`"--${name}"`);
      assert(declared, `${where}: ${script} declares no --${name}`);
    }
  }
});
