// Reader and writer for the safetensors format (https://github.com/huggingface/safetensors):
//   u64 little-endian N | N bytes of UTF-8 JSON header (starts with '{', right-padded with spaces)
//   | byte buffer holding every tensor's little-endian, row-major data back to back.
// Invariants kept by the writer and checked by the reader:
//   - data_offsets are relative to the start of the byte buffer, contiguous, start at 0 and end
//     exactly at the end of the file (no holes, no trailing bytes), and end-begin = numel*itemsize;
//   - `__metadata__` is an optional string-to-string map; tensor names are unique;
//   - the writer pads the header so the byte buffer starts 8-byte aligned, and orders tensors by
//     descending item size, so every tensor is naturally aligned for zero-copy readers.
// Files are written and read tensor by tensor through a file handle, so a checkpoint of 100+
// tensors of tens of MB never needs a second whole-file copy in memory.
// Half precision: F16 (IEEE binary16) and BF16 (bfloat16, the upper half of an F32, as Hugging Face
// checkpoints ship) are widened to Float32Array on reading (exact: every half value is an F32).
// Writing takes their raw 16-bit patterns in a Uint16Array with an explicit dtype (Node 20 has no
// Float16Array), so tests can write the files real models come in.

import { open, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { UserError } from '../../base/errors.ts';

export type Dtype = 'F32' | 'F16' | 'BF16' | 'I32' | 'U32' | 'U16';
/** Every dtype is writable; F16 and BF16 from their raw bit patterns in a Uint16Array. */
export type WritableDtype = Dtype;
/** Half-precision dtypes: stored as 16-bit patterns, read back widened to Float32Array. */
const HALF: ReadonlySet<Dtype> = new Set(['F16', 'BF16']);
export type TensorData = Float32Array | Int32Array | Uint32Array | Uint16Array;

export interface TensorToWrite {
  shape: readonly number[];
  data: TensorData;
  /** Defaults to the dtype implied by the typed array (Float32Array → F32, ...); F16 / BF16 need a Uint16Array of bit patterns. */
  dtype?: WritableDtype;
}

export interface LoadedTensor {
  /** The dtype stored in the file. F16 and BF16 data are widened to a Float32Array. */
  dtype: Dtype;
  shape: number[];
  data: TensorData;
}

export interface TensorHeaderEntry {
  dtype: Dtype;
  shape: number[];
  /** Byte range inside the byte buffer (relative to its start). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** In byte-buffer order. */
  tensors: Map<string, TensorHeaderEntry>;
  metadata: Record<string, string>;
  /** Absolute file offset where the byte buffer starts (8 + header length). */
  dataStart: number;
}

/** A file that does not follow the format; the message names the file. */
export class SafetensorsFormatError extends UserError {
  constructor(source: string, detail: string) {
    super(`${source}: not a valid safetensors file: ${detail}`);
    this.name = 'SafetensorsFormatError';
  }
}

const ITEM_SIZE: Record<Dtype, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, U32: 4, U16: 2 };
const METADATA_KEY = '__metadata__';
/** The reference implementation refuses larger headers; a huge N means a corrupt length. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const HEADER_ALIGNMENT = 8;
const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

export function itemSize(dtype: Dtype): number {
  return ITEM_SIZE[dtype];
}

function dtypeOfArray(data: TensorData): WritableDtype {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Uint32Array) return 'U32';
  return 'U16';
}

function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Bytes of a typed array in little-endian order (a view on LE hosts, a swapped copy otherwise). */
function littleEndianBytes(data: TensorData): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_IS_LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1) return view;
  const out = new Uint8Array(view.length);
  const w = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < view.length; i += w) for (let j = 0; j < w; j++) out[i + j] = view[i + w - 1 - j];
  return out;
}

interface PlannedTensor {
  name: string;
  dtype: WritableDtype;
  shape: number[];
  bytes: Uint8Array;
  begin: number;
  end: number;
}

interface Plan {
  headerBytes: Uint8Array; // length prefix + padded JSON
  tensors: PlannedTensor[];
  totalBytes: number;
}

function planLayout(
  tensors: Iterable<[string, TensorToWrite]>,
  metadata: Record<string, string> | undefined,
): Plan {
  const entries: Omit<PlannedTensor, 'begin' | 'end'>[] = [];
  const seen = new Set<string>();
  for (const [name, t] of tensors) {
    if (name === METADATA_KEY) throw new Error(`safetensors: "${METADATA_KEY}" is reserved and cannot name a tensor`);
    if (seen.has(name)) throw new Error(`safetensors: duplicate tensor name "${name}"`);
    seen.add(name);
    const dtype = t.dtype ?? dtypeOfArray(t.data);
    const holds = dtypeOfArray(t.data);
    if (dtype !== holds && !(HALF.has(dtype) && holds === 'U16')) {
      throw new Error(`safetensors: tensor "${name}" declares ${dtype} but holds a ${t.data.constructor.name}`);
    }
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new Error(`safetensors: tensor "${name}" has invalid shape [${t.shape.join(', ')}]`);
    }
    const numel = numelOf(t.shape);
    if (numel !== t.data.length) {
      throw new Error(`safetensors: tensor "${name}" has shape [${t.shape.join(', ')}] (${numel} elements) but ${t.data.length} values`);
    }
    entries.push({ name, dtype, shape: [...t.shape], bytes: littleEndianBytes(t.data) });
  }
  // Stable sort: larger items first keeps every tensor aligned to its own item size.
  const ordered = entries
    .map((e, i) => ({ e, i }))
    .sort((a, b) => ITEM_SIZE[b.e.dtype] - ITEM_SIZE[a.e.dtype] || a.i - b.i)
    .map(({ e }) => e);

  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors: metadata value for "${k}" must be a string`);
    }
    header[METADATA_KEY] = metadata;
  }
  let offset = 0;
  const planned: PlannedTensor[] = [];
  for (const e of ordered) {
    const begin = offset;
    offset += e.bytes.byteLength;
    planned.push({ ...e, begin, end: offset });
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [begin, offset] };
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const paddedLength = Math.ceil(json.length / HEADER_ALIGNMENT) * HEADER_ALIGNMENT;
  const headerBytes = Buffer.alloc(8 + paddedLength, 0x20);
  headerBytes.writeBigUInt64LE(BigInt(paddedLength), 0);
  json.copy(headerBytes, 8);
  return { headerBytes, tensors: planned, totalBytes: headerBytes.length + offset };
}

/** Serialise to one in-memory buffer (small files, tests). */
export function encodeSafetensors(
  tensors: Iterable<[string, TensorToWrite]>,
  metadata?: Record<string, string>,
): Uint8Array {
  const plan = planLayout(tensors, metadata);
  const out = new Uint8Array(plan.totalBytes);
  out.set(plan.headerBytes, 0);
  for (const t of plan.tensors) out.set(t.bytes, plan.headerBytes.length + t.begin);
  return out;
}

async function writeFully(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

export interface WriteOptions {
  metadata?: Record<string, string>;
  /** fsync before closing so the data is durable before a later rename publishes it. */
  fsync?: boolean;
}

/** Write a safetensors file tensor by tensor (the header first, then each tensor's bytes). */
export async function writeSafetensors(
  path: string,
  tensors: Iterable<[string, TensorToWrite]>,
  options: WriteOptions = {},
): Promise<void> {
  const plan = planLayout(tensors, options.metadata);
  const fh = await open(path, 'w');
  try {
    await writeFully(fh, plan.headerBytes, 0);
    for (const t of plan.tensors) await writeFully(fh, t.bytes, plan.headerBytes.length + t.begin);
    if (options.fsync) await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Validate and parse the header. `headerJson` holds the N header bytes; `fileSize` the total
 * file length, against which the byte buffer's extent is checked.
 */
export function parseHeader(source: string, headerJson: Uint8Array, fileSize: number): SafetensorsHeader {
  const fail = (detail: string): never => {
    throw new SafetensorsFormatError(source, detail);
  };
  if (headerJson.length === 0 || headerJson[0] !== 0x7b) fail('the JSON header must start with "{"');
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerJson));
  } catch (e) {
    fail(`the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('the header must be a JSON object');
  const obj = raw as Record<string, unknown>;
  const metadata: Record<string, string> = {};
  const list: [string, TensorHeaderEntry][] = [];
  for (const [name, value] of Object.entries(obj)) {
    if (name === METADATA_KEY) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`"${METADATA_KEY}" must be an object`);
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`"${METADATA_KEY}" value for "${k}" must be a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (typeof info !== 'object' || info === null) fail(`tensor "${name}": entry must be an object`);
    const { dtype, shape, data_offsets: offsets } = info!;
    if (typeof dtype !== 'string') fail(`tensor "${name}": missing dtype`);
    if (!Object.hasOwn(ITEM_SIZE, dtype as string)) {
      fail(`tensor "${name}": dtype ${String(dtype)} is not supported (supported: ${Object.keys(ITEM_SIZE).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor "${name}": shape must be an array of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]
    ) {
      fail(`tensor "${name}": data_offsets must be [begin, end] with 0 <= begin <= end`);
    }
    const entry: TensorHeaderEntry = {
      dtype: dtype as Dtype,
      shape: shape as number[],
      begin: (offsets as number[])[0],
      end: (offsets as number[])[1],
    };
    const expected = numelOf(entry.shape) * ITEM_SIZE[entry.dtype];
    if (entry.end - entry.begin !== expected) {
      fail(
        `tensor "${name}": ${entry.dtype} shape [${entry.shape.join(', ')}] needs ${expected} bytes ` +
          `but data_offsets [${entry.begin}, ${entry.end}] span ${entry.end - entry.begin}`,
      );
    }
    list.push([name, entry]);
  }
  list.sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  const dataStart = 8 + headerJson.length;
  let cursor = 0;
  for (const [name, e] of list) {
    if (e.begin !== cursor) {
      fail(
        e.begin > cursor
          ? `tensor "${name}": data starts at ${e.begin}, leaving a hole after byte ${cursor}`
          : `tensor "${name}": data [${e.begin}, ${e.end}] overlaps the previous tensor (ends at ${cursor})`,
      );
    }
    cursor = e.end;
  }
  const bufferBytes = fileSize - dataStart;
  if (cursor !== bufferBytes) {
    fail(
      cursor > bufferBytes
        ? `the header describes ${cursor} data bytes but the file holds only ${bufferBytes} (truncated?)`
        : `the file has ${bufferBytes - cursor} bytes after the last tensor`,
    );
  }
  return { tensors: new Map(list), metadata, dataStart };
}

function headerLengthFrom(source: string, prefix: Uint8Array, fileSize: number): number {
  if (fileSize < 8 || prefix.length < 8) throw new SafetensorsFormatError(source, `file is ${fileSize} bytes, shorter than the 8-byte length prefix`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsFormatError(source, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (8n + n > BigInt(fileSize)) {
    throw new SafetensorsFormatError(source, `header length ${n} runs past the end of the ${fileSize}-byte file (truncated?)`);
  }
  return Number(n);
}

/** Turn little-endian bytes into the caller-facing typed array (always a fresh, aligned copy). */
function decodeTensor(dtype: Dtype, numel: number, bytes: Uint8Array): TensorData {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F16': {
      const out = new Float32Array(numel);
      for (let i = 0; i < numel; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
      return out;
    }
    case 'BF16': {
      // bfloat16 is the high half of an F32: shift the pattern up, reinterpret.
      const out = new Float32Array(numel);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < numel; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
      return out;
    }
    case 'F32':
    case 'I32':
    case 'U32':
    case 'U16': {
      const Ctor = dtype === 'F32' ? Float32Array : dtype === 'I32' ? Int32Array : dtype === 'U32' ? Uint32Array : Uint16Array;
      const out = new Ctor(numel);
      const outBytes = new Uint8Array(out.buffer);
      outBytes.set(bytes.subarray(0, out.byteLength));
      if (!HOST_IS_LITTLE_ENDIAN) {
        const swapped = littleEndianBytes(out); // symmetric: swapping twice restores host order
        outBytes.set(swapped);
      }
      return out;
    }
  }
}

/** IEEE 754 binary16 → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** number → bfloat16 bit pattern, rounding to nearest even (NaN stays a quiet NaN). */
export function floatToBfloat16(v: number): number {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer)[0];
  if (Number.isNaN(v)) return 0x7fc0;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Float32 values → bfloat16 bit patterns (for writing BF16 tensors). */
export function toBfloat16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatToBfloat16(values[i]);
  return out;
}

/** Parse a whole in-memory file. */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = '<buffer>',
): { tensors: Map<string, LoadedTensor>; metadata: Record<string, string> } {
  const n = headerLengthFrom(source, bytes.subarray(0, 8), bytes.length);
  const header = parseHeader(source, bytes.subarray(8, 8 + n), bytes.length);
  const tensors = new Map<string, LoadedTensor>();
  for (const [name, e] of header.tensors) {
    const slice = bytes.subarray(header.dataStart + e.begin, header.dataStart + e.end);
    tensors.set(name, { dtype: e.dtype, shape: e.shape, data: decodeTensor(e.dtype, numelOf(e.shape), slice) });
  }
  return { tensors, metadata: header.metadata };
}

async function readExactly(fh: FileHandle, into: Uint8Array, position: number, source: string): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await fh.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new SafetensorsFormatError(source, `unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}

async function openForRead(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${path}: file not found`);
    throw new UserError(`${path}: cannot open (${(e as Error).message})`);
  }
}

async function readHeaderFrom(fh: FileHandle, path: string): Promise<SafetensorsHeader> {
  const size = (await fh.stat()).size;
  const prefix = new Uint8Array(8);
  if (size >= 8) await readExactly(fh, prefix, 0, path);
  const n = headerLengthFrom(path, prefix, size);
  const json = new Uint8Array(n);
  await readExactly(fh, json, 8, path);
  return parseHeader(path, json, size);
}

/** Read and validate only the header (cheap completeness check for large files). */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await openForRead(path);
  try {
    return await readHeaderFrom(fh, path);
  } finally {
    await fh.close();
  }
}

/** Read a safetensors file; each tensor is read straight into its own typed array. */
export async function readSafetensors(
  path: string,
): Promise<{ tensors: Map<string, LoadedTensor>; metadata: Record<string, string> }> {
  const fh = await openForRead(path);
  try {
    const header = await readHeaderFrom(fh, path);
    const tensors = new Map<string, LoadedTensor>();
    for (const [name, e] of header.tensors) {
      const numel = numelOf(e.shape);
      let data: TensorData;
      if (HALF.has(e.dtype)) {
        const raw = new Uint8Array(e.end - e.begin);
        await readExactly(fh, raw, header.dataStart + e.begin, path);
        data = decodeTensor(e.dtype, numel, raw);
      } else {
        const Ctor = e.dtype === 'F32' ? Float32Array : e.dtype === 'I32' ? Int32Array : e.dtype === 'U32' ? Uint32Array : Uint16Array;
        data = new Ctor(numel);
        const bytes = new Uint8Array(data.buffer);
        await readExactly(fh, bytes, header.dataStart + e.begin, path);
        if (!HOST_IS_LITTLE_ENDIAN) bytes.set(littleEndianBytes(data));
      }
      tensors.set(name, { dtype: e.dtype, shape: e.shape, data });
    }
    return { tensors, metadata: header.metadata };
  } finally {
    await fh.close();
  }
}

/**
 * Read one tensor of a file whose header was read before (readSafetensorsHeader): lets a caller
 * walk a multi-GB checkpoint one tensor at a time instead of loading every tensor at once.
 */
export async function readSafetensorsTensor(path: string, header: SafetensorsHeader, name: string): Promise<LoadedTensor> {
  const e = header.tensors.get(name);
  if (!e) throw new UserError(`${path}: no tensor "${name}"`);
  const fh = await openForRead(path);
  try {
    const raw = new Uint8Array(e.end - e.begin);
    await readExactly(fh, raw, header.dataStart + e.begin, path);
    return { dtype: e.dtype, shape: e.shape, data: decodeTensor(e.dtype, numelOf(e.shape), raw) };
  } finally {
    await fh.close();
  }
}
