// Divergence guard: decides after each step whether training has gone wrong, so the trainer can
// stop and keep the last good checkpoint instead of saving garbage over it. Every rule judges
// from step 1 (an earlier version waited 50 steps and let a run climb from 6.96 to 628 unseen):
//   - non-finite: a NaN/Inf loss or gradient norm stops at once (always on, even with
//     `divergence off`: no optimizer step recovers from NaN weights).
//   - above-uniform: a loss above `uniformFactor` × ln(vocab) stops at once. ln(vocab) is the loss
//     of predicting every token equally likely, which a freshly initialised model already sits at;
//     training never has a reason to go far above it, so one such step is a blow-up, not noise.
//   - explosion: a loss above `factor` × the lowest smoothed (EMA) loss seen so far, for `patience`
//     consecutive steps. The reference is the running minimum of the EMA from the first step, not
//     the EMA itself: an EMA follows a slow blow-up upwards and would never fire. Early losses fall
//     steeply, which only lowers the reference later, so judging from step 1 cannot misfire on
//     them; single spikes are common in small-batch MoE training, hence patience.
// The guard's state is plain JSON so a resumed run judges its steps exactly like an
// uninterrupted one would.
import { UserError } from '../../base/errors.ts';

export interface GuardOptions {
  /** Loss must exceed factor × best smoothed loss to count as exploding (> 1). */
  factor?: number;
  /** Vocabulary size; with uniformFactor it enables the above-uniform rule. */
  vocab?: number | null;
  /** A loss above uniformFactor × ln(vocab) stops at once (> 1); null: rule off. */
  uniformFactor?: number | null;
  /** EMA smoothing: ema = beta·ema + (1-beta)·loss, in [0, 1). */
  emaBeta?: number;
  /** Consecutive exploding steps needed before stopping (≥ 1). */
  patience?: number;
  /** false: only the non-finite rule (`divergence off`). */
  explosions?: boolean;
}

export interface GuardState {
  observed: number;
  ema: number | null;
  bestEma: number | null;
  overThresholdRun: number;
}

export type DivergenceReason = 'non-finite' | 'above-uniform' | 'explosion';

export type GuardVerdict = { ok: true } | { ok: false; reason: DivergenceReason; step: number; message: string };

/** A run stopped by the guard. A UserError (exit 1): the settings, not the program, are at fault. */
export class DivergenceError extends UserError {
  constructor(
    message: string,
    readonly step: number,
    readonly reason: DivergenceReason,
    /** Directory of the last checkpoint written before the divergence, or null. */
    readonly lastCheckpoint: string | null = null,
  ) {
    super(message);
    this.name = 'DivergenceError';
  }
}

const DEFAULTS: Required<GuardOptions> = { factor: 3, vocab: null, uniformFactor: 1.5, emaBeta: 0.9, patience: 3, explosions: true };

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(4) : String(x);
}

/** Guard options from the train block's `divergence` settings (null: `divergence off`). */
export function guardOptions(divergence: { factor: number; uniformFactor: number | null; patience: number; ema: number } | null, vocab: number): GuardOptions {
  if (!divergence) return { explosions: false };
  return { factor: divergence.factor, uniformFactor: divergence.uniformFactor, patience: divergence.patience, emaBeta: divergence.ema, vocab };
}

export class DivergenceGuard {
  private readonly opts: Required<GuardOptions>;
  private s: GuardState = { observed: 0, ema: null, bestEma: null, overThresholdRun: 0 };

  constructor(options: GuardOptions = {}, state?: GuardState) {
    this.opts = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
    const { factor, uniformFactor, vocab, emaBeta, patience } = this.opts;
    // The config reader validates the user's values; these throws catch a caller's bug.
    if (!(factor > 1)) throw new Error(`divergence factor must be > 1, got ${factor}`);
    if (uniformFactor !== null && !(uniformFactor > 1)) throw new Error(`divergence uniform_factor must be > 1, got ${uniformFactor}`);
    if (vocab !== null && !(Number.isInteger(vocab) && vocab >= 2)) throw new Error(`vocab must be an integer ≥ 2, got ${vocab}`);
    if (!(emaBeta >= 0 && emaBeta < 1)) throw new Error(`EMA beta must be in [0, 1), got ${emaBeta}`);
    if (!Number.isInteger(patience) || patience < 1) throw new Error(`patience must be a positive integer`);
    if (state) this.s = { ...state };
  }

  /** The loss above which the above-uniform rule fires, or null when that rule is off. */
  uniformLimit(): number | null {
    const { explosions, uniformFactor, vocab } = this.opts;
    return explosions && uniformFactor !== null && vocab !== null ? uniformFactor * Math.log(vocab) : null;
  }

  /** Judge one step. Non-finite observations do not enter the EMA. */
  check(step: number, loss: number, gradNorm?: number): GuardVerdict {
    if (!Number.isFinite(loss)) {
      return { ok: false, reason: 'non-finite', step, message: `training diverged at step ${step}: loss is ${loss}` };
    }
    if (gradNorm !== undefined && !Number.isFinite(gradNorm)) {
      return { ok: false, reason: 'non-finite', step, message: `training diverged at step ${step}: gradient norm is ${gradNorm} (loss ${fmt(loss)})` };
    }
    const { factor, emaBeta, patience, explosions } = this.opts;
    const s = this.s;
    s.observed += 1;
    s.ema = s.ema === null ? loss : emaBeta * s.ema + (1 - emaBeta) * loss;
    if (!explosions) return { ok: true };
    const limit = this.uniformLimit();
    if (limit !== null && loss > limit) {
      return {
        ok: false,
        reason: 'above-uniform',
        step,
        message:
          `training diverged at step ${step}: loss ${fmt(loss)} is more than ${this.opts.uniformFactor}× the loss of a uniform ` +
          `prediction (ln ${this.opts.vocab} = ${fmt(Math.log(this.opts.vocab!))})`,
      };
    }
    if (s.bestEma !== null && loss > factor * s.bestEma) {
      s.overThresholdRun += 1;
      if (s.overThresholdRun >= patience) {
        return {
          ok: false,
          reason: 'explosion',
          step,
          message:
            `training diverged at step ${step}: loss ${fmt(loss)} is more than ${factor}× the best smoothed loss ` +
            `${fmt(s.bestEma)} for ${s.overThresholdRun} consecutive step(s)`,
        };
      }
    } else {
      s.overThresholdRun = 0;
    }
    // Only non-exploding smoothed values may become the reference.
    if (s.overThresholdRun === 0) s.bestEma = s.bestEma === null ? s.ema : Math.min(s.bestEma, s.ema);
    return { ok: true };
  }

  state(): GuardState {
    return { ...this.s };
  }
}
