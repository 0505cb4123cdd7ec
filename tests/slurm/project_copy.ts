/**
 * A throw-away copy of this project (code, stages, data, pipelines) for tests that run the real
 * pipelines without touching the checkout's lock files or cache. `node_modules` is hard-linked.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const COPIED = ["deno.json", "deno.lock", "lib", "stages", "data", "pipelines", "presets"];

/**
 * Copy the project into a new folder under its git-ignored `artifacts/` (the same filesystem, so
 * `node_modules` can be hard-linked); returns the folder. The caller removes it.
 */
export async function copyProject(): Promise<string> {
  const parent = join(ROOT, "artifacts");
  await Deno.mkdir(parent, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: parent, prefix: "slurm-test-project-" });
  const present = COPIED.filter((name) => exists(join(ROOT, name)));
  await cp(["-a", ...present.map((name) => join(ROOT, name)), dir]);
  await cp(["-al", join(ROOT, "node_modules"), dir]).catch(async () => {
    // Another filesystem (no hard links): start again with a plain copy.
    await Deno.remove(join(dir, "node_modules"), { recursive: true }).catch(() => {});
    await cp(["-a", join(ROOT, "node_modules"), dir]);
  });
  return dir;
}

async function cp(args: string[]): Promise<void> {
  const output = await new Deno.Command("cp", { args, stderr: "piped" }).output();
  if (!output.success) {
    throw new Error(`cp ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
