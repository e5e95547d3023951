// bench/common.ts medianInterval: the bootstrap interval the sd-cost bench prints beside its median
// ratios. Checked against what a percentile bootstrap of the median must do: contain the sample
// median, stay inside the samples' range, repeat exactly for the same samples, shrink as samples
// are added, and cover the true median of the distribution about as often as its level says.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../base/rng.ts';
import { medianInterval, stats } from '../../bench/common.ts';

const draw = (n: number, seed: string) => {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => 1.05 + 0.04 * rng.normal());
};

describe('medianInterval', () => {
  it('contains the median, stays inside the samples and repeats exactly', () => {
    const xs = draw(48, 'a');
    const [lo, hi] = medianInterval(xs);
    const m = stats(xs).median;
    expect(lo).toBeLessThanOrEqual(m);
    expect(hi).toBeGreaterThanOrEqual(m);
    expect(lo).toBeGreaterThanOrEqual(Math.min(...xs));
    expect(hi).toBeLessThanOrEqual(Math.max(...xs));
    expect(hi).toBeGreaterThan(lo);
    expect(medianInterval(xs)).toEqual([lo, hi]);
  });

  it('narrows with more samples (about as 1/√n)', () => {
    const width = (n: number) => { const [lo, hi] = medianInterval(draw(n, `w${n}`)); return hi - lo; };
    const [w16, w256] = [width(16), width(256)];
    expect(w256).toBeLessThan(w16 / 2);
    expect(w256).toBeGreaterThan(w16 / 8);
  });

  it('covers the true median about 95 % of the time', () => {
    let covered = 0;
    const trials = 200;
    for (let t = 0; t < trials; t++) {
      const [lo, hi] = medianInterval(draw(48, `c${t}`), 0.95, 400);
      if (lo <= 1.05 && 1.05 <= hi) covered++;
    }
    // percentile bootstrap of a median at n = 48: near 0.95, never near 0.5 or 1
    expect(covered / trials).toBeGreaterThan(0.85);
    expect(covered / trials).toBeLessThan(1);
  });

  it('is empty for no samples', () => {
    expect(medianInterval([]).every(Number.isNaN)).toBe(true);
  });
});
