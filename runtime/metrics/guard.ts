// Divergence guard: decides after each step whether training has gone wrong, so the trainer can
// stop and keep the last good checkpoint instead of saving garbage over it.
//   - A non-finite loss (or gradient norm, when given) stops at once.
//   - An explosion is a loss above `factor` × the lowest smoothed (EMA) loss seen so far, for
//     `patience` consecutive steps, once `warmupSteps` steps have been observed. The running
//     minimum of the EMA, not the EMA itself, is the reference: an EMA would follow a slow blow-up
//     upwards and never fire. Single spikes are common in small-batch MoE training, hence patience.
// The guard's state is plain JSON so a resumed run judges its steps exactly like an
// uninterrupted one would.

export interface GuardOptions {
  /** Loss must exceed factor × best smoothed loss to count as exploding. */
  factor?: number;
  /** Steps observed before explosions are judged (early losses fall steeply and noisily). */
  warmupSteps?: number;
  /** EMA smoothing: ema = beta·ema + (1-beta)·loss. */
  emaBeta?: number;
  /** Consecutive exploding steps needed before stopping. */
  patience?: number;
}

export interface GuardState {
  observed: number;
  ema: number | null;
  bestEma: number | null;
  overThresholdRun: number;
}

export type GuardVerdict =
  | { ok: true }
  | { ok: false; reason: 'non-finite' | 'explosion'; step: number; message: string };

const DEFAULTS: Required<GuardOptions> = { factor: 3, warmupSteps: 50, emaBeta: 0.9, patience: 3 };

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(4) : String(x);
}

export class DivergenceGuard {
  private readonly opts: Required<GuardOptions>;
  private s: GuardState = { observed: 0, ema: null, bestEma: null, overThresholdRun: 0 };

  constructor(options: GuardOptions = {}, state?: GuardState) {
    this.opts = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
    const { factor, warmupSteps, emaBeta, patience } = this.opts;
    if (!(factor > 1)) throw new Error(`divergence factor must be > 1, got ${factor}`);
    if (!(emaBeta >= 0 && emaBeta < 1)) throw new Error(`EMA beta must be in [0, 1), got ${emaBeta}`);
    if (!Number.isInteger(warmupSteps) || warmupSteps < 0) throw new Error(`warmup steps must be a non-negative integer`);
    if (!Number.isInteger(patience) || patience < 1) throw new Error(`patience must be a positive integer`);
    if (state) this.s = { ...state };
  }

  /** Judge one step. Non-finite observations do not enter the EMA. */
  check(step: number, loss: number, gradNorm?: number): GuardVerdict {
    if (!Number.isFinite(loss)) {
      return {
        ok: false,
        reason: 'non-finite',
        step,
        message: `training diverged at step ${step}: loss is ${loss}. Try a lower learning rate, a longer warmup or gradient clipping.`,
      };
    }
    if (gradNorm !== undefined && !Number.isFinite(gradNorm)) {
      return {
        ok: false,
        reason: 'non-finite',
        step,
        message: `training diverged at step ${step}: gradient norm is ${gradNorm} (loss ${fmt(loss)}). Try a lower learning rate or gradient clipping.`,
      };
    }
    const { factor, warmupSteps, emaBeta, patience } = this.opts;
    const s = this.s;
    s.observed += 1;
    s.ema = s.ema === null ? loss : emaBeta * s.ema + (1 - emaBeta) * loss;
    const judging = s.observed > warmupSteps && s.bestEma !== null;
    if (judging && loss > factor * s.bestEma!) {
      s.overThresholdRun += 1;
      if (s.overThresholdRun >= patience) {
        return {
          ok: false,
          reason: 'explosion',
          step,
          message:
            `training diverged at step ${step}: loss ${fmt(loss)} is more than ${factor}× the best smoothed loss ` +
            `${fmt(s.bestEma!)} for ${s.overThresholdRun} consecutive step(s). Try a lower learning rate or a longer warmup.`,
        };
      }
    } else {
      s.overThresholdRun = 0;
    }
    // Only warmed-up, non-exploding smoothed values may become the reference.
    if (s.observed >= warmupSteps && s.overThresholdRun === 0) {
      s.bestEma = s.bestEma === null ? s.ema : Math.min(s.bestEma, s.ema);
    }
    return { ok: true };
  }

  state(): GuardState {
    return { ...this.s };
  }
}
