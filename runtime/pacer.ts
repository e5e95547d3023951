// Waiting for the device without taking a CPU core from it.
//
// dawn.node (npm `webgpu`) resolves its promises (mapAsync, onSubmittedWorkDone) by calling
// ProcessEvents from back-to-back setImmediate callbacks for as long as any of them is pending, so
// Node's main thread spins on a whole core while the device works. On a GPU that costs nothing but
// power; on a CPU adapter (lavapipe: its worker threads are the device) the spinning thread takes
// that core from the device. Measured on the demo step (2 cores, load ~1, 126 dispatches): the main
// thread used 8.6 CPU-s per 10 s against 4.3 for each lavapipe worker, and the step took 45.7 ms
// best / 53 median when awaited at once, 31.9 / 32.5 ms when the trainer first slept 30 ms.
//
// And while it does wait, the poll is gentle (`pollGently`): each of dawn.node's re-posted polls
// first blocks the thread for `pollIntervalMs` (Atomics.wait, asleep in the kernel), longer for
// long waits. One poll (ProcessEvents) costs ~55 µs of CPU. In ad-hoc scripts (not kept): a
// 4M-element copy ×30 without a pacer took 246–282 ms spinning against 161–174 gentle, main-thread
// CPU 190–250 → 20–30 ms; demo_sd's cold compile took CPU 136–160 s → 82–92 s. On the demo step,
// after the sleep, the gentle poll is within noise of the spinning one (`npm run bench -- pacing`:
// 33.2–35.2 vs 34.0–34.6 ms median, CPU 51–52 vs 54 ms per step); gentle alone, without the sleep,
// was slower (38.6–43.8 ms median): the sleep stays.
//
// So before the first wait on a submission the executor sleeps (a plain timer: no Dawn promise is
// pending, the event loop blocks in epoll) for the time that kind of submission is expected to
// take, then waits as usual. The estimate per key (the phases submitted since the last wait, e.g.
// 'step' or 'micro,micro,last') is a small controller driven by the waits themselves:
// - the first wait of a key is not learned from (it includes compiling the pipelines), the second
//   sets the estimate to `initialShare` of its duration;
// - a wait that still blocked after the sleep (more than `accurateAfterMs` past the wait floor)
//   grows the estimate by `creep` of itself plus `raise` × the blocked time;
// - the wait floor is what a wait costs on a device that finished long ago (the read-back's map
//   round trip): the shortest blocked time among recent waits that slept and blocked for at most
//   5 % of their total. Without it, a map round trip above accurateAfterMs (0.6–1.5 ms on lavapipe
//   in a slow VM, seen in the pacing bench's wait history) counted every wait as "still busy", and
//   the creep term grew the sleep without bound (an ad-hoc demo_sd loop: sleeps 219–233 ms, each
//   wait after them blocking 0.7–1.2 ms, steps rising 189 → 246 ms over 30 steps; device time not
//   measured). test/harness/pacer.test.ts reproduces the runaway with a 0.7–1.4 ms latency;
// - a wait that returned at once means the sleep may have overshot: the estimate shrinks by
//   `shrink`, so it keeps probing down to where the device really finishes. With the gentle poll an
//   undersleep costs little (a few polls) and an oversleep costs the whole overshoot, so the
//   controller aims below the device time (by arithmetic, 1 % up against 4 % down balance at four
//   blocked waits per overshoot, the raise term aside). The device time on lavapipe swings 25–45 ms
//   from step to step on the demo; the former raise of 0.5 × the blocked time chased those swings
//   into 40–50 ms sleeps (seen in the wait history), 0.1 still follows a device that got 4× slower
//   within 40 waits (test/harness/pacer.test.ts). Consecutive overshoots shrink faster (the step
//   doubles per overshoot in a row, up to `maxShrinkDoublings`): one step that ran under a load
//   spike can otherwise teach a sleep several times the device time that a fixed 3 % per step takes
//   dozens of steps to unlearn (seen as 200 ms sleeps on a 50 ms step in a 4-step bench block). A
//   wait that still blocked resets the streak.
// - an overshoot also drops the estimate to the shortest exact total among the key's recent waits
//   that still blocked (those ended when the device did), if lower: after a stretch of slow steps,
//   which the raise term followed, the first fast step resets the sleep instead of three or four
//   oversleeping steps probing down (test/harness/pacer.test.ts, "oversleeps one step").
// Invariants: pacing never changes what is computed or in what order, only when the host looks;
// nothing below `minSleepMs` is slept (timer granularity is ~1 ms). Enabled on CPU adapters;
// SDMOEC_PACING=off|on overrides (A/B benches).

export interface PacerClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: PacerClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface PacerOptions {
  /** The second wait of a key sets the estimate to this share of its duration. */
  readonly initialShare: number;
  /** A wait that blocked longer than this past the wait floor (below) means the device was still busy. */
  readonly accurateAfterMs: number;
  /**
   * The wait floor is the shortest blocked time of the last `floorWindow` candidate waits (any key):
   * what a wait costs when the device finished long ago (the read-back's map round trip; 0
   * disables it). Candidates slept first and blocked for at most `floorShare` of their total (a
   * wait that blocked longer certainly found the device busy, as the first ones of a key do).
   */
  readonly floorWindow: number;
  readonly floorShare: number;
  /** Shrink factor of the estimate after a wait that returned at once. */
  readonly shrink: number;
  /** Share of a still-blocked wait's blocked time added to the estimate. */
  readonly raise: number;
  /** A still-blocked wait also grows the estimate by this fraction of itself. */
  readonly creep: number;
  /** Sleeps shorter than this are skipped. */
  readonly minSleepMs: number;
  /** Overshoots in a row double the shrink step (1 − shrink) up to this many times. */
  readonly maxShrinkDoublings: number;
  /**
   * An overshoot also drops the estimate to the shortest of the key's last `exactWindow` exact
   * totals (waits that still blocked: the device finished then), when that is lower; 0 disables it.
   */
  readonly exactWindow: number;
  /** Sleep the learned estimate before waiting (false: wait at once, only the gentle poll below). */
  readonly sleepFirst: boolean;
  /** While waiting, dawn.node's event polls are spaced by this many ms of blocked sleep (0: spin). */
  readonly pollIntervalMs: number;
}

export const DEFAULT_PACER: PacerOptions = { initialShare: 0.8, accurateAfterMs: 0.75, floorWindow: 32, floorShare: 0.05, shrink: 0.96, raise: 0.1, creep: 0.01, minSleepMs: 2, maxShrinkDoublings: 4, exactWindow: 16, sleepFirst: true, pollIntervalMs: 0.1 };

/** What the pacer knows of one key: its estimate, its overshoot streak and its recent exact totals. */
interface KeyState {
  estimate?: number;
  overshoots: number;
  readonly exact: number[];
}

export class CompletionPacer {
  /** Per key: the estimate (none until the second wait) and how many waits in a row returned at once. */
  private readonly keys = new Map<string, KeyState>();
  private pending: { phases: string[]; submittedAt: number } | null = null;
  /** What the last waits did, for tests and benches: slept ms and how long the wait blocked after. */
  readonly history: { key: string; sleptMs: number; blockedMs: number; totalMs: number }[] = [];
  /** Blocked ms of the last `floorWindow` waits (the wait floor is their minimum). */
  private readonly recentBlocked: number[] = [];

  constructor(
    readonly enabled: boolean,
    private readonly clock: PacerClock = realClock,
    private readonly opts: PacerOptions = DEFAULT_PACER,
  ) {}

  /** Call right after a submit; several submits before one wait form one key. */
  submitted(phase: string): void {
    if (!this.enabled) return;
    if (this.pending) this.pending.phases.push(phase);
    else this.pending = { phases: [phase], submittedAt: this.clock.now() };
  }

  /** Wraps the first wait after submissions: sleeps most of the expected time, then awaits `wait`. */
  async settle<T>(wait: () => Promise<T>): Promise<T> {
    const pending = this.pending;
    if (!this.enabled || !pending) return wait();
    this.pending = null;
    const key = pending.phases.join(',');
    const state = this.keys.get(key);
    const estimate = state?.estimate;
    let sleptMs = 0;
    if (estimate !== undefined && this.opts.sleepFirst) {
      const target = estimate - (this.clock.now() - pending.submittedAt);
      if (target >= this.opts.minSleepMs) {
        await this.clock.sleep(target);
        sleptMs = target;
      }
    }
    const waitStart = this.clock.now();
    const result = await pollGently(wait, this.opts.pollIntervalMs);
    const done = this.clock.now();
    const blockedMs = done - waitStart;
    const totalMs = done - pending.submittedAt;
    if (this.opts.floorWindow > 0 && sleptMs > 0 && blockedMs <= this.opts.floorShare * totalMs) {
      this.recentBlocked.push(blockedMs);
      if (this.recentBlocked.length > this.opts.floorWindow) this.recentBlocked.shift();
    }
    if (state) this.learn(state, totalMs, blockedMs - this.floorMs());
    else this.keys.set(key, { overshoots: 0, exact: [] });
    this.history.push({ key, sleptMs, blockedMs, totalMs });
    if (this.history.length > 64) this.history.shift();
    return result;
  }

  /** The wait floor: the shortest blocked time of the recent waits (0 without a window). */
  floorMs(): number {
    return this.recentBlocked.length > 0 ? Math.min(...this.recentBlocked) : 0;
  }

  /** The current estimate for a key (ms from submit to done), if any. */
  estimate(key: string): number | undefined {
    return this.keys.get(key)?.estimate;
  }

  /** A wait of a key seen before (the first wait is not learned from: it includes compiling);
   *  `blockedMs` counts from the wait floor. */
  private learn(state: KeyState, totalMs: number, blockedMs: number): void {
    const { estimate } = state;
    if (estimate === undefined) {
      state.estimate = totalMs * this.opts.initialShare;
    } else if (blockedMs > this.opts.accurateAfterMs) {
      state.estimate = estimate * (1 + this.opts.creep) + this.opts.raise * blockedMs;
      state.overshoots = 0;
      if (this.opts.exactWindow > 0) {
        state.exact.push(totalMs);
        if (state.exact.length > this.opts.exactWindow) state.exact.shift();
      }
    } else {
      // Returned at once: the device finished at some unknown time before; probe downwards, faster
      // the longer the streak (1 − shrink, doubled per overshoot in a row, at most 2^max times),
      // and at once to the shortest recent exact total when that is lower. After a slow stretch
      // (lavapipe's device time on the demo jumps 24 → 35–45 ms for a few steps, then back) the
      // raised estimate otherwise overslept three steps by 5–7 ms each (seen with timestamp
      // queries: wall 32.5 / 30.5 / 28.4 ms on a 24.8 ms device step); now it oversleeps one.
      const step = (1 - this.opts.shrink) * 2 ** Math.min(state.overshoots, this.opts.maxShrinkDoublings);
      const shrunk = estimate * Math.max(0, 1 - step);
      state.estimate = state.exact.length > 0 ? Math.min(shrunk, Math.min(...state.exact)) : shrunk;
      state.overshoots++;
    }
  }
}

/** Pacing is for CPU adapters (see the header); SDMOEC_PACING=off disables it. */
export function pacingEnabled(cpuAdapter: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.SDMOEC_PACING === 'off') return false;
  if (env.SDMOEC_PACING === 'on') return true;
  return cpuAdapter;
}

/** The poll interval for waits outside a pacer (kernel checks, benches): gentle where pacing is on. */
export function gentlePollMs(cpuAdapter: boolean, env: NodeJS.ProcessEnv = process.env): number {
  return pacingEnabled(cpuAdapter, env) ? DEFAULT_PACER.pollIntervalMs : 0;
}

let gentleDepth = 0;
let spinningSetImmediate: typeof setImmediate | undefined;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Long waits (pipeline compiles: ~1 s each on lavapipe) space their polls further: this share of
 *  the time waited so far, at most `MAX_POLL_MS`, so a compile does not keep a third of a core busy
 *  polling while the step's short waits keep their 0.1 ms. */
const POLL_GROWTH = 0.02;
const MAX_POLL_MS = 1;

/**
 * Runs `wait` (a Dawn promise) with dawn.node's event polls spaced out: dawn.node re-posts
 * ProcessEvents through the global `setImmediate` for as long as a promise is pending, so while
 * `wait` is pending `setImmediate` first blocks the thread for `intervalMs`, or 2 % of the time
 * waited so far (at most 1 ms) when that is longer (Atomics.wait: asleep in the kernel, no core
 * taken from lavapipe's workers). Latency added: at most one such interval per wait. Other
 * `setImmediate` users in the process are delayed by the same interval meanwhile. Nested and
 * concurrent waits share one patch (depth count; the first wait's start and interval); `intervalMs`
 * 0 leaves the poll as it is.
 */
export async function pollGently<T>(wait: () => Promise<T>, intervalMs: number): Promise<T> {
  if (!(intervalMs > 0)) return wait();
  if (gentleDepth++ === 0) {
    const original = globalThis.setImmediate;
    spinningSetImmediate = original;
    const start = performance.now();
    const gentle = ((callback: (...args: unknown[]) => void, ...args: unknown[]) => {
      Atomics.wait(sleeper, 0, 0, Math.max(intervalMs, Math.min(MAX_POLL_MS, POLL_GROWTH * (performance.now() - start))));
      return original(callback, ...args);
    }) as typeof setImmediate;
    globalThis.setImmediate = Object.assign(gentle, { __promisify__: original.__promisify__ });
  }
  try {
    return await wait();
  } finally {
    if (--gentleDepth === 0 && spinningSetImmediate) {
      globalThis.setImmediate = spinningSetImmediate;
      spinningSetImmediate = undefined;
    }
  }
}
