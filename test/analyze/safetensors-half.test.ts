// BF16 and F16 tensors in safetensors files (the dtypes Hugging Face checkpoints ship): the reader
// widens them to F32 exactly, the writer takes raw bit patterns, and rounding to bfloat16 is to
// nearest even.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, floatToBfloat16, readSafetensors, toBfloat16Bits } from '../../runtime/checkpoint/safetensors.ts';

describe('safetensors half precision', () => {
  it('reads hand-assembled BF16 bytes as the F32 values they are the top halves of', () => {
    // 1.0 = 0x3f80, -2.0 = 0xc000, 0.15625 = 0x3e20, +inf = 0x7f80
    const json = '{"w":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}';
    const header = Buffer.from(json);
    const bytes = Buffer.alloc(8 + header.length + 8);
    bytes.writeBigUInt64LE(BigInt(header.length), 0);
    header.copy(bytes, 8);
    [0x3f80, 0xc000, 0x3e20, 0x7f80].forEach((v, i) => bytes.writeUInt16LE(v, 8 + header.length + 2 * i));
    const t = decodeSafetensors(bytes).tensors.get('w')!;
    expect(t.dtype).toBe('BF16');
    expect(t.shape).toEqual([2, 2]);
    expect(Array.from(t.data)).toEqual([1, -2, 0.15625, Infinity]);
  });

  it('rounds to the nearest bfloat16, ties to even', () => {
    expect(floatToBfloat16(1)).toBe(0x3f80);
    // 1 + 2^-8 lies exactly between 0x3f80 and 0x3f81: ties go to the even pattern 0x3f80.
    expect(floatToBfloat16(1 + 2 ** -8)).toBe(0x3f80);
    // 1 + 3·2^-8 lies between 0x3f81 and 0x3f82: tie to even 0x3f82.
    expect(floatToBfloat16(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(floatToBfloat16(1 + 2 ** -8 + 2 ** -12)).toBe(0x3f81);
    expect(floatToBfloat16(NaN) & 0x7fc0).toBe(0x7fc0);
  });

  it('writes BF16 and F16 from bit patterns and reads them back through a file', async () => {
    const values = [0.5, -3.25, 1e-3, 123.456, 0];
    const bf = toBfloat16Bits(values);
    const f16 = new Uint16Array([0x3c00, 0xc000]); // 1, -2
    const dir = mkdtempSync(join(tmpdir(), 'st-half-'));
    writeFileSync(join(dir, 'x.safetensors'), encodeSafetensors([
      ['bf', { shape: [5], data: bf, dtype: 'BF16' }],
      ['h', { shape: [2], data: f16, dtype: 'F16' }],
      ['f', { shape: [1], data: new Float32Array([7]) }],
    ]));
    const { tensors } = await readSafetensors(join(dir, 'x.safetensors'));
    const back = Array.from(tensors.get('bf')!.data);
    values.forEach((v, i) => expect(Math.abs(back[i] - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -8));
    expect(back[0]).toBe(0.5); // exactly representable values stay exact
    expect(tensors.get('bf')!.data).toBeInstanceOf(Float32Array);
    expect(Array.from(tensors.get('h')!.data)).toEqual([1, -2]);
    expect(Array.from(tensors.get('f')!.data)).toEqual([7]);
  });

  it('refuses a BF16 declaration over a Float32Array', () => {
    expect(() => encodeSafetensors([['x', { shape: [1], data: new Float32Array(1), dtype: 'BF16' }]])).toThrow(/declares BF16/);
  });
});
