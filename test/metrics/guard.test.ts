// Divergence guard: NaN/Inf stop at once; explosions are judged against the best smoothed loss
// only after warm-up and only after `patience` consecutive bad steps; a healthy noisy curve never
// trips it; restored state judges exactly like an uninterrupted guard.

import { describe, expect, it } from 'vitest';
import { DivergenceGuard, type GuardVerdict } from '../../runtime/metrics/guard.ts';
import { Rng } from '../../base/rng.ts';

/** A healthy, noisy, decaying loss curve. */
function healthyLosses(n: number, seed = 1): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => 2 + 6 * Math.exp(-i / 40) + 0.3 * rng.normal());
}

function runAll(guard: DivergenceGuard, losses: number[], firstStep = 1): GuardVerdict[] {
  return losses.map((loss, i) => guard.check(firstStep + i, loss));
}

describe('DivergenceGuard', () => {
  it('stops at once on a NaN or infinite loss or gradient norm, even during warm-up', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const v = new DivergenceGuard().check(3, bad);
      expect(v.ok).toBe(false);
      if (!v.ok) {
        expect(v.reason).toBe('non-finite');
        expect(v.step).toBe(3);
        expect(v.message).toContain(`step 3: loss is ${bad}`);
      }
    }
    const g = new DivergenceGuard();
    const v = g.check(9, 2.5, NaN);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.message).toMatch(/gradient norm is NaN/);
  });

  it('never trips on a healthy noisy curve', () => {
    const guard = new DivergenceGuard({ warmupSteps: 20 });
    expect(runAll(guard, healthyLosses(400)).every((v) => v.ok)).toBe(true);
  });

  it('detects an explosion after warm-up once it persists for `patience` steps', () => {
    const opts = { warmupSteps: 20, factor: 3, patience: 3 };
    const guard = new DivergenceGuard(opts);
    const healthy = healthyLosses(200);
    expect(runAll(guard, healthy).every((v) => v.ok)).toBe(true);
    const best = guard.state().bestEma!;
    const blowUp = [3.5 * best, 4 * best, 5 * best, 6 * best];
    const verdicts = runAll(guard, blowUp, 201);
    expect(verdicts.slice(0, 2).every((v) => v.ok)).toBe(true);
    const third = verdicts[2];
    expect(third.ok).toBe(false);
    if (!third.ok) {
      expect(third.reason).toBe('explosion');
      expect(third.step).toBe(203);
      expect(third.message).toMatch(/step 203: loss .* more than 3× the best smoothed loss .* for 3 consecutive step\(s\)/);
    }
  });

  it('forgives a short spike and ignores huge losses during warm-up', () => {
    const guard = new DivergenceGuard({ warmupSteps: 20, factor: 3, patience: 3 });
    const warm = [50, 40, 100, 30, ...healthyLosses(16)];
    expect(runAll(guard, warm).every((v) => v.ok)).toBe(true);
    const after = healthyLosses(100, 2);
    expect(runAll(guard, after, 21).every((v) => v.ok)).toBe(true);
    const best = guard.state().bestEma!;
    expect(runAll(guard, [10 * best, 10 * best, 0.5 * best + 2, 10 * best], 121).every((v) => v.ok)).toBe(true);
  });

  it('judges identically after restoring its state', () => {
    const opts = { warmupSteps: 10, factor: 2, patience: 2 };
    const losses = [...healthyLosses(60, 5), 30, 30, 30];
    const whole = runAll(new DivergenceGuard(opts), losses);
    const first = new DivergenceGuard(opts);
    runAll(first, losses.slice(0, 30));
    const resumed = new DivergenceGuard(opts, JSON.parse(JSON.stringify(first.state())));
    expect(runAll(resumed, losses.slice(30), 31)).toEqual(whole.slice(30));
    expect(whole.some((v) => !v.ok)).toBe(true);
  });

  it('rejects nonsensical options', () => {
    expect(() => new DivergenceGuard({ factor: 1 })).toThrow(/factor/);
    expect(() => new DivergenceGuard({ patience: 0 })).toThrow(/patience/);
    expect(() => new DivergenceGuard({ emaBeta: 1 })).toThrow(/beta/);
  });
});
