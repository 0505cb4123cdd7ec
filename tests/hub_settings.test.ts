import { deepStrictEqual, equal, match, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { consoleProgress, HubError, hubSettingsFromEnv, parseHubRef } from "../lib/hub/mod.ts";

Deno.test("hub refs: hf:org/name[@revision], legacy ids, and refusals naming the text", () => {
  deepStrictEqual(parseHubRef("hf:openai-community/gpt2"), {
    text: "hf:openai-community/gpt2",
    repoId: "openai-community/gpt2",
    revision: "main",
  });
  equal(parseHubRef("hf:gpt2@v1.0").revision, "v1.0");
  equal(parseHubRef("hf:gpt2").repoId, "gpt2");
  equal(parseHubRef("hf:org/name@refs/pr/1").revision, "refs/pr/1");
  for (
    const bad of [
      "gpt2",
      "hf:",
      "hf:a/b/c",
      "hf:org/na me",
      "hf:org--x/y",
      "hf:org/x@",
      "hf:o/x@../up",
    ]
  ) {
    throws(() => parseHubRef(bad), (error: unknown) => {
      ok(error instanceof HubError && error.kind === "bad-reference", `${bad}: ${error}`);
      ok(error.message.startsWith(`${bad}: `), error.message);
      return true;
    });
  }
});

Deno.test("hub settings: the HF_* variables and defaults of huggingface_hub", () => {
  const home = "/home/u";
  deepStrictEqual(hubSettingsFromEnv({ HOME: home }), {
    endpoint: "https://huggingface.co",
    cacheDir: join(home, ".cache/huggingface/hub"),
    token: undefined,
    offline: false,
  });
  equal(hubSettingsFromEnv({ HOME: home, XDG_CACHE_HOME: "/x" }).cacheDir, "/x/huggingface/hub");
  equal(hubSettingsFromEnv({ HOME: home, HF_HOME: "~/hf" }).cacheDir, "/home/u/hf/hub");
  equal(
    hubSettingsFromEnv({ HOME: home, HF_HOME: "/hf", HF_HUB_CACHE: "/cache" }).cacheDir,
    "/cache",
  );
  equal(hubSettingsFromEnv({ HOME: home, HUGGINGFACE_HUB_CACHE: "/old" }).cacheDir, "/old");
  equal(
    hubSettingsFromEnv({ HOME: home, HF_ENDPOINT: "http://mirror:8080/" }).endpoint,
    "http://mirror:8080",
  );
  equal(hubSettingsFromEnv({ HOME: home, HF_TOKEN: "hf_x" }).token, "hf_x");
  for (const value of ["1", "true", "ON", "yes"]) {
    equal(hubSettingsFromEnv({ HOME: home, HF_HUB_OFFLINE: value }).offline, true, value);
  }
  for (const value of ["0", "false", ""]) {
    equal(hubSettingsFromEnv({ HOME: home, HF_HUB_OFFLINE: value }).offline, false, value);
  }
});

Deno.test("hub settings: the token file huggingface-cli login writes is used when HF_TOKEN is unset", async () => {
  const hfHome = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(hfHome, "token"), "hf_from_file\n");
    equal(hubSettingsFromEnv({ HF_HOME: hfHome }).token, "hf_from_file");
    equal(hubSettingsFromEnv({ HF_HOME: hfHome, HF_TOKEN: "hf_env" }).token, "hf_env");
  } finally {
    await Deno.remove(hfHome, { recursive: true });
  }
});

function recorder(terminal: boolean) {
  const written: string[] = [];
  const out = {
    writeSync: (bytes: Uint8Array) => written.push(new TextDecoder().decode(bytes)),
    isTerminal: () => terminal,
  };
  return { written, sink: consoleProgress(out) };
}

Deno.test("hub progress: a redrawn bar on a terminal, a few plain lines otherwise", () => {
  const total = 2_000_000;
  const steps = [0, 500_000, 1_000_000, 1_500_000];
  const bar = recorder(true);
  for (const done of steps) {
    bar.sink({ file: "w.bin", doneBytes: done, totalBytes: total, finished: false });
  }
  bar.sink({ file: "w.bin", doneBytes: total, totalBytes: total, finished: true });
  ok(bar.written.every((text) => text.startsWith("\r") || text === "\n"));
  match(bar.written.at(-2)!, /w\.bin \[#{30}\] 100% 2\.0 MB\/2\.0 MB$/);
  equal(bar.written.at(-1), "\n");

  const plain = recorder(false);
  for (const done of steps) {
    plain.sink({ file: "w.bin", doneBytes: done, totalBytes: total, finished: false });
  }
  plain.sink({ file: "w.bin", doneBytes: total, totalBytes: total, finished: true });
  // Rapid updates are throttled: the start line and the end line only.
  deepStrictEqual(plain.written, [
    "downloading w.bin (2.0 MB)\n",
    "w.bin: done (2.0 MB/2.0 MB)\n",
  ]);
});
