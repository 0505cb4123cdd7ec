/**
 * Test helpers: a temporary project with the fake stages copied into `stages/`, and a way to run
 * the pipeline CLI on it as a subprocess.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import type { RunEvent } from "../../lib/run/progress.ts";

const FAKE_STAGES_DIR = dirname(fromFileUrl(import.meta.url));
const CLI_PATH = fromFileUrl(new URL("../../cli/pipeline.ts", import.meta.url));
const LIB_PATH = fromFileUrl(new URL("../../lib/", import.meta.url));

const createdProjects: string[] = [];
// Temporary projects go when the test process ends (outputs are read-only files in writable folders).
globalThis.addEventListener("unload", () => {
  for (const dir of createdProjects) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* already gone */ }
  }
});

/** Create a temporary project: fake stages in `stages/`, `pipeline.yaml` and extra files. */
export async function makeProject(
  pipelineYaml: string,
  files: Record<string, string> = {},
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "peftlab-test-" });
  createdProjects.push(dir);
  await Deno.mkdir(join(dir, "stages"));
  for await (const entry of Deno.readDir(FAKE_STAGES_DIR)) {
    if (!entry.name.endsWith(".ts") || entry.name === "project.ts") continue;
    const source = await Deno.readTextFile(join(FAKE_STAGES_DIR, entry.name));
    await Deno.writeTextFile(
      join(dir, "stages", entry.name),
      source.replaceAll('"../../lib/', `"file://${LIB_PATH}`),
    );
  }
  await Deno.writeTextFile(join(dir, "pipeline.yaml"), pipelineYaml);
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(dirname(join(dir, path)), { recursive: true });
    await Deno.writeTextFile(join(dir, path), text);
  }
  return dir;
}

/** Output of one CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Parsed `--json` event lines (empty without `--json`). */
  events: RunEvent[];
}

/** The CLI as a child process in `dir` (not awaited), for tests that signal or kill it. */
export function spawnCli(
  dir: string,
  args: string[],
  env: Record<string, string> = {},
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI_PATH, ...args],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
}

/** Run the CLI in `dir` with `args` and collect its output and JSON events. */
export async function runCli(
  dir: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  const output = await spawnCli(dir, args, env).output();
  return collect(output.code, output.stdout, output.stderr);
}

/** Turn raw process output into a {@linkcode CliResult}. */
export function collect(code: number, stdoutBytes: Uint8Array, stderrBytes: Uint8Array): CliResult {
  const stdout = new TextDecoder().decode(stdoutBytes);
  const stderr = new TextDecoder().decode(stderrBytes);
  const events = stdout.split("\n").filter((line) => line.startsWith('{"event"')).map((line) =>
    JSON.parse(line) as RunEvent
  );
  return { code, stdout, stderr, events };
}

/** Names of the stages with a given event, in order. */
export function stagesWith(result: CliResult, event: RunEvent["event"]): string[] {
  return result.events.filter((e) => e.event === event).map((e) => e.stage);
}
