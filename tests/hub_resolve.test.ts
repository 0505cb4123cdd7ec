import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import {
  HubError,
  type HubSettings,
  repoFolderName,
  resolveModel,
  type ResolveOptions,
  resolveRevision,
} from "../lib/hub/mod.ts";
import { etagKind, fileDigest } from "../lib/hub/verify.ts";
import {
  fakeCommit,
  FakeHub,
  type FakeRepo,
  gitBlobSha1,
  readFixtureFiles,
  sha256Hex,
} from "./hub_server.ts";

const TINY_DIR = new URL("./fixtures/tiny-gpt2/", import.meta.url).pathname;
const FAKE_GPT2_DIR = new URL("./fixtures/hf-saved/fake-gpt2/", import.meta.url).pathname;
const REPO = "peftlab-test/tiny-gpt2";
const MAIN = fakeCommit("tiny main");
const V2 = fakeCommit("tiny v2");

const tinyFiles = await readFixtureFiles(TINY_DIR, ["config.json", "model.safetensors"]);
const fakeGpt2Files = await readFixtureFiles(FAKE_GPT2_DIR, [
  "config.json",
  "model.safetensors",
  "tokenizer.json",
  "vocab.json",
  "merges.txt",
]);

function tinyRepo(): Record<string, FakeRepo> {
  return {
    [REPO]: { commits: { [MAIN]: { ...tinyFiles } }, refs: { main: MAIN } },
    "peftlab-test/fake-gpt2": {
      commits: { [fakeCommit("fake")]: { ...fakeGpt2Files } },
      refs: { main: fakeCommit("fake") },
    },
  };
}

/** Runs `body` with a fake Hub and an empty cache; stops the Hub and removes the cache after. */
async function withHub(
  repos: ReturnType<typeof tinyRepo>,
  body: (hub: FakeHub, options: (extra?: Partial<HubSettings>) => ResolveOptions) => Promise<void>,
): Promise<void> {
  const hub = FakeHub.start(repos);
  const cacheDir = await Deno.makeTempDir({ prefix: "peftlab-hub-cache-" });
  const options = (extra: Partial<HubSettings> = {}): ResolveOptions => ({
    settings: { endpoint: hub.endpoint, cacheDir, offline: false, ...extra },
    progress: false,
    warn: () => {},
  });
  try {
    await body(hub, options);
  } finally {
    await hub.stop().catch(() => {});
    await Deno.remove(cacheDir, { recursive: true });
  }
}

async function hubErrorOf(promise: Promise<unknown>): Promise<HubError> {
  try {
    await promise;
  } catch (error) {
    ok(error instanceof HubError, `expected HubError, got ${error}`);
    return error;
  }
  throw new Error("expected a HubError, but resolving succeeded");
}

Deno.test("hub: hf:org/name lands in the Hub cache layout (blobs by ETag, refs, relative snapshot links)", async () => {
  await withHub(tinyRepo(), async (_hub, options) => {
    const resolved = await resolveModel(`hf:${REPO}`, options());
    const cacheDir = options().settings!.cacheDir;
    const root = join(cacheDir, "models--peftlab-test--tiny-gpt2");
    equal(resolved.commit, MAIN);
    equal(resolved.dir, join(root, "snapshots", MAIN));
    deepStrictEqual(resolved.files, ["config.json", "model.safetensors"]);
    equal(resolved.source, "hub");
    equal(await Deno.readTextFile(join(root, "refs", "main")), MAIN);
    const etags = {
      "config.json": gitBlobSha1(tinyFiles["config.json"]),
      "model.safetensors": sha256Hex(tinyFiles["model.safetensors"]),
    };
    for (const [file, etag] of Object.entries(etags)) {
      const pointer = join(resolved.dir, file);
      equal(await Deno.readLink(pointer), `../../blobs/${etag}`);
      deepStrictEqual(await Deno.readFile(pointer), tinyFiles[file]);
    }
    // Missing optional files are remembered the way huggingface_hub does.
    for (const file of ["tokenizer.json", "vocab.json", "merges.txt"]) {
      ok((await Deno.stat(join(root, ".no_exist", MAIN, file))).isFile, file);
    }
    const blobs = [...Deno.readDirSync(join(root, "blobs"))].map((e) => e.name).sort();
    deepStrictEqual(blobs, Object.values(etags).sort());
    ok((await Deno.stat(join(cacheDir, ".locks", repoFolderName(REPO)))).isDirectory);
  });
});

Deno.test("hub: tokenizer.json, vocab.json and merges.txt come along when the repository has them", async () => {
  await withHub(tinyRepo(), async (_hub, options) => {
    const resolved = await resolveModel("hf:peftlab-test/fake-gpt2", options());
    deepStrictEqual(resolved.files, [
      "config.json",
      "merges.txt",
      "model.safetensors",
      "tokenizer.json",
      "vocab.json",
    ]);
    deepStrictEqual(
      await Deno.readFile(join(resolved.dir, "merges.txt")),
      fakeGpt2Files["merges.txt"],
    );
  });
});

Deno.test("hub: the token goes to the Hub, never to the LFS redirect target", async () => {
  const repos = tinyRepo();
  await withHub({ [REPO]: { ...repos[REPO], token: "hf_secret" } }, async (hub, options) => {
    const refused = await hubErrorOf(resolveModel(`hf:${REPO}`, options()));
    equal(refused.kind, "repo-not-found");
    match(refused.message, /set HF_TOKEN/);
    await resolveModel(`hf:${REPO}`, options({ token: "hf_secret" }));
    const weights = hub.requestsFor("model.safetensors").filter((r) => r.server === "hub");
    ok(weights.length > 0 && weights.every((r) => r.authorization === "Bearer hf_secret"));
    const cdn = hub.requests.filter((r) => r.server === "cdn");
    equal(cdn.length, 1);
    equal(cdn[0].method, "GET");
    equal(cdn[0].authorization, null);
  });
});

Deno.test("hub: a connection dropped mid-file is resumed with Range and the file verified", async () => {
  await withHub(tinyRepo(), async (hub, options) => {
    const size = tinyFiles["model.safetensors"].length;
    hub.dropAfterBytes.set("model.safetensors", 100_000);
    const resolved = await resolveModel(`hf:${REPO}`, options());
    const gets = hub.requests.filter((r) => r.server === "cdn");
    deepStrictEqual(gets.map((r) => r.range), [null, "bytes=100000-"]);
    deepStrictEqual(
      await Deno.readFile(join(resolved.dir, "model.safetensors")),
      tinyFiles["model.safetensors"],
    );
    ok(size > 100_000);
  });
});

Deno.test("hub: a download interrupted in an earlier run resumes from its .incomplete file", async () => {
  await withHub(tinyRepo(), async (hub, options) => {
    const weights = tinyFiles["model.safetensors"];
    const blobs = join(options().settings!.cacheDir, repoFolderName(REPO), "blobs");
    await Deno.mkdir(blobs, { recursive: true });
    await Deno.writeFile(join(blobs, `${sha256Hex(weights)}.incomplete`), weights.slice(0, 4096));
    const resolved = await resolveModel(`hf:${REPO}`, options());
    deepStrictEqual(hub.requests.filter((r) => r.server === "cdn").map((r) => r.range), [
      "bytes=4096-",
    ]);
    deepStrictEqual(await Deno.readFile(join(resolved.dir, "model.safetensors")), weights);
  });
});

Deno.test("hub: content that does not match the ETag is refused, not cached, and fetched again next time", async () => {
  await withHub(tinyRepo(), async (hub, options) => {
    for (const file of ["config.json", "model.safetensors"]) {
      hub.corruptOnce.add(file);
      const error = await hubErrorOf(resolveModel(`hf:${REPO}`, options()));
      equal(error.kind, "integrity");
      equal(error.file, file);
      match(error.message, new RegExp(`^hf:${REPO}: ${file}: downloaded content has`));
      const blobs = join(options().settings!.cacheDir, repoFolderName(REPO), "blobs");
      const names = [...Deno.readDirSync(blobs)].map((e) => e.name);
      ok(names.every((name) => !name.endsWith(".incomplete")), names.join());
    }
    const resolved = await resolveModel(`hf:${REPO}`, options());
    deepStrictEqual(
      await Deno.readFile(join(resolved.dir, "config.json")),
      tinyFiles["config.json"],
    );
  });
});

Deno.test("hub: an unknown repository, revision or weights file is one error naming the reference", async () => {
  await withHub(tinyRepo(), async (_hub, options) => {
    const unknown = await hubErrorOf(resolveModel("hf:peftlab-test/no-such-model", options()));
    equal(unknown.kind, "repo-not-found");
    equal(unknown.isConfigurationError, true);
    match(unknown.message, /^hf:peftlab-test\/no-such-model: no model repository/);
    ok(!unknown.message.includes("\n"));
    const revision = await hubErrorOf(resolveModel(`hf:${REPO}@v9`, options()));
    equal(revision.kind, "revision-not-found");
    match(revision.message, /^hf:peftlab-test\/tiny-gpt2@v9: .*no revision "v9"/);
  });
  const noWeights = tinyRepo();
  delete noWeights[REPO].commits[MAIN]["model.safetensors"];
  await withHub(noWeights, async (_hub, options) => {
    const missing = await hubErrorOf(resolveModel(`hf:${REPO}`, options()));
    equal(missing.kind, "file-not-found");
    match(missing.message, /model\.safetensors: not in the repository/);
  });
});

Deno.test("hub: HF_HUB_OFFLINE resolves a cached revision through refs/ with the Hub stopped", async () => {
  await withHub(tinyRepo(), async (hub, options) => {
    const online = await resolveModel(`hf:${REPO}`, options());
    await hub.stop();
    const offline = await resolveModel(`hf:${REPO}`, options({ offline: true }));
    deepStrictEqual({ ...offline, source: "hub" }, online);
    equal(offline.source, "cache");
    const pinned = await resolveModel(`hf:${REPO}@${MAIN}`, options({ offline: true }));
    equal(pinned.dir, online.dir);
    const uncached = await hubErrorOf(resolveModel(`hf:${REPO}@v2`, options({ offline: true })));
    equal(uncached.kind, "not-cached");
    match(uncached.message, /HF_HUB_OFFLINE is set/);
  });
});

Deno.test("hub: an unreachable Hub falls back to the cached revision, with a warning", async () => {
  await withHub(tinyRepo(), async (hub, options) => {
    const online = await resolveModel(`hf:${REPO}`, options());
    await hub.stop();
    const warnings: string[] = [];
    const fallback = await resolveModel(`hf:${REPO}`, {
      ...options(),
      warn: (w) => warnings.push(w),
    });
    equal(fallback.commit, online.commit);
    equal(warnings.length, 1);
    match(warnings[0], /cannot reach .*using the cached commit/);
    const never = await hubErrorOf(resolveModel("hf:peftlab-test/fake-gpt2", options()));
    equal(never.kind, "network");
    equal(never.isConfigurationError, false);
  });
});

Deno.test("hub: a moved branch gets a new snapshot, and unchanged blobs are not downloaded again", async () => {
  const repos = tinyRepo();
  const config = JSON.parse(new TextDecoder().decode(tinyFiles["config.json"]));
  const changedConfig = new TextEncoder().encode(JSON.stringify({ ...config, note: "v2" }));
  repos[REPO].commits[V2] = { ...tinyFiles, "config.json": changedConfig };
  await withHub(repos, async (hub, options) => {
    const first = await resolveModel(`hf:${REPO}`, options());
    repos[REPO].refs.main = V2;
    const requestsBefore = hub.requests.length;
    const second = await resolveModel(`hf:${REPO}`, options());
    equal(second.commit, V2);
    ok(second.dir !== first.dir);
    equal(
      await Deno.readTextFile(
        join(options().settings!.cacheDir, repoFolderName(REPO), "refs", "main"),
      ),
      V2,
    );
    deepStrictEqual(await Deno.readFile(join(second.dir, "config.json")), changedConfig);
    const later = hub.requests.slice(requestsBefore);
    equal(later.filter((r) => r.method === "GET" && r.path.endsWith("safetensors")).length, 0);
    equal(later.filter((r) => r.server === "cdn").length, 0);
    // The old snapshot still serves a pinned commit.
    deepStrictEqual(await Deno.readFile(join(first.dir, "config.json")), tinyFiles["config.json"]);
  });
});

Deno.test("hub: a commit-hash revision that is cached needs no request at all", async () => {
  await withHub(tinyRepo(), async (hub, options) => {
    await resolveModel(`hf:${REPO}`, options());
    const count = hub.requests.length;
    const pinned = await resolveModel(`hf:${REPO}@${MAIN}`, options());
    equal(pinned.commit, MAIN);
    equal(hub.requests.length, count);
  });
});

Deno.test("hub: a cache written by huggingface_hub (Python) is used as it is, offline", async () => {
  // The layout huggingface_hub's hf_hub_download writes, built by hand.
  const cacheDir = await Deno.makeTempDir({ prefix: "peftlab-hub-python-" });
  try {
    const root = join(cacheDir, "models--openai-community--gpt2");
    const commit = fakeCommit("python");
    await Deno.mkdir(join(root, "blobs"), { recursive: true });
    await Deno.mkdir(join(root, "refs"));
    await Deno.mkdir(join(root, "snapshots", commit), { recursive: true });
    await Deno.writeTextFile(join(root, "refs", "main"), commit);
    for (const [file, bytes] of Object.entries(tinyFiles)) {
      const etag = file.endsWith(".safetensors") ? sha256Hex(bytes) : gitBlobSha1(bytes);
      await Deno.writeFile(join(root, "blobs", etag), bytes);
      await Deno.symlink(`../../blobs/${etag}`, join(root, "snapshots", commit, file));
    }
    const resolved = await resolveModel("hf:openai-community/gpt2", {
      settings: { endpoint: "http://127.0.0.1:9", cacheDir, offline: true },
      progress: false,
    });
    equal(resolved.commit, commit);
    deepStrictEqual(resolved.files, ["config.json", "model.safetensors"]);
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("hub: the ETag of a file kept in git is git's own blob id (git hash-object)", async () => {
  const path = join(TINY_DIR, "config.json");
  const git = await new Deno.Command("git", { args: ["hash-object", path], stdout: "piped" })
    .output();
  equal(git.code, 0);
  const gitId = new TextDecoder().decode(git.stdout).trim();
  equal(gitBlobSha1(tinyFiles["config.json"]), gitId);
  // The client accepts exactly that id: the layout test above downloads config.json under it.
  equal(await fileDigest(path, etagKind(gitId)), gitId);
  equal(
    await fileDigest(path, etagKind(sha256Hex(tinyFiles["config.json"]))),
    sha256Hex(tinyFiles["config.json"]),
  );
});

Deno.test("hub: resolveRevision names the commit a branch points at with one request, downloading nothing", async () => {
  const repos = tinyRepo();
  repos[REPO].commits[V2] = { ...tinyFiles };
  await withHub(repos, async (hub, options) => {
    const first = await resolveRevision(`hf:${REPO}`, options());
    deepStrictEqual(first, { commit: MAIN, source: "hub" });
    deepStrictEqual(hub.requests.map((r) => `${r.method} ${r.path}`), [
      `HEAD /${REPO}/resolve/main/config.json`,
    ]);
    const root = join(options().settings!.cacheDir, repoFolderName(REPO));
    equal(await Deno.stat(root).then(() => true, () => false), false, "nothing cached");
    await resolveModel(`hf:${REPO}`, options());
    repos[REPO].refs.main = V2;
    equal((await resolveRevision(`hf:${REPO}`, options())).commit, V2);
    // Offline, the cache's refs/ answer (still the commit it last downloaded).
    deepStrictEqual(await resolveRevision(`hf:${REPO}`, options({ offline: true })), {
      commit: MAIN,
      source: "cache",
    });
    const never = await hubErrorOf(resolveRevision(`hf:${REPO}@v3`, options({ offline: true })));
    equal(never.kind, "not-cached");
  });
});
