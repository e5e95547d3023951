// Progress display: plain lines on a non-TTY stream (first update, every N steps, after the time
// interval, the final step), an ETA from an injected clock, and a cli-progress bar on a TTY
// stream that shows the loss and survives interleaved log messages.

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TrainingProgress, formatDuration } from '../../runtime/metrics/progress.ts';

class Capture extends Writable {
  text = '';
  constructor(readonly isTTY: boolean, readonly columns = 120) {
    super();
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

function fakeClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

describe('TrainingProgress (plain mode)', () => {
  it('prints the first step, every N steps and the last step', () => {
    const out = new Capture(false);
    const clock = fakeClock();
    const p = new TrainingProgress({ total: 100, stream: out, everySteps: 25, intervalMs: 3_600_000, now: clock.now });
    for (let step = 1; step <= 100; step++) {
      clock.advance(200);
      p.update(step, { loss: 10 / step, tokensPerSec: 2048 });
    }
    p.stop();
    const lines = out.text.trim().split('\n');
    expect(lines.map((l) => Number(/^step (\d+)\/100 /.exec(l)![1]))).toEqual([1, 26, 51, 76, 100]);
    expect(lines[1]).toContain(`loss ${(10 / 26).toFixed(4)}`);
    expect(lines[1]).toContain('tok/s 2048');
    // 0.2 s per step since the first update, 74 steps to go.
    expect(lines[1]).toContain(`eta ${formatDuration(0.2 * 74)}`);
  });

  it('also prints when the interval has passed, and the final step on stop()', () => {
    const out = new Capture(false);
    const clock = fakeClock();
    const p = new TrainingProgress({ total: 1000, startStep: 500, stream: out, everySteps: 1000, intervalMs: 5000, now: clock.now });
    for (let step = 501; step <= 530; step++) {
      clock.advance(1000);
      p.update(step, { loss: NaN });
    }
    p.log('eval: loss 3.2');
    p.stop();
    const lines = out.text.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('step ')).map((l) => Number(/^step (\d+)/.exec(l)![1]))).toEqual([501, 506, 511, 516, 521, 526, 530]);
    expect(lines[0]).toContain('loss NaN');
    expect(lines).toContain('eval: loss 3.2');
  });

  it('formats durations readably', () => {
    expect(formatDuration(59.4)).toBe('59s');
    expect(formatDuration(61)).toBe('1m01s');
    expect(formatDuration(3 * 3600 + 5 * 60)).toBe('3h05m');
    expect(formatDuration(NaN)).toBe('?');
  });
});

describe('TrainingProgress (TTY mode)', () => {
  it('draws a bar with step, loss, tokens/s and log lines', () => {
    const out = new Capture(true);
    const clock = fakeClock();
    const p = new TrainingProgress({ total: 50, stream: out, now: clock.now });
    for (let step = 1; step <= 50; step++) {
      clock.advance(100);
      p.update(step, { loss: 1.5, tokensPerSec: 777 });
    }
    p.log('checkpoint saved to runs/x/step-000050');
    p.stop();
    expect(out.text).toContain('step 50/50');
    expect(out.text).toContain('loss 1.5000');
    expect(out.text).toContain('777 tok/s');
    expect(out.text).toContain('checkpoint saved to runs/x/step-000050');
    expect(out.text).toMatch(/\x1b\[/); // cursor control: it really is the interactive bar
  });
});
