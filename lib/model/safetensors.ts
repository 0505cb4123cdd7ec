/**
 * Reader and writer of the safetensors format: 8-byte little-endian header length N, N bytes of
 * JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the raw
 * little-endian tensor bytes (offsets relative to the end of the header).
 *
 * The reader checks everything it is told before allocating: a bad file gives one CheckpointError
 * naming the file and the problem, never a crash or an allocation larger than the file.
 *
 * @module
 */

/** A checkpoint or tensor file that cannot be used; the message names the file and the problem. */
export class CheckpointError extends Error {
  /** Path or name of the offending file. */
  readonly file: string;
  /** What is wrong, in words. */
  readonly problem: string;
  /** Creates the error; the message is `<file>: <problem>`. */
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = "CheckpointError";
    this.file = file;
    this.problem = problem;
  }
}

/** One tensor read from a safetensors file, converted to float32. */
export interface LoadedTensor {
  /** The dtype stored in the file (F32, F16 or BF16). */
  dtype: string;
  /** Shape as stored. */
  shape: number[];
  /** Values as float32, row-major. */
  data: Float32Array;
}

/** A tensor to write: shape and float32 values. */
export interface TensorToWrite {
  /** Shape of the tensor. */
  shape: number[];
  /** Values, row-major; length must equal the product of the shape. */
  data: Float32Array;
}

/** Options of `readSafetensors`. */
export interface ReadOptions {
  /** Entries for which this returns true are checked for layout but not decoded (any dtype allowed). */
  skip?: (name: string) => boolean;
}

/** Bytes per element of the dtypes that load (all converted to float32). */
const loadableDtypes: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };
/** Bytes per element of every dtype the format defines, to check the layout of skipped entries. */
const knownDtypeBytes: Record<string, number> = {
  ...loadableDtypes,
  F64: 8,
  I64: 8,
  U64: 8,
  I32: 4,
  U32: 4,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};
/** Largest header accepted (the reference implementation's limit). */
const maxHeaderBytes = 100_000_000;

/**
 * Parses safetensors bytes into float32 tensors by name (`__metadata__` excluded; see
 * `readSafetensorsMetadata`). Throws CheckpointError naming `fileName` when the file is truncated,
 * the header length exceeds the file, the header is not a JSON object of valid entries, a dtype is
 * not F32/F16/BF16, a shape disagrees with its byte count, or offsets overlap or leave the data.
 */
export function readSafetensors(
  bytes: Uint8Array,
  fileName: string,
  opts: ReadOptions = {},
): Map<string, LoadedTensor> {
  const { header, dataStart } = parseHeader(bytes, fileName);
  const dataLength = bytes.length - dataStart;
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] =
    [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    entries.push({ name, ...checkEntry(name, raw, dataLength, fileName) });
  }
  const byStart = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byStart.length; i++) {
    const before = byStart[i - 1];
    const after = byStart[i];
    if (after.begin < before.end) {
      throw new CheckpointError(
        fileName,
        `tensors "${before.name}" [${before.begin}, ${before.end}) and "${after.name}" [${after.begin}, ${after.end}) overlap`,
      );
    }
  }
  const tensors = new Map<string, LoadedTensor>();
  for (const entry of entries) {
    if (opts.skip?.(entry.name)) continue;
    if (!(entry.dtype in loadableDtypes)) {
      throw new CheckpointError(
        fileName,
        `tensor "${entry.name}" has dtype ${entry.dtype}; only F32, F16 and BF16 load`,
      );
    }
    const raw = bytes.subarray(dataStart + entry.begin, dataStart + entry.end);
    tensors.set(entry.name, {
      dtype: entry.dtype,
      shape: entry.shape,
      data: toFloat32(raw, entry.dtype),
    });
  }
  return tensors;
}

/** The `__metadata__` map of safetensors bytes ({} when absent); throws CheckpointError like `readSafetensors`. */
export function readSafetensorsMetadata(
  bytes: Uint8Array,
  fileName: string,
): Record<string, string> {
  const { header } = parseHeader(bytes, fileName);
  return (header.__metadata__ ?? {}) as Record<string, string>;
}

/**
 * Serialises float32 tensors (stored as F32, in the map's order) with optional string metadata,
 * e.g. `{format: "pt"}` for PyTorch loaders. Throws RangeError when a tensor's data length does not
 * match its shape.
 */
export function writeSafetensors(
  tensors: Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, { shape, data }] of tensors) {
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== data.length) {
      throw new RangeError(
        `tensor "${name}": shape [${shape}] needs ${count} values, got ${data.length}`,
      );
    }
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  let headerText = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  headerText += " ".repeat((8 - (new TextEncoder().encode(headerText).length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const { data } of tensors.values()) {
    const le = littleEndianBytes(data);
    out.set(le, at);
    at += le.length;
  }
  return out;
}

function parseHeader(
  bytes: Uint8Array,
  fileName: string,
): { header: Record<string, unknown>; dataStart: number } {
  if (bytes.length < 8) {
    throw new CheckpointError(
      fileName,
      `truncated: ${bytes.length} bytes, shorter than the 8-byte header length`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    throw new CheckpointError(
      fileName,
      `header length ${headerLength} exceeds the ${
        bytes.length - 8
      } bytes after it (truncated or not safetensors)`,
    );
  }
  const n = Number(headerLength);
  if (n > maxHeaderBytes) {
    throw new CheckpointError(
      fileName,
      `header of ${n} bytes exceeds the ${maxHeaderBytes}-byte limit`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw new CheckpointError(fileName, "header is not valid UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(fileName, `header is not JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new CheckpointError(fileName, "header is not a JSON object");
  }
  const metadata = (header as Record<string, unknown>).__metadata__;
  if (metadata !== undefined) {
    const ok = typeof metadata === "object" && metadata !== null && !Array.isArray(metadata) &&
      Object.values(metadata).every((v) => typeof v === "string");
    if (!ok) throw new CheckpointError(fileName, "__metadata__ is not an object of strings");
  }
  return { header: header as Record<string, unknown>, dataStart: 8 + n };
}

function checkEntry(
  name: string,
  raw: unknown,
  dataLength: number,
  fileName: string,
): { dtype: string; shape: number[]; begin: number; end: number } {
  const fail = (problem: string) => new CheckpointError(fileName, `tensor "${name}" ${problem}`);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw fail("entry is not an object with dtype, shape and data_offsets");
  }
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== "string") throw fail("has no dtype string");
  if (!(dtype in knownDtypeBytes)) {
    throw fail(`has unsupported dtype ${JSON.stringify(dtype)}; only F32, F16 and BF16 load`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw fail(`has an invalid shape ${JSON.stringify(shape)} (need non-negative integers)`);
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
  ) {
    throw fail(`has invalid data_offsets ${JSON.stringify(offsets)} (need [begin, end])`);
  }
  const [begin, end] = offsets as number[];
  if (begin > end) throw fail(`has data_offsets [${begin}, ${end}] with begin after end`);
  if (end > dataLength) {
    throw fail(
      `has data_offsets [${begin}, ${end}] outside the ${dataLength}-byte data section (file truncated?)`,
    );
  }
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  const expectedBytes = count * knownDtypeBytes[dtype];
  if (expectedBytes !== end - begin) {
    throw fail(
      `shape [${shape}] of ${dtype} needs ${expectedBytes} bytes but data_offsets give ${
        end - begin
      }`,
    );
  }
  return { dtype, shape: shape as number[], begin, end };
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function toFloat32(raw: Uint8Array, dtype: string): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (dtype === "F32") {
    if (littleEndianHost) return new Float32Array(raw.slice().buffer);
    const out = new Float32Array(raw.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }
  const out = new Float32Array(raw.length / 2);
  if (dtype === "BF16") {
    // bfloat16 is the top half of a float32
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < out.length; i++) bits[i] = view.getUint16(2 * i, true) << 16;
    return out;
  }
  for (let i = 0; i < out.length; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  return out;
}

/** IEEE 754 half precision bits → number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

function littleEndianBytes(data: Float32Array): Uint8Array {
  if (littleEndianHost) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], true);
  return out;
}
