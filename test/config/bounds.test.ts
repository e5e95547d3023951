// Sizes the device cannot index, and depths that would lower for minutes, are refused by `check`
// with a located message (both were accepted before `npm run fuzz` found them).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../compiler/config/index.ts';
import { Source } from '../../grammar/index.ts';

const demo = readFileSync(join(import.meta.dirname, '../../models/demo.moe'), 'utf8');

function errorsOf(text: string): { message: string; line: number; column: number }[] {
  const r = checkSource(new Source('bounds.moe', text));
  return r.diagnostics.filter((d) => d.severity === 'error').map((d) => ({ message: d.message, line: d.loc!.line, column: d.loc!.column }));
}

describe('integer bounds', () => {
  it('refuses a dim beyond 32 bits at its location', () => {
    const text = demo.replace('dim 64', 'dim 1.7976931348623157e308');
    const line = text.split('\n').findIndex((l) => l.includes('dim 1.79')) + 1;
    const errors = errorsOf(text);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ line, message: expect.stringMatching(/'dim' must be at most 2147483647/) });
    expect(errors[0].column).toBe(text.split('\n')[line - 1].indexOf('1.79') + 1);
  });

  it('refuses 65536 layers and accepts 1024', () => {
    expect(errorsOf(demo.replace('layers 2', 'layers 65536')).map((e) => e.message)).toEqual([expect.stringMatching(/'layers' must be at most 1024/)]);
    expect(errorsOf(demo.replace('layers 2', 'layers 1024'))).toEqual([]);
  });

  it('refuses a float setting that float32 cannot hold (it would be Infinity in a kernel)', () => {
    expect(errorsOf(demo.replace('weight_decay = 0.1', 'weight_decay = 1e300')).map((e) => e.message)).toEqual([expect.stringMatching(/'optimizer\.weight_decay' must be at most 3\.4028234663852886e\+38 in magnitude/)]);
  });

  it('refuses a head dimension above the attention kernel\'s 128', () => {
    expect(errorsOf(demo.replace('heads 4', 'heads 4  head_dim 256')).map((e) => e.message)).toEqual([expect.stringMatching(/head dimension 256 is above the 128 the attention kernel supports/)]);
  });

  it('reports a raw control character in a string at its location instead of throwing', () => {
    const errors = errorsOf(demo.replace('data gutenberg', 'data path("a\tb")'));
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/malformed string .*write control characters as escapes/)]);
    expect(errors[0].line).toBe(demo.split('\n').findIndex((l) => l.includes('data gutenberg')) + 1);
  });
});
