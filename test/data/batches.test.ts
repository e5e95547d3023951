// Training batches are reproducible from (seed, state); validation windows are fixed and disjoint.
import { describe, expect, it } from 'vitest';
import { BatchSampler, validationBatches, validationWindowCount } from '../../runtime/data/batches.ts';

/** A stream whose token at position i is i (mod 65536), so every window reveals where it came from. */
function positionalStream(length: number): Uint16Array {
  const tokens = new Uint16Array(length);
  for (let i = 0; i < length; i++) tokens[i] = i & 0xffff;
  return tokens;
}

const stream = positionalStream(10_000);
const options = { seqLen: 16, batch: 4, seed: 1234 };

describe('BatchSampler', () => {
  it('gives identical batches for the same seed and different ones for another seed', () => {
    const a = new BatchSampler(stream, options);
    const b = new BatchSampler(stream, options);
    const c = new BatchSampler(stream, { ...options, seed: 1235 });
    let differs = false;
    for (let i = 0; i < 20; i++) {
      const x = a.next();
      const y = b.next();
      const z = c.next();
      expect(y.inputs).toEqual(x.inputs);
      expect(y.targets).toEqual(x.targets);
      if (z.inputs.some((v, k) => v !== x.inputs[k])) differs = true;
    }
    expect(differs).toBe(true);
  });

  it('makes targets the inputs shifted by one token, rows of contiguous stream text', () => {
    const batch = new BatchSampler(stream, options).next();
    expect(batch.inputs).toHaveLength(options.batch * options.seqLen);
    for (let row = 0; row < options.batch; row++) {
      const start = batch.inputs[row * options.seqLen];
      for (let t = 0; t < options.seqLen; t++) {
        expect(batch.inputs[row * options.seqLen + t]).toBe(stream[start + t]);
        expect(batch.targets[row * options.seqLen + t]).toBe(stream[start + t + 1]);
      }
    }
  });

  it('visits every window of an epoch exactly once', () => {
    const sampler = new BatchSampler(stream, { seqLen: 16, batch: 1, seed: 5 });
    const windows = sampler.windowsPerEpoch;
    const starts = new Set<number>();
    for (let i = 0; i < windows; i++) starts.add(sampler.next().inputs[0]);
    expect(starts.size).toBe(windows);
    expect(sampler.currentEpoch).toBe(0);
    sampler.next();
    expect(sampler.currentEpoch).toBe(1);
  });

  it('reproduces a continued run after restore, across epoch boundaries and through JSON', () => {
    const small = positionalStream(500); // ~31 windows: an epoch ends every ~8 batches
    const continued = new BatchSampler(small, options);
    for (let i = 0; i < 13; i++) continued.next();
    const saved = JSON.parse(JSON.stringify(continued.state()));
    const resumed = new BatchSampler(small, options);
    resumed.restore(saved);
    for (let i = 0; i < 30; i++) {
      const expected = continued.next();
      const actual = resumed.next();
      expect(actual.inputs).toEqual(expected.inputs);
      expect(actual.targets).toEqual(expected.targets);
    }
    expect(resumed.state()).toEqual(continued.state());
  });

  it('refuses a state from other data or other settings', () => {
    const state = new BatchSampler(stream, options).state();
    expect(() => new BatchSampler(positionalStream(9_000), options).restore(state)).toThrow(/tokenCount/);
    expect(() => new BatchSampler(stream, { ...options, batch: 8 }).restore(state)).toThrow(/batch/);
  });

  it('rejects a stream shorter than one window', () => {
    expect(() => new BatchSampler(positionalStream(16), options)).toThrow(/fewer than seqLen/);
  });
});

describe('validationBatches', () => {
  it('walks disjoint windows in stream order and pads the last batch with ignored rows', () => {
    const tokens = positionalStream(16 * 10 + 1);
    const windows = validationWindowCount(tokens.length, 16);
    expect(windows).toBe(10);
    const batches = [...validationBatches(tokens, { seqLen: 16, batch: 4 })];
    expect(batches.map((b) => b.rows)).toEqual([4, 4, 2]);
    let expectedStart = 0;
    for (const batch of batches) {
      for (let row = 0; row < batch.rows; row++) {
        expect(batch.inputs[row * 16]).toBe(expectedStart);
        expect(batch.targets[row * 16 + 15]).toBe(expectedStart + 16);
        expectedStart += 16;
      }
    }
    const last = batches[2];
    expect(Array.from(last.targets.subarray(2 * 16))).toEqual(new Array(2 * 16).fill(-1));
  });

  it('limits the number of batches and repeats the same windows every time', () => {
    const first = [...validationBatches(stream, { seqLen: 16, batch: 4, maxBatches: 3 })];
    const second = [...validationBatches(stream, { seqLen: 16, batch: 4, maxBatches: 3 })];
    expect(first).toHaveLength(3);
    expect(second).toEqual(first);
  });
});
