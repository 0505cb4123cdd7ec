/**
 * `deno task bench:dag`: speed of the pipeline engine on a generated DAG (default 200 stages in
 * layers of 10, each stage needing two stages of the layer before, one numeric param per stage:
 * the same shape as `../shared/bench/snakemake_dag.py`), and first-time hashing of a large file
 * against `sha256sum`.
 *
 * Targets: `status` and a no-op run each < 0.25 s wall with every stage fresh; hashing ≥ 80% of
 * `sha256sum`'s speed. Options: `--stages N`, `--hash-mib N` (default 1024), `--repeats N`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { hashFileContent } from "../lib/cache/mod.ts";

const LAYER_WIDTH = 10;
const TARGET_NOOP_SECONDS = 0.25;
const TARGET_HASH_SPEED_RATIO = 0.8;
const CLI_PATH = fileURLToPath(new URL("../cli/pipeline.ts", import.meta.url));

const STAGE_SOURCE = `export async function run(ctx) {
  await Deno.writeTextFile(ctx.outDir + "/out.txt", ctx.stage + " " + ctx.params.lr + "\\n");
  return { metrics: { lr: ctx.params.lr } };
}
`;

/** Pipeline YAML of `count` stages in layers of {@linkcode LAYER_WIDTH}. */
function generatePipeline(count: number): string {
  const lines = ["stages:"];
  for (let i = 0; i < count; i++) {
    const layer = Math.floor(i / LAYER_WIDTH);
    const needs = layer === 0 ? [] : [
      ...new Set([
        (layer - 1) * LAYER_WIDTH + (i % LAYER_WIDTH),
        (layer - 1) * LAYER_WIDTH + ((i + 1) % LAYER_WIDTH),
      ]),
    ].sort((a, b) => a - b).map((d) => `s${d}`);
    const needsText = needs.length > 0 ? `, needs: [${needs.join(", ")}]` : "";
    lines.push(`  s${i}: { uses: stages/echo.ts${needsText}, params: { lr: ${0.001 * (i + 1)} } }`);
  }
  return lines.join("\n") + "\n";
}

async function timeCli(
  dir: string,
  args: string[],
): Promise<{ seconds: number; code: number; stdout: string }> {
  const started = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI_PATH, ...args],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const stdout = new TextDecoder().decode(output.stdout);
  if (output.code !== 0) {
    throw new Error(
      `pipeline ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return { seconds, code: output.code, stdout };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function benchDag(stageCount: number, repeats: number) {
  const dir = await Deno.makeTempDir({ prefix: "peftlab-bench-dag-" });
  await Deno.mkdir(join(dir, "stages"));
  await Deno.writeTextFile(join(dir, "stages/echo.ts"), STAGE_SOURCE);
  await Deno.writeTextFile(join(dir, "pipeline.yaml"), generatePipeline(stageCount));
  const first = await timeCli(dir, ["--jobs", "2", "--json"]);
  const finished =
    first.stdout.split("\n").filter((line) => line.includes('"event":"finish"')).length;
  if (finished !== stageCount) {
    throw new Error(`first run finished ${finished}/${stageCount} stages`);
  }
  const results: Record<string, number[]> = { status: [], noop: [], dryRun: [] };
  for (let i = 0; i < repeats; i++) {
    const status = await timeCli(dir, ["status"]);
    if (status.stdout.includes("stale")) throw new Error("status found stale stages after a run");
    results.status.push(status.seconds);
    const noop = await timeCli(dir, ["--json"]);
    if (noop.stdout.includes('"event":"start"')) throw new Error("no-op run started a stage");
    results.noop.push(noop.seconds);
    results.dryRun.push((await timeCli(dir, ["--dry-run"])).seconds);
  }
  await Deno.remove(dir, { recursive: true });
  return {
    stages: stageCount,
    firstRunSeconds: first.seconds,
    statusSeconds: median(results.status),
    noopSeconds: median(results.noop),
    dryRunSeconds: median(results.dryRun),
    statusAll: results.status,
    noopAll: results.noop,
  };
}

async function benchHash(sizeMib: number) {
  const dir = await Deno.makeTempDir({ prefix: "peftlab-bench-hash-" });
  const path = join(dir, "big.bin");
  const block = new Uint8Array(1 << 20);
  crypto.getRandomValues(block.subarray(0, 65536));
  for (let i = 65536; i < block.length; i++) block[i] = block[i - 65536] ^ (i & 0xff);
  {
    using file = await Deno.open(path, { write: true, create: true });
    for (let i = 0; i < sizeMib; i++) {
      block[0] = i & 0xff;
      await file.write(block);
    }
  }
  const runSha256sum = async () => {
    const started = performance.now();
    const output = await new Deno.Command("sha256sum", { args: [path], stdout: "piped" }).output();
    return {
      seconds: (performance.now() - started) / 1000,
      hash: new TextDecoder().decode(output.stdout).split(" ")[0],
    };
  };
  const runOurs = async () => {
    const started = performance.now();
    const hash = await hashFileContent(path);
    return { seconds: (performance.now() - started) / 1000, hash };
  };
  await runSha256sum(); // warm the page cache so both read from memory
  const reference = [await runSha256sum(), await runSha256sum()];
  const ours = [await runOurs(), await runOurs()];
  await Deno.remove(dir, { recursive: true });
  if (reference[0].hash !== ours[0].hash) throw new Error("hash mismatch with sha256sum");
  const referenceSeconds = Math.min(...reference.map((r) => r.seconds));
  const oursSeconds = Math.min(...ours.map((r) => r.seconds));
  return {
    sizeMib,
    sha256sumSeconds: referenceSeconds,
    oursSeconds,
    sha256sumMibPerSecond: sizeMib / referenceSeconds,
    oursMibPerSecond: sizeMib / oursSeconds,
    speedRatio: referenceSeconds / oursSeconds,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      stages: { type: "string", default: "200" },
      "hash-mib": { type: "string", default: "1024" },
      repeats: { type: "string", default: "5" },
    },
  });
  const dag = await benchDag(Number(values.stages), Number(values.repeats));
  console.log(JSON.stringify({ bench: "dag", ...dag }));
  const hash = await benchHash(Number(values["hash-mib"]));
  console.log(JSON.stringify({ bench: "hash", ...hash }));
  const verdict = (ok: boolean) => ok ? "PASS" : "MISS";
  console.log(
    [
      `${dag.stages}-stage DAG, every stage fresh (median of ${values.repeats}):`,
      `  status      ${dag.statusSeconds.toFixed(3)} s  ${
        verdict(dag.statusSeconds < TARGET_NOOP_SECONDS)
      } (< ${TARGET_NOOP_SECONDS} s)`,
      `  no-op run   ${dag.noopSeconds.toFixed(3)} s  ${
        verdict(dag.noopSeconds < TARGET_NOOP_SECONDS)
      } (< ${TARGET_NOOP_SECONDS} s)`,
      `  dry run     ${dag.dryRunSeconds.toFixed(3)} s`,
      `  first run   ${dag.firstRunSeconds.toFixed(1)} s (--jobs 2)`,
      `hash ${hash.sizeMib} MiB: ours ${hash.oursMibPerSecond.toFixed(0)} MiB/s, sha256sum ${
        hash.sha256sumMibPerSecond.toFixed(0)
      } MiB/s → ${(100 * hash.speedRatio).toFixed(0)}% ${
        verdict(hash.speedRatio >= TARGET_HASH_SPEED_RATIO)
      } (≥ ${100 * TARGET_HASH_SPEED_RATIO}%)`,
    ].join("\n"),
  );
}
