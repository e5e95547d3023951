// Divergence guard, judged from step 1: NaN/Inf stop at once; a loss far above the uniform
// prediction's ln(vocab) stops at once; explosions against the best smoothed loss need `patience`
// consecutive bad steps; a healthy noisy curve never trips it; restored state judges exactly like
// an uninterrupted guard. Planted curves include the demo run that used to finish "successfully"
// (6.96 → 628 → 45 with lr 10 and clipping off).

import { describe, expect, it } from 'vitest';
import { DivergenceError, DivergenceGuard, guardOptions, type GuardVerdict } from '../../runtime/metrics/guard.ts';
import { UserError } from '../../base/errors.ts';
import { Rng } from '../../base/rng.ts';

/** A healthy, noisy, decaying loss curve starting near ln(1024) ≈ 6.93. */
function healthyLosses(n: number, seed = 1): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => 2 + 5 * Math.exp(-i / 40) + 0.3 * rng.normal());
}

/** The shape of `sdmoec run models/demo.moe --set train.optimizer.lr=10 --set train.clip_grad=off`. */
const DEMO_BLOWUP = [6.96, 6.9, 25, 120, 628, 300, 90, 45, 45, 44];

function runAll(guard: DivergenceGuard, losses: number[], firstStep = 1): GuardVerdict[] {
  return losses.map((loss, i) => guard.check(firstStep + i, loss));
}

function firstFailure(verdicts: GuardVerdict[]): Extract<GuardVerdict, { ok: false }> | null {
  return (verdicts.find((v) => !v.ok) as Extract<GuardVerdict, { ok: false }> | undefined) ?? null;
}

describe('DivergenceGuard', () => {
  it('stops at once on a NaN or infinite loss or gradient norm, at step 1 and with explosions off', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const guard of [new DivergenceGuard(), new DivergenceGuard({ explosions: false })]) {
        const v = guard.check(1, bad);
        expect(v.ok).toBe(false);
        if (!v.ok) {
          expect(v.reason).toBe('non-finite');
          expect(v.step).toBe(1);
          expect(v.message).toContain(`step 1: loss is ${bad}`);
        }
      }
    }
    const v = new DivergenceGuard().check(9, 2.5, NaN);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.message).toMatch(/gradient norm is NaN/);
  });

  it('fires on the demo blow-up: above-uniform at step 3, and the relative rule alone at step 5', () => {
    const both = firstFailure(runAll(new DivergenceGuard({ vocab: 1024 }), DEMO_BLOWUP));
    expect(both?.reason).toBe('above-uniform');
    expect(both?.step).toBe(3); // 25 > 1.5 · ln 1024 = 10.4
    // Without the uniform rule: 25, 120, 628 are each > 3 × the best EMA (≈ 6.95), third one stops.
    const relative = firstFailure(runAll(new DivergenceGuard({ vocab: 1024, uniformFactor: null }), DEMO_BLOWUP));
    expect(relative?.reason).toBe('explosion');
    expect(relative?.step).toBe(5);
    expect(relative?.message).toMatch(/step 5: loss 628\.0 is more than 3× the best smoothed loss 6\.9\d+ for 3 consecutive step\(s\)/);
    // `divergence off` lets the same curve through: only non-finite values stop it.
    expect(runAll(new DivergenceGuard({ vocab: 1024, explosions: false }), DEMO_BLOWUP).every((v) => v.ok)).toBe(true);
  });

  it('fires the uniform-loss rule at step 2', () => {
    const verdicts = runAll(new DivergenceGuard({ vocab: 256, uniformFactor: 1.5 }), [5.6, 8.4, 6]);
    expect(verdicts[0].ok).toBe(true);
    const v = verdicts[1];
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.reason).toBe('above-uniform');
      expect(v.step).toBe(2);
      expect(v.message).toMatch(/step 2: loss 8\.400 is more than 1\.5× the loss of a uniform prediction \(ln 256 = 5\.545\)/);
    }
    // Just under the limit (1.5 · ln 256 = 8.318) is not above-uniform.
    expect(runAll(new DivergenceGuard({ vocab: 256 }), [5.6, 8.3]).every((v) => v.ok)).toBe(true);
  });

  it('never trips on healthy noisy curves, from step 1, for many seeds', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const guard = new DivergenceGuard(guardOptions({ factor: 3, uniformFactor: 1.5, patience: 3, ema: 0.9 }, 1024));
      expect(runAll(guard, healthyLosses(400, seed)).every((v) => v.ok)).toBe(true);
    }
  });

  it('forgives spikes shorter than patience, then fires when one persists', () => {
    const guard = new DivergenceGuard({ factor: 3, patience: 3, uniformFactor: null });
    expect(runAll(guard, healthyLosses(100)).every((v) => v.ok)).toBe(true);
    const best = guard.state().bestEma!;
    expect(runAll(guard, [10 * best, 10 * best, 0.5 * best + 1, 10 * best], 101).every((v) => v.ok)).toBe(true);
    expect(runAll(guard, [0.5 * best + 1], 105)[0].ok).toBe(true); // resets the run of bad steps
    const verdicts = runAll(guard, [3.5 * best, 4 * best, 5 * best], 106);
    expect(verdicts.map((v) => v.ok)).toEqual([true, true, false]);
    expect(firstFailure(verdicts)?.reason).toBe('explosion');
    expect(firstFailure(verdicts)?.step).toBe(108);
  });

  it('judges identically after restoring its JSON state', () => {
    const opts = { factor: 2, patience: 2, vocab: 1024 };
    const losses = [...healthyLosses(60, 5), 9, 9, 9];
    const whole = runAll(new DivergenceGuard(opts), losses);
    expect(whole.some((v) => !v.ok)).toBe(true);
    for (const cut of [1, 30, 61]) {
      const first = new DivergenceGuard(opts);
      runAll(first, losses.slice(0, cut));
      const resumed = new DivergenceGuard(opts, JSON.parse(JSON.stringify(first.state())));
      expect(runAll(resumed, losses.slice(cut), cut + 1)).toEqual(whole.slice(cut));
    }
  });

  it('builds options from the train block and rejects nonsensical ones', () => {
    expect(guardOptions(null, 1024)).toEqual({ explosions: false });
    expect(guardOptions({ factor: 4, uniformFactor: null, patience: 2, ema: 0.5 }, 300)).toEqual({ factor: 4, uniformFactor: null, patience: 2, emaBeta: 0.5, vocab: 300 });
    expect(new DivergenceGuard({ vocab: 1024 }).uniformLimit()).toBeCloseTo(1.5 * Math.log(1024), 12);
    expect(new DivergenceGuard({ vocab: 1024, explosions: false }).uniformLimit()).toBeNull();
    expect(() => new DivergenceGuard({ factor: 1 })).toThrow(/factor/);
    expect(() => new DivergenceGuard({ uniformFactor: 0.5 })).toThrow(/uniform_factor/);
    expect(() => new DivergenceGuard({ patience: 0 })).toThrow(/patience/);
    expect(() => new DivergenceGuard({ emaBeta: 1 })).toThrow(/beta/);
  });

  it('DivergenceError is a UserError carrying step, reason and checkpoint', () => {
    const e = new DivergenceError('stopped', 7, 'explosion', 'runs/x/step-5');
    expect(e).toBeInstanceOf(UserError);
    expect([e.step, e.reason, e.lastCheckpoint, e.name]).toEqual([7, 'explosion', 'runs/x/step-5', 'DivergenceError']);
  });
});
