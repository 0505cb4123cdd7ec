import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { fakeCommit, FakeHub, readFixtureFiles } from "./hub_server.ts";

const TINY_DIR = new URL("./fixtures/tiny-gpt2/", import.meta.url).pathname;
const FAKE_GPT2_DIR = new URL("./fixtures/hf-saved/fake-gpt2/", import.meta.url).pathname;
const CLI_PATH = new URL("../cli/lm.ts", import.meta.url).pathname;
const expected = JSON.parse(await Deno.readTextFile(join(TINY_DIR, "expected.json")));

/** Runs `deno task lm` as a user would, with the HF_* variables given (others cleared). */
async function lm(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--unstable-ffi", CLI_PATH, ...args],
    env: { HF_TOKEN: "", HF_HUB_OFFLINE: "", HF_HOME: "", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("lm --model hf:org/name scores from a local Hub, then again offline with the Hub stopped", async () => {
  const commit = fakeCommit("cli tiny");
  const hub = FakeHub.start({
    "peftlab-test/tiny-gpt2": {
      commits: { [commit]: await readFixtureFiles(TINY_DIR, ["config.json", "model.safetensors"]) },
      refs: { main: commit },
    },
  });
  const cacheDir = await Deno.makeTempDir({ prefix: "peftlab-hub-cli-" });
  const wanted = expected.cases[0];
  const score = [
    "score",
    "--model",
    "hf:peftlab-test/tiny-gpt2",
    "--ids",
    wanted.ids,
    "--backend",
    "cpu",
  ];
  try {
    const online = await lm({ HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir }, ...score);
    equal(online.code, 0, online.stderr);
    const result = JSON.parse(online.stdout);
    ok(Math.abs(result.loss - wanted.loss) < 1e-5, `loss ${result.loss}`);
    // Progress is reported on stderr as plain lines when stderr is not a terminal.
    match(online.stderr, /downloading model\.safetensors \(0\.7 MB\)/);
    match(online.stderr, /model\.safetensors: done/);
    const snapshot = join(cacheDir, "models--peftlab-test--tiny-gpt2", "snapshots", commit);
    ok((await Deno.lstat(join(snapshot, "model.safetensors"))).isSymlink);

    await hub.stop();
    const offline = await lm(
      { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir, HF_HUB_OFFLINE: "1" },
      ...score,
    );
    equal(offline.code, 0, offline.stderr);
    deepStrictEqual(JSON.parse(offline.stdout), result);
    equal(offline.stderr, "");
  } finally {
    await hub.stop().catch(() => {});
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("lm --model hf: an unknown repository is one line naming it, exit 2; --text uses the Hub tokenizer", async () => {
  const commit = fakeCommit("cli fake");
  const hub = FakeHub.start({
    "peftlab-test/fake-gpt2": {
      commits: {
        [commit]: await readFixtureFiles(FAKE_GPT2_DIR, [
          "config.json",
          "model.safetensors",
          "tokenizer.json",
        ]),
      },
      refs: { main: commit },
    },
  });
  const cacheDir = await Deno.makeTempDir({ prefix: "peftlab-hub-cli-" });
  const env = { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir };
  try {
    const unknown = await lm(env, "score", "--model", "hf:peftlab-test/nope", "--ids", "1");
    equal(unknown.code, 2);
    equal(unknown.stdout, "");
    equal(unknown.stderr.trim().split("\n").length, 1, unknown.stderr);
    match(unknown.stderr, /^lm: hf:peftlab-test\/nope: no model repository "peftlab-test\/nope"/);
    const text = await lm(
      env,
      "generate",
      "--model",
      "hf:peftlab-test/fake-gpt2",
      "--text",
      "Hello world",
      "--max-new",
      "3",
      "--backend",
      "cpu",
    );
    equal(text.code, 0, text.stderr);
    equal(typeof JSON.parse(text.stdout).text, "string");
  } finally {
    await hub.stop();
    await Deno.remove(cacheDir, { recursive: true });
  }
});
