// CompletionPacer (runtime/pacer.ts): sleeps before waiting on the device instead of letting
// dawn.node spin, with an estimate learned from the waits. Driven here by a fake clock and a fake
// device that finishes a fixed time after each submit, so the controller's behaviour is exact.
import { describe, expect, it } from 'vitest';
import { CompletionPacer, DEFAULT_PACER, gentlePollMs, pacingEnabled, pollGently, type PacerClock, type PacerOptions } from '../../runtime/pacer.ts';

/** A clock whose sleep and wait advance virtual time; the "device" is done `deviceMs` after submit,
 *  and a wait returns `latencyMs` after that (or after it starts, on a finished device). */
function fakeDevice(deviceMs: () => number, latencyMs: () => number = () => 0.1) {
  let now = 0;
  let doneAt = 0;
  const clock: PacerClock = { now: () => now, sleep: async (ms) => void (now += ms) };
  return {
    clock,
    submit: () => void (doneAt = now + deviceMs()),
    wait: async () => void (now = Math.max(now, doneAt) + latencyMs()),
    get now() {
      return now;
    },
  };
}

async function steps(pacer: CompletionPacer, dev: ReturnType<typeof fakeDevice>, n: number, phase = 'step'): Promise<number[]> {
  const totals: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = dev.now;
    dev.submit();
    pacer.submitted(phase);
    await pacer.settle(dev.wait);
    totals.push(dev.now - t0);
  }
  return totals;
}

describe('CompletionPacer', () => {
  it('does not sleep on the first two waits of a key, then converges near the device time', async () => {
    const dev = fakeDevice(() => 30);
    const pacer = new CompletionPacer(true, dev.clock);
    await steps(pacer, dev, 60);
    expect(pacer.history[0].sleptMs).toBe(0);
    expect(pacer.history[1].sleptMs).toBe(0);
    expect(pacer.history[2].sleptMs).toBeGreaterThan(0);
    const last = pacer.history.slice(-20);
    // Every wait after convergence ends within a few percent of the device time: slept close to it,
    // and blocked (spun) only briefly.
    for (const h of last) {
      expect(h.totalMs).toBeLessThan(30 * 1.06);
      expect(h.sleptMs).toBeGreaterThan(30 * 0.8);
    }
  });

  it('recovers from a first estimate far too long (a step that included compiling)', async () => {
    let first = true;
    const dev = fakeDevice(() => (first ? ((first = false), 400) : 20));
    const pacer = new CompletionPacer(true, dev.clock);
    const totals = await steps(pacer, dev, 120);
    expect(totals[0]).toBeGreaterThan(399);
    expect(Math.max(...totals.slice(-30))).toBeLessThan(20 * 1.06);
  });

  it('unlearns a sleep taught by one slow step within a few steps (load spike in the second step)', async () => {
    let n = 0;
    // The first step compiles (not learned), the second ran under a load spike: estimate ≈ 4× the device.
    const dev = fakeDevice(() => (++n === 2 ? 250 : 50));
    const pacer = new CompletionPacer(true, dev.clock);
    const totals = await steps(pacer, dev, 16);
    expect(pacer.history[2].sleptMs).toBeGreaterThan(150);
    // A fixed 3 % per step would still sleep > 100 ms at step 16; the accelerating shrink is back
    // near the device time within a handful of steps and stays there.
    expect(Math.max(...totals.slice(-6))).toBeLessThan(50 * 1.25);
    expect(Math.min(...pacer.history.slice(-6).map((h) => h.sleptMs))).toBeGreaterThan(50 * 0.5);
  });

  it('follows the device when it gets slower', async () => {
    let ms = 10;
    const dev = fakeDevice(() => ms);
    const pacer = new CompletionPacer(true, dev.clock);
    await steps(pacer, dev, 40);
    ms = 40;
    await steps(pacer, dev, 40);
    expect(pacer.estimate('step')!).toBeGreaterThan(40 * 0.8);
    expect(pacer.estimate('step')!).toBeLessThan(40 * 1.1);
  });

  it('does not chase a device whose time swings from step to step into oversleeping', async () => {
    // lavapipe's demo step swings 25–45 ms; a deterministic stand-in (LCG), the same for both pacers.
    const run = async (opts?: PacerOptions) => {
      let x = 12345;
      const times: number[] = [];
      const dev = fakeDevice(() => {
        x = (x * 1103515245 + 12345) % 2 ** 31;
        times.push(25 + (20 * x) / 2 ** 31);
        return times[times.length - 1];
      });
      const pacer = new CompletionPacer(true, dev.clock, opts);
      const totals = await steps(pacer, dev, 200);
      const excess = totals.slice(50).map((t, i) => t - times[50 + i]);
      return excess.reduce((a, b) => a + b, 0) / excess.length;
    };
    const current = await run();
    const chasing = await run({ ...DEFAULT_PACER, shrink: 0.97, raise: 0.5, creep: 0 });
    // Mean ms a wait ends after the device finished: the former controller's oversleeps vs now.
    expect(current).toBeLessThan(2);
    expect(chasing).toBeGreaterThan(1.8 * current); // 3.0 vs 1.3 ms when written
  });

  it('oversleeps one step, not three, after a stretch of slow steps (drops to the recent exact totals)', async () => {
    // lavapipe's demo: 24 ms device steps with stretches of 6 at 40 ms (timestamp queries, ad hoc).
    const run = async (opts?: PacerOptions) => {
      let i = 0;
      const times: number[] = [];
      const dev = fakeDevice(() => {
        const slow = Math.floor(i / 40) % 2 === 1 && i % 40 < 6;
        i++;
        times.push(slow ? 40 : 24);
        return times[times.length - 1];
      });
      const pacer = new CompletionPacer(true, dev.clock, opts);
      const totals = await steps(pacer, dev, 400);
      // Steps that ended more than 2 ms after their device finished.
      return totals.slice(20).filter((t, k) => t - times[20 + k] > 2).length;
    };
    const now = await run();
    const before = await run({ ...DEFAULT_PACER, exactWindow: 0 });
    expect(now).toBeLessThanOrEqual(5); // one per stretch: 5 stretches in 400 steps
    expect(before).toBeGreaterThan(2 * now); // 15 against 5 when written (a noisy 24–25.5 ms device)
  });

  it('does not creep upwards when a wait on a finished device itself takes longer than accurateAfterMs', async () => {
    // Seen on lavapipe in a slow VM: waits after the sleep blocked 0.7–1.2 ms, every one counted as
    // "still busy", and sleeps of 219–233 ms came with steps rising 189 → 246 ms over 30 steps.
    const run = async (opts?: PacerOptions) => {
      let x = 777;
      const dev = fakeDevice(
        () => 90,
        () => {
          x = (x * 1103515245 + 12345) % 2 ** 31;
          return 0.7 + (0.7 * x) / 2 ** 31;
        },
      );
      const pacer = new CompletionPacer(true, dev.clock, opts);
      const totals = await steps(pacer, dev, 300);
      return totals.slice(-50).reduce((a, b) => a + b, 0) / 50;
    };
    expect(await run()).toBeLessThan(90 * 1.05);
    // Without the wait floor (the controller before it), the same device: the mean step ran away.
    expect(await run({ ...DEFAULT_PACER, floorWindow: 0 })).toBeGreaterThan(90 * 1.5);
  });

  it('keeps one estimate per sequence of phases submitted before a wait', async () => {
    const dev = fakeDevice(() => 12);
    const pacer = new CompletionPacer(true, dev.clock);
    for (let i = 0; i < 30; i++) {
      dev.submit();
      pacer.submitted('micro');
      dev.submit();
      pacer.submitted('last');
      await pacer.settle(dev.wait);
    }
    expect(pacer.estimate('micro,last')).toBeDefined();
    expect(pacer.estimate('step')).toBeUndefined();
  });

  it('disabled: never sleeps and waits directly', async () => {
    const dev = fakeDevice(() => 30);
    const pacer = new CompletionPacer(false, dev.clock);
    await steps(pacer, dev, 10);
    expect(pacer.history).toEqual([]);
    expect(pacer.estimate('step')).toBeUndefined();
  });

  it('is on for CPU adapters unless SDMOEC_PACING says otherwise', () => {
    expect(pacingEnabled(true, {})).toBe(true);
    expect(pacingEnabled(false, {})).toBe(false);
    expect(pacingEnabled(true, { SDMOEC_PACING: 'off' })).toBe(false);
    expect(pacingEnabled(false, { SDMOEC_PACING: 'on' })).toBe(true);
  });
});

/** A wait that, like dawn.node's, resolves after `hops` back-to-back setImmediate callbacks. */
function immediateHops(hops: number): Promise<number> {
  return new Promise((resolve) => {
    let left = hops;
    const hop = () => (--left === 0 ? resolve(hops) : setImmediate(hop));
    setImmediate(hop);
  });
}

describe('pollGently', () => {
  it('spaces the setImmediate re-posts of a pending wait by the interval, and restores setImmediate after', async () => {
    const original = globalThis.setImmediate;
    const t0 = performance.now();
    expect(await pollGently(() => immediateHops(10), 2)).toBe(10);
    const gentleMs = performance.now() - t0;
    expect(globalThis.setImmediate).toBe(original);
    // Ten hops, each preceded by a 2 ms blocking sleep (Atomics.wait never wakes early here).
    expect(gentleMs).toBeGreaterThanOrEqual(19);
    const t1 = performance.now();
    await pollGently(() => immediateHops(10), 0);
    expect(performance.now() - t1).toBeLessThan(gentleMs / 2);
  });

  it('spaces the polls of a long wait further as it goes on (at most 1 ms), so a compile does not spin', async () => {
    // A wait that ends on a 150 ms timer while polling as dawn.node does (re-posting itself).
    let hops = 0;
    const wait = () =>
      new Promise<void>((resolve) => {
        let done = false;
        setTimeout(() => (done = true), 150);
        const hop = () => (done ? resolve() : (hops++, setImmediate(hop)));
        setImmediate(hop);
      });
    await pollGently(wait, 0.01);
    // At the 0.01 ms floor throughout: ~1200 polls here (each sleep overshoots to ~0.1 ms); growing
    // at 2 % of the time waited: ~200.
    expect(hops).toBeGreaterThan(50);
    expect(hops).toBeLessThan(600);
  });

  it('keeps one patch across nested and concurrent waits and restores it after the last, even on failure', async () => {
    const original = globalThis.setImmediate;
    const seen: boolean[] = [];
    const inner = pollGently(async () => {
      seen.push(globalThis.setImmediate !== original);
      await immediateHops(2);
      seen.push(globalThis.setImmediate !== original);
    }, 0.5);
    const failing = pollGently(async () => {
      await immediateHops(1);
      throw new Error('device lost');
    }, 0.5);
    await expect(failing).rejects.toThrow('device lost');
    // The failed wait finished first; the other is still pending, so the patch stays.
    expect(globalThis.setImmediate).not.toBe(original);
    await inner;
    expect(seen).toEqual([true, true]);
    expect(globalThis.setImmediate).toBe(original);
  });

  it('is on where pacing is (CPU adapters unless SDMOEC_PACING=off)', () => {
    expect(gentlePollMs(true, {})).toBeGreaterThan(0);
    expect(gentlePollMs(false, {})).toBe(0);
    expect(gentlePollMs(true, { SDMOEC_PACING: 'off' })).toBe(0);
    expect(gentlePollMs(false, { SDMOEC_PACING: 'on' })).toBeGreaterThan(0);
  });
});
