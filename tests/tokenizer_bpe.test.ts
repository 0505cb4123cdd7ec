import { deepStrictEqual as assertEquals, ok as assert, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import { encode as referenceEncode } from "gpt-tokenizer/encoding/r50k_base";
import {
  BPETokenizer,
  buildCompactTokenizer,
  CompactTokenizer,
  loadBaseTokenizer,
  loadTokenizer,
  TokenizerError,
} from "../lib/tokenizer/mod.ts";

const fakeGpt2 = new URL("./fixtures/hf-saved/fake-gpt2/", import.meta.url).pathname;
const toyDir = new URL("./fixtures/hf-saved/tiny-gpt2-vocab21/", import.meta.url).pathname;
const abstractsDir = new URL("../data/arxiv-cs-abstract-title/", import.meta.url).pathname;

async function abstracts(): Promise<string[]> {
  const texts: string[] = [];
  for (const split of ["train", "validation", "test"]) {
    const lines = (await Deno.readTextFile(join(abstractsDir, `${split}.jsonl`))).split("\n");
    for (const line of lines) if (line.trim()) texts.push(JSON.parse(line).document);
  }
  return texts;
}

/** Seeded random strings over ASCII, Latin, CJK, emoji and whitespace (no lone surrogates). */
function randomTexts(count: number, seed: number): string[] {
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  const ranges = [[0x20, 0x7e], [0xa0, 0x24f], [0x4e00, 0x9fff], [0x1f300, 0x1f64f], [0x9, 0xd], [
    0x600,
    0x6ff,
  ]];
  return Array.from({ length: count }, () => {
    let text = "";
    const length = 1 + Math.floor(random() * 40);
    for (let i = 0; i < length; i++) {
      const [lo, hi] = ranges[Math.floor(random() * ranges.length)];
      text += String.fromCodePoint(lo + Math.floor(random() * (hi - lo + 1)));
    }
    return text;
  });
}

const samples = [
  "Hello world",
  "  leading spaces and trailing   ",
  "I'm sure they'll say it's what we've done, isn't it? They'd",
  "Numbers 1234567 and 3.14159, $100, 50% off!!!",
  "Tabs\tand\nnewlines\n\n\nand\r\nCRLF",
  "Ünïcödé façade naïve — “quotes” and… ellipsis",
  "日本語のテキストと中文字符",
  "emoji 🤖🚀 and flags 🇫🇷 and family 👨‍👩‍👧",
  "{\\it Non-Abelian anyons} $\\mathcal{O}(n^2)$",
];

Deno.test("bpe: 'Hello world' → [15496, 995] from tokenizer.json and from vocab.json + merges.txt", async () => {
  const fromJson = await loadTokenizer(fakeGpt2);
  assertEquals(fromJson.encode("Hello world"), [15496, 995]);
  assertEquals(fromJson.vocabSize, 50257);
  assertEquals(fromJson.eosId, 50256);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(join(fakeGpt2, "vocab.json"), join(dir, "vocab.json"));
    await Deno.copyFile(join(fakeGpt2, "merges.txt"), join(dir, "merges.txt"));
    const fromFiles = await loadTokenizer(dir);
    for (const text of samples) assertEquals(fromFiles.encode(text), fromJson.encode(text), text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bpe: same ids as gpt-tokenizer's GPT-2 encoding on varied text and 300 abstracts", async () => {
  const tokenizer = await loadTokenizer(fakeGpt2);
  const texts = [...samples, ...randomTexts(200, 7), ...(await abstracts()).slice(0, 300)];
  for (const text of texts) {
    assertEquals(tokenizer.encode(text), referenceEncode(text), JSON.stringify(text));
  }
});

Deno.test("bpe: decode(encode(text)) round-trips any UTF-8, and <|endoftext|> is one token", async () => {
  const tokenizer = await loadTokenizer(fakeGpt2);
  for (const text of [...samples, ...randomTexts(300, 11)]) {
    assertEquals(tokenizer.decode(tokenizer.encode(text)), text);
  }
  assertEquals(tokenizer.encode("a<|endoftext|>b"), [64, 50256, 65]);
  assertEquals(tokenizer.decode([64, 50256, 65]), "a<|endoftext|>b");
  throws(() => tokenizer.decode([50257]), TokenizerError);
});

Deno.test("bpe: the toy 21-token vocabulary applies its merges and maps unknown bytes to <unk>", async () => {
  const toy = await loadTokenizer(toyDir);
  assertEquals(toy.vocabSize, 21);
  assertEquals(toy.eosId, 20);
  // merges are only "Ġ l", "Ġl o", "Ġlo w", "e r": whole-word tokens like "Ġnewer" are unreachable
  assertEquals(toy.encode("lower newer"), [0, 1, 2, 15, 10, 9, 3, 2, 15]);
  assertEquals(toy.encode(" lower"), [14, 15]);
  assertEquals(toy.encode("x"), [19]);
});

Deno.test("bpe: a directory without tokenizer files is a TokenizerError naming it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await rejects(
      loadTokenizer(dir),
      (e: Error) => e instanceof TokenizerError && e.message.includes(dir),
    );
    await Deno.writeTextFile(join(dir, "vocab.json"), "{}");
    await Deno.writeTextFile(join(dir, "merges.txt"), "#version: 0.2\na b c\n");
    await rejects(loadTokenizer(dir), /merges.txt: line 2: a merge must be two tokens/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bpe: every one of ~7,800 abstracts encodes and decodes back to itself", async () => {
  // Speed is measured by benchmarks, never here.
  const tokenizer = await loadTokenizer(fakeGpt2);
  const texts = await abstracts();
  assert(texts.length > 7000);
  let tokens = 0;
  for (const text of texts) {
    const ids = tokenizer.encode(text);
    tokens += ids.length;
    assertEquals(tokenizer.decode(ids), text);
  }
  assert(tokens > 1_000_000, `${tokens} tokens`);
});

Deno.test("compact: 256 bytes + eos + K most frequent tokens; rare tokens are split; round-trips", async () => {
  const base = await loadBaseTokenizer(fakeGpt2);
  const corpus = ["the cat sat on the mat", "the dog sat on the log", "the the the cat"];
  const compact = buildCompactTokenizer(base, corpus, 3);
  assertEquals(compact.vocabSize, 256 + 1 + 3);
  assertEquals(compact.eosId, 256);
  // the kept tokens are the most frequent multi-byte base tokens of the corpus
  const counts = new Map<number, number>();
  for (const text of corpus) {
    for (const id of base.encode(text)) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const top = [...counts].filter(([id]) => base.tokenBytes(id).length > 1).sort((a, b) =>
    b[1] - a[1] || a[0] - b[0]
  );
  assertEquals(compact.keptBaseIds, top.slice(0, 3).map(([id]) => id));
  // a word absent from the corpus, with no kept piece, ends as its UTF-8 bytes
  assertEquals(compact.encode("zebra"), [...new TextEncoder().encode("zebra")]);
  assertEquals(compact.encode(" the")[0] >= 257, true);
  assertEquals(compact.encode("<|endoftext|>"), [256]);
  for (const text of [...samples, ...randomTexts(100, 3), ...corpus]) {
    const ids = compact.encode(text);
    assert(ids.every((id) => id >= 0 && id < compact.vocabSize));
    assertEquals(compact.decode(ids), text);
  }
});

Deno.test("compact: saved with the model directory and recognised by loadTokenizer", async () => {
  const base = await loadBaseTokenizer(fakeGpt2);
  const corpus = (await abstracts()).slice(0, 200);
  const compact = buildCompactTokenizer(base, corpus, 500);
  const dir = await Deno.makeTempDir();
  try {
    await compact.save(dir);
    const loaded = await loadTokenizer(dir);
    assert(loaded instanceof CompactTokenizer);
    assertEquals(loaded.vocabSize, 757);
    for (const text of [...corpus.slice(0, 20), ...samples]) {
      assertEquals(loaded.encode(text), compact.encode(text));
    }
    assert(base instanceof BPETokenizer);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compact: a token outside the kept set is split along its BPE merge into kept pieces, not bytes", async () => {
  const base = await loadBaseTokenizer("data/gpt2-tokenizer");
  const [whole] = base.encode(" Hamilton");
  const parents = base.mergeParents(whole);
  assert(parents, "a multi-byte GPT-2 token has merge parents");
  assertEquals(
    parents.map((id) => base.decode([id])).join(""),
    " Hamilton",
    "the parents spell the token",
  );
  const split = new CompactTokenizer(base, parents);
  assertEquals(split.encode(" Hamilton"), [257, 258]);
  assertEquals(split.decode([257, 258]), " Hamilton");
  const spelled = new CompactTokenizer(base, parents, "bytes");
  assertEquals(spelled.encode(" Hamilton"), [...new TextEncoder().encode(" Hamilton")]);
  // with nothing kept, the split bottoms out in bytes and still round-trips
  const nothing = new CompactTokenizer(base, []);
  assertEquals(nothing.encode(" Hamilton"), [...new TextEncoder().encode(" Hamilton")]);
});

Deno.test("compact: a compact_vocab.json without a fallback field keeps its old meaning (bytes)", async () => {
  const base = await loadBaseTokenizer("data/gpt2-tokenizer");
  const [whole] = base.encode(" Hamilton");
  const parents = base.mergeParents(whole)!;
  const kept = parents.map((id) => base.tokenString(id));
  const old = CompactTokenizer.fromJson(
    base,
    { format: "peftlab-compact-vocab/1", kept },
    "x.json",
  );
  assertEquals(old.fallback, "bytes");
  assertEquals(old.encode(" Hamilton").length, " Hamilton".length);
  const current = CompactTokenizer.fromJson(
    base,
    { format: "peftlab-compact-vocab/1", fallback: "merges", kept },
    "x.json",
  );
  assertEquals(current.encode(" Hamilton"), [257, 258]);
  throws(
    () =>
      CompactTokenizer.fromJson(
        base,
        { format: "peftlab-compact-vocab/1", fallback: "letters", kept },
        "x.json",
      ),
    /x\.json.*fallback must be/,
  );
});
