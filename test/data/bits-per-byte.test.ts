// Bits per byte from summed cross-entropy, on cases small enough to work out by hand.
import { describe, expect, it } from 'vitest';
import { bitsPerByte, spanBitsPerByte, targetByteCount } from '../../runtime/data/bits-per-byte.ts';
import { END_OF_TEXT, Tokenizer } from '../../runtime/data/bpe.ts';

// Merge 0 joins 'a' 'b' into token 256 ("ab", 2 bytes); 257 is the separator.
const tokenizer = new Tokenizer(Int32Array.of(0x61, 0x62), [END_OF_TEXT]);

describe('bits per byte', () => {
  it('is 8 for a model that is uniform over 256 byte tokens', () => {
    const targets = tokenizer.encode('wxyz'); // four single-byte tokens
    expect(targets).toHaveLength(4);
    expect(spanBitsPerByte(tokenizer, targets, 4 * Math.log(256))).toBeCloseTo(8, 12);
  });

  it('divides by bytes, not tokens, so a two-byte token at one bit scores half a bit per byte', () => {
    const targets = tokenizer.encode('ab');
    expect(targets).toEqual([256]);
    expect(spanBitsPerByte(tokenizer, targets, Math.LN2)).toBeCloseTo(0.5, 12);
  });

  it('counts multi-byte characters by their UTF-8 bytes, separators as zero and skips padding', () => {
    const text = 'é€'; // 2 + 3 bytes
    const targets = [tokenizer.specialId(END_OF_TEXT), ...tokenizer.encode(text), -1, -1];
    expect(targetByteCount(tokenizer, targets)).toBe(5);
    expect(bitsPerByte(5 * Math.LN2, 5)).toBeCloseTo(1, 12);
  });

  it('refuses an empty span', () => {
    expect(() => bitsPerByte(1, 0)).toThrow(/positive byte count/);
  });
});
