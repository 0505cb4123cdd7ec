import { deepStrictEqual as assertEquals, ok as assert, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import {
  CheckpointError,
  loadCheckpoint,
  readSafetensors,
  readSafetensorsMetadata,
  writeSafetensors,
} from "../lib/model/mod.ts";

const fixtureDir = new URL("./fixtures/tiny-gpt2/", import.meta.url).pathname;

/** A safetensors file from a header object and a data section, both as given (no checks). */
function rawFile(
  header: unknown,
  data: Uint8Array = new Uint8Array(0),
  headerText?: string,
): Uint8Array {
  const headerBytes = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + headerBytes.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.length);
  return out;
}

const f32 = (...values: number[]) => new Uint8Array(new Float32Array(values).buffer);
const good = () => rawFile({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, f32(1, 2));

const malformed: { what: string; bytes: () => Uint8Array; message: RegExp }[] = [
  { what: "empty file", bytes: () => new Uint8Array(0), message: /truncated: 0 bytes/ },
  {
    what: "truncated inside the length",
    bytes: () => good().slice(0, 5),
    message: /truncated: 5 bytes/,
  },
  {
    what: "header length beyond the file",
    bytes: () => good().slice(0, 20),
    message: /header length \d+ exceeds the 12 bytes after it/,
  },
  {
    what: "absurd header length (no allocation)",
    bytes: () => {
      const b = good();
      new DataView(b.buffer).setBigUint64(0, 2n ** 62n, true);
      return b;
    },
    message: /header length 4611686018427387904 exceeds/,
  },
  {
    what: "header not JSON",
    bytes: () => rawFile(null, f32(1), "{not json}"),
    message: /header is not JSON/,
  },
  {
    what: "header not UTF-8",
    bytes: () => {
      const b = rawFile(null, f32(1), '{"a":1}');
      b[10] = 0xff;
      return b;
    },
    message: /header is not valid UTF-8/,
  },
  {
    what: "header a JSON array",
    bytes: () => rawFile([1, 2]),
    message: /header is not a JSON object/,
  },
  {
    what: "entry not an object",
    bytes: () => rawFile({ a: 3 }),
    message: /tensor "a" entry is not an object/,
  },
  {
    what: "unknown dtype",
    bytes: () => rawFile({ a: { dtype: "Q4", shape: [2], data_offsets: [0, 8] } }, f32(1, 2)),
    message: /tensor "a" has unsupported dtype "Q4"/,
  },
  {
    what: "integer dtype",
    bytes: () => rawFile({ a: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, f32(1, 2)),
    message: /tensor "a" has dtype I64; only F32, F16 and BF16 load/,
  },
  {
    what: "negative shape",
    bytes: () => rawFile({ a: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }, f32(1, 2)),
    message: /tensor "a" has an invalid shape \[-2\]/,
  },
  {
    what: "missing data_offsets",
    bytes: () => rawFile({ a: { dtype: "F32", shape: [2] } }, f32(1, 2)),
    message: /tensor "a" has invalid data_offsets undefined/,
  },
  {
    what: "offsets reversed",
    bytes: () => rawFile({ a: { dtype: "F32", shape: [0], data_offsets: [8, 0] } }, f32(1, 2)),
    message: /begin after end/,
  },
  {
    what: "offsets beyond the data",
    bytes: () => rawFile({ a: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, f32(1, 2)),
    message: /data_offsets \[0, 16\] outside the 8-byte data section/,
  },
  {
    what: "shape / byte count mismatch",
    bytes: () => rawFile({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, f32(1, 2)),
    message: /shape \[3\] of F32 needs 12 bytes but data_offsets give 8/,
  },
  {
    what: "huge shape claim (no allocation)",
    bytes: () =>
      rawFile({ a: { dtype: "F32", shape: [1e6, 1e6], data_offsets: [0, 8] } }, f32(1, 2)),
    message: /needs 4000000000000 bytes but data_offsets give 8/,
  },
  {
    what: "overlapping tensors",
    bytes: () =>
      rawFile({
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
      }, f32(1, 2, 3)),
    message: /tensors "a" \[0, 8\) and "b" \[4, 12\) overlap/,
  },
  {
    what: "metadata not strings",
    bytes: () => rawFile({ __metadata__: { format: 1 } }),
    message: /__metadata__ is not an object of strings/,
  },
];

Deno.test(`safetensors: ${malformed.length} malformed files are each rejected with their own message`, () => {
  const messages = new Set<string>();
  for (const { what, bytes, message } of malformed) {
    let caught: unknown;
    try {
      readSafetensors(bytes(), `bad/${what}.safetensors`);
    } catch (e) {
      caught = e;
    }
    assert(caught instanceof CheckpointError, `${what}: expected a CheckpointError, got ${caught}`);
    assert(caught.message.startsWith(`bad/${what}.safetensors: `), `${what}: ${caught.message}`);
    assert(message.test(caught.message), `${what}: ${caught.message}`);
    messages.add(caught.problem);
  }
  assertEquals(messages.size, malformed.length);
  assert(malformed.length >= 10);
});

Deno.test("safetensors: F16 and BF16 load as float32; F32 round-trips through the writer with metadata", () => {
  const f16 = new Uint16Array([0x3c00, 0xc100, 0x7bff, 0x0001, 0x8000, 0x3555]); // 1, -2.5, 65504, 2^-24, -0, ≈1/3
  const bf16 = new Uint16Array([0x3f80, 0xc020, 0x4049]); // 1, -2.5, 3.140625
  const data = new Uint8Array(f16.byteLength + bf16.byteLength);
  data.set(new Uint8Array(f16.buffer), 0);
  data.set(new Uint8Array(bf16.buffer), f16.byteLength);
  const tensors = readSafetensors(
    rawFile({
      half: { dtype: "F16", shape: [2, 3], data_offsets: [0, 12] },
      brain: { dtype: "BF16", shape: [3], data_offsets: [12, 18] },
    }, data),
    "mixed",
  );
  assertEquals(Array.from(tensors.get("half")!.data), [
    1,
    -2.5,
    65504,
    2 ** -24,
    -0,
    0.333251953125,
  ]);
  assertEquals(tensors.get("half")!.shape, [2, 3]);
  assertEquals(Array.from(tensors.get("brain")!.data), [1, -2.5, 3.140625]);

  const written = writeSafetensors(
    new Map([["x", { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }], ["y", {
      shape: [],
      data: new Float32Array([5]),
    }]]),
    { format: "pt" },
  );
  assertEquals(new DataView(written.buffer).getBigUint64(0, true) % 8n, 0n);
  const back = readSafetensors(written, "written");
  assertEquals(back.get("x"), {
    dtype: "F32",
    shape: [2, 2],
    data: new Float32Array([1, 2, 3, 4]),
  });
  assertEquals(back.get("y")!.data, new Float32Array([5]));
  assertEquals(readSafetensorsMetadata(written, "written"), { format: "pt" });
  throws(
    () => writeSafetensors(new Map([["z", { shape: [3], data: new Float32Array(2) }]])),
    RangeError,
  );
});

/** A checkpoint directory with the fixture's config.json and the given tensors (or raw bytes). */
async function checkpointWith(
  change: (tensors: Map<string, { shape: number[]; data: Float32Array }>) => void,
  config?: (json: Record<string, unknown>) => void,
): Promise<string> {
  const tensors = readSafetensors(
    await Deno.readFile(join(fixtureDir, "model.safetensors")),
    "fixture",
  );
  const editable = new Map([...tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
  change(editable);
  const dir = await Deno.makeTempDir();
  const json = JSON.parse(await Deno.readTextFile(join(fixtureDir, "config.json")));
  config?.(json);
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(json));
  await Deno.writeFile(join(dir, "model.safetensors"), writeSafetensors(editable));
  return dir;
}

Deno.test("checkpoint: missing, unexpected and mis-shaped weights and a bad config are CheckpointErrors", async () => {
  const cases: [string, Promise<string>, RegExp][] = [
    [
      "missing key",
      checkpointWith((t) => t.delete("h.1.mlp.c_fc.bias")),
      /model.safetensors: missing 1 weight\(s\): h.1.mlp.c_fc.bias/,
    ],
    [
      "unexpected key",
      checkpointWith((t) => t.set("h.2.ln_1.weight", { shape: [64], data: new Float32Array(64) })),
      /unexpected key "h.2.ln_1.weight" for a GPT-2 with n_layer 2/,
    ],
    [
      "shape not matching the config",
      checkpointWith(() => {}, (json) => (json.n_embd = 32)),
      /"[\w.]+" has shape \[[\d,]+\] but config.json implies \[[\d,]+\]/,
    ],
    [
      "both prefixed and unprefixed",
      checkpointWith((t) => t.set("transformer.ln_f.bias", t.get("ln_f.bias")!)),
      /key "ln_f.bias" appears with and without the transformer. prefix/,
    ],
    [
      "config field invalid",
      checkpointWith(() => {}, (json) => (json.n_head = 0)),
      /config.json: "n_head" must be a positive integer, got 0/,
    ],
    [
      "unsupported activation",
      checkpointWith(() => {}, (json) => (json.activation_function = "swish")),
      /activation_function "swish" is not one of/,
    ],
  ];
  for (const [what, dirPromise, message] of cases) {
    const dir = await dirPromise;
    try {
      await rejects(
        loadCheckpoint(dir),
        (e: Error) => e instanceof CheckpointError && message.test(e.message),
        what,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  await rejects(loadCheckpoint("/nonexistent/peftlab"), /config.json: cannot read/);
  const torchOnly = await Deno.makeTempDir();
  try {
    await Deno.copyFile(join(fixtureDir, "config.json"), join(torchOnly, "config.json"));
    await Deno.writeFile(join(torchOnly, "pytorch_model.bin"), new Uint8Array(16));
    await rejects(
      loadCheckpoint(torchOnly),
      /model.safetensors: missing; only pytorch_model.bin is there/,
    );
  } finally {
    await Deno.remove(torchOnly, { recursive: true });
  }
});
