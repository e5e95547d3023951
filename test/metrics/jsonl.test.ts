// Metrics JSONL: lines round-trip (non-finite numbers included), a torn final line from a crash
// is dropped, corrupt lines are reported with path:line, and resuming truncates later steps so
// the resumed file is byte-identical to an uninterrupted run's.

import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../base/errors.ts';
import { MetricsWriter, readMetrics, type MetricsEntry } from '../../runtime/metrics/jsonl.ts';
import { Rng } from '../../base/rng.ts';

const dir = mkdtempSync(join(tmpdir(), 'sdmoec-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A deterministic fake run: train entries every step, eval entries every 4 steps. */
function entriesUpTo(last: number): MetricsEntry[] {
  const rng = new Rng('fake-run');
  const out: MetricsEntry[] = [];
  for (let step = 1; step <= last; step++) {
    out.push({
      type: 'train',
      step,
      loss: 5 - step * 0.1 + rng.nextFloat() * 0.01,
      lr: 1e-3 * Math.min(1, step / 3),
      grad_norm: rng.nextFloat(),
      aux: { load_balance: 1 + rng.nextFloat() * 0.1, z_loss: rng.nextFloat() * 1e-3 },
      tokens_per_expert: [[rng.nextInt(100), rng.nextInt(100)], [rng.nextInt(100), rng.nextInt(100)]],
      load_imbalance: [1 + rng.nextFloat(), 1 + rng.nextFloat()],
      tokens_per_s: 1000 + rng.nextInt(100),
    });
    if (step % 4 === 0) out.push({ type: 'eval', step, loss: 4.5 - step * 0.05, bits_per_byte: 1.9 });
  }
  return out;
}

describe('metrics JSONL', () => {
  it('round-trips entries, including NaN and infinities', () => {
    const path = join(dir, 'roundtrip.jsonl');
    const w = new MetricsWriter(path);
    const entries = entriesUpTo(5);
    const weird: MetricsEntry = { type: 'train', step: 6, loss: NaN, lr: 0, grad_norm: Infinity, aux: { z_loss: -Infinity } };
    for (const e of [...entries, weird]) w.log(e);
    w.close();
    const back = readMetrics(path);
    expect(back.slice(0, -1)).toEqual(entries);
    const last = back[back.length - 1];
    expect(Number.isNaN(last.loss)).toBe(true);
    expect((last as { grad_norm: number }).grad_norm).toBe(Infinity);
    expect((last as { aux: Record<string, number> }).aux.z_loss).toBe(-Infinity);
    expect(readFileSync(path, 'utf8').split('\n').filter(Boolean)).toHaveLength(entries.length + 1);
  });

  it('each line reaches the file before log() returns', () => {
    const path = join(dir, 'flush.jsonl');
    const w = new MetricsWriter(path);
    w.log(entriesUpTo(1)[0]);
    expect(readMetrics(path)).toEqual(entriesUpTo(1));
    w.close();
  });

  it('drops a torn final line but reports corrupt lines in the middle', () => {
    const path = join(dir, 'torn.jsonl');
    const w = new MetricsWriter(path);
    for (const e of entriesUpTo(3)) w.log(e);
    w.close();
    appendFileSync(path, '{"type":"train","step":4,"lo');
    expect(readMetrics(path)).toEqual(entriesUpTo(3));

    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"type":"train","step":1,"loss":1,"lr":0,"grad_norm":0}\nnot json\n{"step":3}\n');
    expect(() => readMetrics(bad)).toThrow(UserError);
    expect(() => readMetrics(bad)).toThrow(`${bad}:2: corrupt metrics line`);
    writeFileSync(bad, '{"type":"train","loss":1}\n');
    expect(() => readMetrics(bad)).toThrow(`${bad}:1: metrics line has no integer "step"`);
    expect(() => readMetrics(join(dir, 'missing.jsonl'))).toThrow(/metrics file not found/);
  });

  it('truncates to the resume step so a resumed run matches an uninterrupted one', () => {
    const full = entriesUpTo(12);
    const uninterrupted = join(dir, 'uninterrupted.jsonl');
    const w1 = new MetricsWriter(uninterrupted);
    for (const e of full) w1.log(e);
    w1.close();

    // The interrupted run got to step 10 and died mid-line; its last checkpoint is step 8.
    const resumed = join(dir, 'resumed.jsonl');
    const w2 = new MetricsWriter(resumed);
    for (const e of full.filter((e) => e.step <= 10)) w2.log(e);
    w2.close();
    appendFileSync(resumed, '{"type":"train","step":11,');

    const w3 = new MetricsWriter(resumed, { resumeStep: 8 });
    expect(readMetrics(resumed)).toEqual(full.filter((e) => e.step <= 8));
    for (const e of full.filter((e) => e.step > 8)) w3.log(e);
    w3.close();
    expect(readFileSync(resumed, 'utf8')).toBe(readFileSync(uninterrupted, 'utf8'));
  });

  it('a fresh run starts an empty file; resuming without a file starts one', () => {
    const path = join(dir, 'fresh.jsonl');
    writeFileSync(path, 'left over from an old run\n');
    new MetricsWriter(path).close();
    expect(readMetrics(path)).toEqual([]);
    const none = join(dir, 'resume-without-file.jsonl');
    const w = new MetricsWriter(none, { resumeStep: 3 });
    w.log(entriesUpTo(4)[4]);
    w.close();
    expect(readMetrics(none).map((e) => e.step)).toEqual([4]);
  });
});
