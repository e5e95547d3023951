// `sdmoec run` on a run that blows up (tiny model, learning rate 100, clipping off): the divergence
// guard stops it within the first steps (it judges from step 1), exit 1 without a stack trace,
// naming the step, the reason, the last good checkpoint and the command that resumes it; nothing
// is saved for the diverged step.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TINY = fileURLToPath(new URL('../train/fixtures/tiny.moe', import.meta.url));

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sdmoec-diverge-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('sdmoec run stops a diverging run', () => {
  it('exits 1 at an early step with the reason, the last good checkpoint and how to resume', () => {
    const out = join(work, 'run');
    const sets = ['train.steps=20', 'train.optimizer.lr=100', 'train.clip_grad=off', 'train.checkpoint=1', 'train.schedule.warmup=0', 'train.eval=off'];
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/sdmoec.js'), 'run', TINY, '--out', out, ...sets.flatMap((s) => ['--set', s])], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 600_000,
    });
    expect(r.status, r.stdout + r.stderr).toBe(1);
    const m = /training stopped at step (\d+) \((above-uniform|explosion|non-finite)\): training diverged at step \1: /.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const step = Number(m![1]);
    // Step 1 is evaluated before any update; the first update at lr 100 wrecks the model.
    expect(step).toBeGreaterThanOrEqual(2);
    expect(step).toBeLessThanOrEqual(4);
    const last = join(out, `step-${String(step - 1).padStart(6, '0')}`);
    expect(r.stderr).toContain(`the last good checkpoint is ${last}; resume it with: sdmoec run ${TINY}`);
    expect(r.stderr).toContain(`--resume ${out}`);
    expect(existsSync(last)).toBe(true);
    expect(existsSync(join(out, `step-${String(step).padStart(6, '0')}`))).toBe(false);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
    expect(r.stderr).not.toMatch(/internal error/);
  });
});
