// Safetensors: round trips through our writer/reader, a byte buffer assembled by hand from the
// format description (so the reader is checked against the spec, not against our writer), a
// byte-level inspection of what the writer emits, and clear errors for corrupt files.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../base/errors.ts';
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
  type TensorToWrite,
} from '../../runtime/checkpoint/safetensors.ts';
import { Rng } from '../../base/rng.ts';

const dir = mkdtempSync(join(tmpdir(), 'sdmoec-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sampleTensors(): Map<string, TensorToWrite> {
  const rng = new Rng('safetensors-sample');
  const f32 = rng.fillNormal(new Float32Array(2 * 3 * 4));
  const i32 = Int32Array.from({ length: 5 }, () => (rng.nextU32() | 0));
  const u32 = Uint32Array.from({ length: 7 }, () => rng.nextU32());
  const u16 = Uint16Array.from({ length: 9 }, () => rng.nextU32() & 0xffff);
  return new Map<string, TensorToWrite>([
    ['u16', { shape: [9], data: u16 }],
    ['weights', { shape: [2, 3, 4], data: f32 }],
    ['ints', { shape: [5, 1], data: i32 }],
    ['uints', { shape: [7], data: u32 }],
    ['scalar', { shape: [], data: Float32Array.of(3.25) }],
    ['empty', { shape: [4, 0], data: new Float32Array(0) }],
    ['empty_u16', { shape: [0], data: new Uint16Array(0) }],
  ]);
}

function expectSameTensors(actual: Map<string, { shape: number[]; data: ArrayLike<number> }>, expected: Map<string, TensorToWrite>) {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [name, t] of expected) {
    const got = actual.get(name)!;
    expect(got.shape, name).toEqual([...t.shape]);
    expect(got.data.constructor, name).toBe(t.data.constructor);
    expect(Array.from(got.data), name).toEqual(Array.from(t.data));
  }
}

describe('round trip', () => {
  it('keeps every dtype, 0-d and empty tensors, and metadata through a file', async () => {
    const tensors = sampleTensors();
    const path = join(dir, 'sample.safetensors');
    await writeSafetensors(path, tensors, { metadata: { format: 'sdmoec', note: 'ünïcode ok' }, fsync: true });
    const back = await readSafetensors(path);
    expectSameTensors(back.tensors, tensors);
    expect(back.metadata).toEqual({ format: 'sdmoec', note: 'ünïcode ok' });
    const inMemory = decodeSafetensors(encodeSafetensors(tensors, { format: 'sdmoec', note: 'ünïcode ok' }));
    expectSameTensors(inMemory.tensors, tensors);
    expect(new Uint8Array(readFileSync(path))).toEqual(encodeSafetensors(tensors, { format: 'sdmoec', note: 'ünïcode ok' }));
  });

  it('writes and reads 150 tensors, a few of them megabytes large', async () => {
    const rng = new Rng(7);
    const tensors = new Map<string, TensorToWrite>();
    for (let i = 0; i < 150; i++) {
      const big = i % 50 === 0;
      const shape = big ? [256, 1024] : [1 + rng.nextInt(17), 1 + rng.nextInt(33)];
      const n = shape[0] * shape[1];
      const data = i % 3 === 2 ? Uint16Array.from({ length: n }, () => rng.nextInt(65536)) : rng.fillUniform(new Float32Array(n), -1, 1);
      tensors.set(`layers.${i}.w`, { shape, data });
    }
    const path = join(dir, 'many.safetensors');
    await writeSafetensors(path, tensors);
    const header = await readSafetensorsHeader(path);
    expect(header.tensors.size).toBe(150);
    expectSameTensors((await readSafetensors(path)).tensors, tensors);
  });

  it('refuses to write inconsistent tensors', async () => {
    expect(() => encodeSafetensors([['x', { shape: [2, 2], data: new Float32Array(3) }]])).toThrow(/4 elements/);
    expect(() => encodeSafetensors([['x', { shape: [2], data: new Float32Array(2), dtype: 'I32' }]])).toThrow(/declares I32/);
    expect(() => encodeSafetensors([['__metadata__', { shape: [1], data: new Float32Array(1) }]])).toThrow(/reserved/);
  });
});

/** Assemble a file from parts exactly as the format description lays them out. */
function assemble(headerJson: string, data: Uint8Array, padTo = 8): Uint8Array {
  let header = headerJson;
  while (Buffer.byteLength(header) % padTo !== 0) header += ' ';
  const headerBytes = Buffer.from(header, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.length);
  return out;
}

describe('interoperability with the format description', () => {
  // Data: F32 [1.5, -2], F16 [1, -2, 0.5, 65504, 2^-24 (smallest subnormal), -0, +inf],
  //       I32 [-7], U32 [4000000000], U16 [65535, 1].
  const data = new Uint8Array(8 + 14 + 4 + 4 + 4);
  const dv = new DataView(data.buffer);
  dv.setFloat32(0, 1.5, true);
  dv.setFloat32(4, -2, true);
  [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000, 0x7c00].forEach((h, i) => dv.setUint16(8 + 2 * i, h, true));
  dv.setInt32(22, -7, true);
  dv.setUint32(26, 4_000_000_000, true);
  dv.setUint16(30, 65535, true);
  dv.setUint16(32, 1, true);
  const header =
    '{"__metadata__":{"format":"pt"},' +
    '"b":{"dtype":"F16","shape":[7],"data_offsets":[8,22]},' +
    '"a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},' +
    '"c":{"dtype":"I32","shape":[],"data_offsets":[22,26]},' +
    '"d":{"dtype":"U32","shape":[1],"data_offsets":[26,30]},' +
    '"e":{"dtype":"U16","shape":[2],"data_offsets":[30,34]},' +
    '"z":{"dtype":"F32","shape":[0,3],"data_offsets":[34,34]}}';

  it('reads a hand-assembled file, including F16 and an unaligned header', () => {
    for (const padTo of [8, 1]) {
      const { tensors, metadata } = decodeSafetensors(assemble(header, data, padTo));
      expect(metadata).toEqual({ format: 'pt' });
      expect(Array.from(tensors.get('a')!.data)).toEqual([1.5, -2]);
      expect(tensors.get('a')!.shape).toEqual([1, 2]);
      expect(tensors.get('b')!.dtype).toBe('F16');
      expect(Array.from(tensors.get('b')!.data)).toEqual([1, -2, 0.5, 65504, 2 ** -24, -0, Infinity]);
      expect(Object.is(tensors.get('b')!.data[5], -0)).toBe(true);
      expect(Array.from(tensors.get('c')!.data)).toEqual([-7]);
      expect(tensors.get('c')!.shape).toEqual([]);
      expect(Array.from(tensors.get('d')!.data)).toEqual([4_000_000_000]);
      expect(Array.from(tensors.get('e')!.data)).toEqual([65535, 1]);
      expect(tensors.get('z')!.data.length).toBe(0);
    }
  });

  it('writes what the format description says, byte for byte', async () => {
    const path = join(dir, 'layout.safetensors');
    await writeSafetensors(
      path,
      [
        ['small', { shape: [3], data: Uint16Array.of(1, 2, 3) }],
        ['w', { shape: [2], data: Float32Array.of(0.25, -8) }],
      ],
      { metadata: { k: 'v' } },
    );
    const bytes = new Uint8Array(readFileSync(path));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = Number(view.getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const headerText = Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8');
    expect(headerText[0]).toBe('{');
    expect(headerText.trimEnd().length).toBeLessThanOrEqual(n);
    expect(/^ *$/.test(headerText.slice(headerText.lastIndexOf('}') + 1))).toBe(true);
    const parsed = JSON.parse(headerText);
    expect(parsed.__metadata__).toEqual({ k: 'v' });
    // 4-byte items precede 2-byte items, so every tensor is aligned to its item size.
    expect(parsed.w).toEqual({ dtype: 'F32', shape: [2], data_offsets: [0, 8] });
    expect(parsed.small).toEqual({ dtype: 'U16', shape: [3], data_offsets: [8, 14] });
    const base = 8 + n;
    expect(bytes.length).toBe(base + 14);
    expect(view.getFloat32(base, true)).toBe(0.25);
    expect(view.getFloat32(base + 4, true)).toBe(-8);
    expect([0, 1, 2].map((i) => view.getUint16(base + 8 + 2 * i, true))).toEqual([1, 2, 3]);
  });
});

describe('corrupt files', () => {
  const good = encodeSafetensors([
    ['a', { shape: [2], data: Float32Array.of(1, 2) }],
    ['b', { shape: [1], data: Float32Array.of(3) }],
  ]);
  const withHeader = (json: string, dataBytes = 12) => assemble(json, new Uint8Array(dataBytes));
  const cases: [string, Uint8Array, RegExp][] = [
    ['shorter than the prefix', good.subarray(0, 5), /shorter than the 8-byte length prefix/],
    ['truncated data', good.subarray(0, good.length - 1), /truncated/],
    ['trailing bytes', Uint8Array.from([...good, 0, 0, 0, 0]), /4 bytes after the last tensor/],
    ['header past the end', (() => { const b = good.slice(0, 40); new DataView(b.buffer).setBigUint64(0, 1000n, true); return b; })(), /runs past the end/],
    ['absurd header length', (() => { const b = good.slice(); new DataView(b.buffer).setBigUint64(0, 2n ** 40n, true); return b; })(), /exceeds/],
    ['no leading brace', withHeader(' {"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}'), /must start with "\{"/],
    ['bad JSON', withHeader('{"a":'), /not valid UTF-8 JSON/],
    ['hole', withHeader('{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'), /hole/],
    ['overlap', withHeader('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'), /overlaps/],
    ['size mismatch', withHeader('{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}'), /needs 16 bytes/],
    ['unsupported dtype', withHeader('{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', 8), /F64 is not supported/],
    ['negative dim', withHeader('{"a":{"dtype":"F32","shape":[-3],"data_offsets":[0,12]}}'), /non-negative integers/],
    ['non-string metadata', withHeader('{"__metadata__":{"n":1},"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}'), /must be a string/],
  ];
  for (const [label, bytes, message] of cases) {
    it(`rejects: ${label}, naming the file`, async () => {
      const path = join(dir, `corrupt-${label.replace(/\W+/g, '-')}.safetensors`);
      writeFileSync(path, bytes);
      const err = await readSafetensors(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toContain(path);
      expect((err as Error).message).toMatch(message);
    });
  }

  it('reports a missing file as a user error', async () => {
    const err = await readSafetensors(join(dir, 'nope.safetensors')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/nope\.safetensors: file not found/);
  });
});
