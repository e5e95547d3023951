// The re-basing thread (runtime/train/rebase-worker.ts): a request it has gone through comes back
// whole from the thread, bit for bit what rebase() gives on the main thread, in job order, with the
// arrays a job left unchanged handed back as the caller's own; a request claimed at once is computed
// on the main thread, equally exact; a late result of a claimed request never leaks into the next
// one; a closed thread only moves the work to the main thread; SDMOEC_REBASE_THREAD=off disables it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebase, type RebaseOptions, type RebaseResult } from '../../runtime/sd/rebase.ts';
import { localTicket, rebaseThreadWanted, RebaseWorker, settleWithin } from '../../runtime/train/rebase-worker.ts';
import { Rng } from '../../base/rng.ts';

function jobs(seed: string, residual: RebaseOptions['residual'], reproject: boolean): RebaseOptions[] {
  const rng = new Rng(seed);
  const normal = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * 0.05);
  return [[24, 40], [40, 24], [32, 32]].map(([rows, cols]) => ({
    common: normal(rows * cols),
    unique: residual === 'fold' || reproject ? normal(3 * rows * cols) : null,
    uk: normal(rows * 4),
    vk: normal(cols * 4),
    rows,
    cols,
    experts: 3,
    rank: 4,
    residual,
    reproject,
  }));
}

function expectSame(got: readonly RebaseResult[], want: readonly RebaseResult[]): void {
  expect(got).toHaveLength(want.length);
  for (const [i, r] of got.entries()) {
    for (const key of ['common', 'unique', 'uk', 'vk'] as const) expect(r[key] === null ? null : Array.from(r[key]!), `${i}.${key}`).toEqual(want[i][key] === null ? null : Array.from(want[i][key]!));
    expect(r.singularValues).toEqual(want[i].singularValues);
    expect([r.residualNorm, r.energyTopK, r.basisOverlap, Array.from(r.reprojectedNorms), r.changed]).toEqual([want[i].residualNorm, want[i].energyTopK, want[i].basisOverlap, Array.from(want[i].reprojectedNorms), want[i].changed]);
  }
}

describe('RebaseWorker', () => {
  let worker: RebaseWorker;
  beforeAll(async () => {
    worker = RebaseWorker.start();
    await worker.ready;
  });
  afterAll(() => worker.close());

  for (const [residual, reproject] of [['keep', false], ['fold', true], ['discard', false]] as const) {
    it(`computes a request it was given time for on the thread, bit for bit rebase() (residual ${residual}${reproject ? ', reproject' : ''})`, async () => {
      const input = jobs(`${residual}${reproject}`, residual, reproject);
      const want = input.map((j) => rebase(j));
      const ticket = worker.start(input);
      await ticket.settled();
      const got = ticket.finish();
      expect(ticket.fromThread()).toBe(input.length);
      expectSame(got, want);
      // What a job left unchanged is the caller's own array, not a copy that came back.
      for (const [i, r] of got.entries()) {
        if (!r.changed.common) expect(r.common).toBe(input[i].common);
        if (!r.changed.unique) expect(r.unique).toBe(input[i].unique);
      }
    });
  }

  it('computes what the thread has not delivered on the main thread when finished at once, and drops late results', async () => {
    const first = jobs('claimed', 'fold', true);
    const ticket = worker.start(first);
    const got = ticket.finish();
    expect(ticket.fromThread()).toBeLessThanOrEqual(first.length);
    expectSame(got, first.map((j) => rebase(j)));
    expect(() => ticket.finish()).toThrow(/twice/);
    // The next request gets its own results only, whatever the thread still sends for the first.
    const second = jobs('next', 'keep', false);
    const next = worker.start(second);
    await settleWithin(next, 60_000);
    expectSame(next.finish(), second.map((j) => rebase(j)));
  });

  it('settleWithin gives up after its time and finish still answers', async () => {
    const input = jobs('timeout', 'keep', false);
    const ticket = worker.start(input);
    const t0 = performance.now();
    await settleWithin(ticket, 0);
    expect(performance.now() - t0).toBeLessThan(1000);
    expectSame(ticket.finish(), input.map((j) => rebase(j)));
  });

  it('an abandoned request computes nothing and leaves the next request whole', async () => {
    const dropped = worker.start(jobs('abandoned', 'fold', true));
    dropped.abandon();
    await dropped.settled();
    expect(dropped.fromThread()).toBe(0);
    const input = jobs('after-abandon', 'keep', false);
    const next = worker.start(input);
    await next.settled();
    const got = next.finish();
    expect(next.fromThread()).toBe(input.length);
    expectSame(got, input.map((j) => rebase(j)));
  });

  it('after close every request is computed on the main thread', async () => {
    const closed = RebaseWorker.start();
    await closed.ready;
    await closed.close();
    const input = jobs('closed', 'discard', false);
    const ticket = closed.start(input);
    await ticket.settled();
    expectSame(ticket.finish(), input.map((j) => rebase(j)));
    expect(ticket.fromThread()).toBe(0);
  });

  it('the local ticket computes on the calling thread; SDMOEC_REBASE_THREAD=off turns the thread off', () => {
    const input = jobs('local', 'keep', false);
    const ticket = localTicket(input);
    expectSame(ticket.finish(), input.map((j) => rebase(j)));
    expect(ticket.fromThread()).toBe(0);
    expect(rebaseThreadWanted({})).toBe(true);
    expect(rebaseThreadWanted({ SDMOEC_REBASE_THREAD: 'off' })).toBe(false);
  });
});
