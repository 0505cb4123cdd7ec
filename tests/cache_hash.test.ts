import { join } from "node:path";
import {
  canonicalJson,
  CodeHasher,
  commitOutput,
  hashFileContent,
  hashTree,
  hasOutput,
  listFiles,
  outputPath,
  readLock,
  sha256Hex,
  StatCache,
  writeLock,
} from "../lib/cache/mod.ts";
import { loadPipeline } from "../lib/dag/mod.ts";
import { openStatCache, Planner } from "../lib/run/mod.ts";
import { assert, assertEquals } from "./asserts.ts";
import { makeProject, runCli } from "./fake_stages/project.ts";

Deno.test("hash: file hash equals the SHA-256 of its bytes, across chunk boundaries", async () => {
  const dir = await Deno.makeTempDir();
  const bytes = new Uint8Array((4 << 20) + 12345).map((_, i) => (i * 7919) % 251);
  await Deno.writeFile(join(dir, "f.bin"), bytes);
  assertEquals(await hashFileContent(join(dir, "f.bin")), sha256Hex(bytes));
  assertEquals(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

Deno.test("hash: canonical JSON does not depend on key order", () => {
  assertEquals(
    canonicalJson({ b: 1, a: { d: 2, c: [3, { f: 1, e: 2 }] } }),
    canonicalJson({
      a: { c: [3, { e: 2, f: 1 }], d: 2 },
      b: 1,
    }),
  );
});

Deno.test("stat cache: an unchanged file is not reread; a changed one is, after save/load", async () => {
  const dir = await Deno.makeTempDir();
  const file = join(dir, "data.jsonl");
  await Deno.writeTextFile(file, "one\n");
  const first = await StatCache.load(join(dir, "stat.json"));
  const hash = await first.hashFile(file);
  assertEquals(first.hashedFiles, 1);
  await first.save();

  const second = await StatCache.load(join(dir, "stat.json"));
  assertEquals(await second.hashFile(file), hash);
  assertEquals(second.hashedFiles, 0);

  await Deno.writeTextFile(file, "two\n");
  const changed = await second.hashFile(file);
  assertEquals(second.hashedFiles, 1);
  assert(changed !== hash);
  assertEquals(changed, sha256Hex("two\n"));
});

Deno.test("code hash: follows local imports, records pinned packages, ignores type-only imports", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    join(dir, "deno.json"),
    JSON.stringify({ imports: { yaml: "npm:yaml@2.9.1" } }),
  );
  await Deno.mkdir(join(dir, "stages"));
  await Deno.mkdir(join(dir, "lib"));
  await Deno.writeTextFile(
    join(dir, "stages/s.ts"),
    'import type { T } from "../lib/types.ts";\nimport { f } from "../lib/f.ts";\nimport "yaml";\nexport const run = f;\n',
  );
  await Deno.writeTextFile(join(dir, "lib/f.ts"), 'export { g as f } from "./g.ts";\n');
  await Deno.writeTextFile(join(dir, "lib/g.ts"), "export const g = 1;\n");
  await Deno.writeTextFile(join(dir, "lib/types.ts"), "export type T = number;\n");
  const stats = await StatCache.load(join(dir, "stat.json"));
  const before = await new CodeHasher(dir, stats).fingerprint("stages/s.ts");
  assertEquals(Object.keys(before.files), ["lib/f.ts", "lib/g.ts", "stages/s.ts"]);
  assertEquals(before.packages, ["yaml=npm:yaml@2.9.1"]);

  await Deno.writeTextFile(join(dir, "lib/types.ts"), "export type T = string;\n");
  const typesChanged = await new CodeHasher(dir, stats).fingerprint("stages/s.ts");
  assertEquals(typesChanged.hash, before.hash);

  await Deno.writeTextFile(join(dir, "lib/g.ts"), "export const g = 2;\n");
  const transitiveChanged = await new CodeHasher(dir, stats).fingerprint("stages/s.ts");
  assert(transitiveChanged.hash !== before.hash);
  assert(transitiveChanged.files["lib/g.ts"] !== before.files["lib/g.ts"]);
});

Deno.test("store: output is content-addressed, read-only, and identical outputs share one folder", async () => {
  const cache = await Deno.makeTempDir();
  const makeOutput = async (text: string) => {
    const out = await Deno.makeTempDir({ dir: cache });
    await Deno.mkdir(join(out, "sub"));
    await Deno.writeTextFile(join(out, "sub/model.txt"), text);
    await Deno.writeTextFile(join(out, "metrics.json"), "{}");
    return out;
  };
  const first = await makeOutput("weights");
  const expected = await hashTree(first);
  const { hash, files } = await commitOutput(cache, first);
  assertEquals(hash, expected);
  assertEquals(Object.keys(files), ["metrics.json", "sub/model.txt"]);
  assert(hasOutput(cache, hash));
  assertEquals(await listFiles(outputPath(cache, hash)), ["metrics.json", "sub/model.txt"]);
  const mode = (await Deno.stat(join(outputPath(cache, hash), "sub/model.txt"))).mode! & 0o777;
  assertEquals(mode, 0o444);

  const again = await makeOutput("weights");
  assertEquals((await commitOutput(cache, again)).hash, hash);
  let tempGone = false;
  try {
    await Deno.stat(again);
  } catch {
    tempGone = true;
  }
  assert(tempGone);
  assert((await commitOutput(cache, await makeOutput("other"))).hash !== hash);
});

Deno.test("store: committing an output whose stored copy was damaged replaces that copy", async () => {
  const cache = await Deno.makeTempDir();
  const makeOutput = async () => {
    const out = await Deno.makeTempDir({ dir: cache });
    await Deno.writeTextFile(join(out, "model.txt"), "weights");
    return out;
  };
  const { hash } = await commitOutput(cache, await makeOutput());
  const stored = join(outputPath(cache, hash), "model.txt");
  await Deno.chmod(stored, 0o644);
  await Deno.writeTextFile(stored, "w"); // truncated by hand
  const stats = await StatCache.load(join(cache, "stats.json"));
  assertEquals((await commitOutput(cache, await makeOutput(), stats)).hash, hash);
  assertEquals(await Deno.readTextFile(stored), "weights");
  assertEquals(await stats.hashFile(stored), await hashFileContent(stored));
  assertEquals(stats.hashedFiles, 1, "the damaged copy is hashed once; the new one is remembered");
});

Deno.test("lock file: written atomically as readable JSON and read back", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "pipeline.lock");
  assertEquals((await readLock(path)).stages, {});
  const entry = {
    key: "k",
    uses: "stages/s.ts",
    code: { files: { "stages/s.ts": "h" }, packages: [] },
    params: { lr: 0.001 },
    deps: {},
    upstream: {},
    output: "o",
    duration_s: 1.5,
    metrics: { loss: 2.5 },
    finished_at: "2026-01-01T00:00:00.000Z",
  };
  await writeLock(path, { version: 1, stages: { b: entry, a: entry } }, ["a", "b"]);
  const text = await Deno.readTextFile(path);
  assert(text.indexOf('"a"') < text.indexOf('"b"'));
  assertEquals((await readLock(path)).stages.a, entry);
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["pipeline.lock"]);
});

Deno.test("no-op: after a run, checking every stage rereads no file (stat cache hits only)", async () => {
  const dir = await makeProject(
    `
stages:
  a: { uses: stages/write.ts, deps: [data/big.txt] }
  b: { uses: stages/write.ts, needs: [a], deps: ["data/*.txt"] }
`,
    { "data/big.txt": "x".repeat(1 << 20), "data/small.txt": "y" },
  );
  assertEquals((await runCli(dir, [])).code, 0);
  const pipeline = await loadPipeline(join(dir, "pipeline.yaml"));
  const check = async () => {
    const stats = await openStatCache(pipeline.cacheDir);
    const planner = new Planner(pipeline, await readLock(pipeline.lockPath), stats);
    const status = await planner.status();
    return { stats, status };
  };
  const clean = await check();
  assertEquals(clean.status.map((s) => s.fresh), [true, true]);
  assertEquals(clean.stats.hashedFiles, 0);
  await Deno.writeTextFile(join(dir, "data/small.txt"), "z");
  const touched = await check();
  assertEquals(touched.stats.hashedFiles, 1);
  assertEquals(touched.status.map((s) => s.reasons), [[], ["data/small.txt changed"]]);
});
