import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { join } from "node:path";
import { runLm, UsageError } from "../cli/lm.ts";

const fixtureDir = new URL("./fixtures/tiny-gpt2/", import.meta.url).pathname;
const fakeGpt2 = new URL("./fixtures/hf-saved/fake-gpt2/", import.meta.url).pathname;
const cliPath = new URL("../cli/lm.ts", import.meta.url).pathname;
const expected = JSON.parse(await Deno.readTextFile(join(fixtureDir, "expected.json")));

async function lm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--unstable-ffi", cliPath, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("lm score (subprocess): prints the fixture's loss and last logits as JSON", async () => {
  const wanted = expected.cases[0];
  const { code, stdout } = await lm(
    "score",
    "--model",
    fixtureDir,
    "--ids",
    wanted.ids,
    "--backend",
    "cpu",
  );
  assertEquals(code, 0);
  const result = JSON.parse(stdout);
  assert(Math.abs(result.loss - wanted.loss) < 1e-5, `loss ${result.loss}`);
  assertEquals(result.logits_last.length, 1000);
  const scale = Math.max(...wanted.logits_last.map(Math.abs));
  result.logits_last.forEach((v: number, i: number) =>
    assert(Math.abs(v - wanted.logits_last[i]) < 1e-4 * scale, `logit ${i}`)
  );
});

Deno.test("lm generate (subprocess): greedy ids equal the fixture's continuation", async () => {
  const wanted = expected.cases.find((c: { cmd: string }) => c.cmd === "generate");
  const { code, stdout } = await lm(
    "generate",
    "--model",
    fixtureDir,
    "--ids",
    wanted.prompt_ids.join(","),
    "--max-new",
    String(wanted.max_new),
    "--backend",
    "wasm",
  );
  assertEquals(code, 0);
  assertEquals(JSON.parse(stdout), { ids: wanted.new_ids, text: null });
});

Deno.test("lm (subprocess): a bad flag prints one line and exits 2", async () => {
  const { code, stdout, stderr } = await lm("score", "--model", fixtureDir, "--idz", "1");
  assertEquals(code, 2);
  assertEquals(stdout, "");
  assertEquals(stderr.trim().split("\n").length, 1, stderr);
  assert(stderr.includes("--idz"));
  const missing = await lm(
    "score",
    "--model",
    "/nonexistent/model",
    "--ids",
    "1",
    "--backend",
    "cpu",
  );
  assertEquals(missing.code, 2);
  assert(
    /^lm: \/nonexistent\/model\/config.json: cannot read/.test(missing.stderr),
    missing.stderr,
  );
});

Deno.test("lm generate --text: sampling is reproducible per seed, beams decode to text", async () => {
  const sample = ["generate", "--model", fakeGpt2, "--text", "Hello world", "--max-new", "6"];
  const seeded = [...sample, "--temperature", "0.9", "--top-p", "0.95", "--seed", "4"];
  const first = await runLm([...seeded, "--backend", "cpu"]);
  const again = await runLm([...seeded, "--backend", "cpu"]);
  assertEquals(first, again);
  assertEquals((first.ids as number[]).length, 6);
  assertEquals(typeof first.text, "string");
  const beams = await runLm([...sample, "--beams", "3", "--backend", "cpu"]);
  assertEquals((beams.ids as number[]).length, 6);
  await rejects(runLm(["score", "--model", fakeGpt2, "--ids", "1,x"]), UsageError);
  await rejects(runLm(["generate", "--model", fakeGpt2, "--ids", "1"]), /--max-new is required/);
  await rejects(
    runLm(["score", "--model", fakeGpt2, "--ids", "1", "--text", "a"]),
    /exactly one of --ids or --text/,
  );
});
