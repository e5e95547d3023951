// Faults a real run meets, injected into the CLI as a user runs it (child processes):
//   - kill -9 in the middle of writing a checkpoint (SDMOEC_FAULT hook) and at a random moment of
//     training; `sdmoec run --resume DIR` then finishes the run and its loss curve equals the
//     uninterrupted run's exactly; no half-written checkpoint is ever listed or picked as latest;
//   - a WebGPU error no scope caught, mid-run (SDMOEC_FAULT hook: a real validation error): the
//     run stops naming the last good checkpoint and the resume command, and resuming finishes it;
//   - a disk that fills up while a checkpoint is written (a small tmpfs): the run stops with a
//     message naming the intact previous checkpoint, which still loads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../base/rng.ts';
import { findLatestCheckpoint, listCheckpoints, loadCheckpoint } from '../../runtime/checkpoint/checkpoint.ts';
import { readMetrics, type TrainMetrics } from '../../runtime/metrics/jsonl.ts';
import { runTraining } from '../../runtime/train/trainer.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'bin/sdmoec.js');
const FIXTURE = join(ROOT, 'test/train/fixtures/tiny.moe');
const OVERRIDES = ['train.steps=16', 'train.checkpoint=4', 'train.eval=off', 'train.log=1'];
const SETS = OVERRIDES.flatMap((o) => ['--set', o]);
const quiet = { log: () => {}, progressStream: Object.assign(new PassThrough(), { isTTY: false }) };

let work: string;
let reference: number[];
const losses = (runDir: string): number[] =>
  readMetrics(join(runDir, 'metrics.jsonl'))
    .filter((e): e is TrainMetrics => e.type === 'train')
    .map((e) => e.loss);

function cli(args: string[], env: Record<string, string> = {}): { status: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 240_000 });
  return { status: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout };
}

/** Nothing but complete step directories is listed, and latest is the newest complete one. */
async function expectNoHalfWritten(runDir: string): Promise<void> {
  const listed = await listCheckpoints(runDir);
  expect(listed.every((c) => c.complete), JSON.stringify(listed)).toBe(true);
  const latest = await findLatestCheckpoint(runDir);
  if (latest) await expect(loadCheckpoint(latest)).resolves.toBeDefined();
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'sdmoec-faults-'));
  reference = losses((await runTraining({ file: FIXTURE, overrides: OVERRIDES, out: join(work, 'reference'), ...quiet })).runDir);
  expect(reference).toHaveLength(16);
}, 300_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('kill -9 and resume', () => {
  it('killed while writing a checkpoint: the partial one is never picked, resume equals the uninterrupted run', async () => {
    const dir = join(work, 'killed-in-checkpoint');
    const killed = cli(['run', FIXTURE, ...SETS, '--out', dir], { SDMOEC_FAULT: 'kill-in-checkpoint:8' });
    expect(killed.signal).toBe('SIGKILL');
    expect(readdirSync(dir).some((n) => /^\.step-000008\.tmp-\d+$/.test(n))).toBe(true); // the partial write is there…
    expect(existsSync(join(dir, 'step-000008'))).toBe(false);
    expect(await findLatestCheckpoint(dir)).toBe(join(dir, 'step-000004')); // …and never picked
    await expectNoHalfWritten(dir);
    const resumed = cli(['run', '--resume', dir]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(losses(dir)).toEqual(reference);
    await expectNoHalfWritten(dir);
    expect(readdirSync(dir).filter((n) => n.startsWith('.'))).toEqual([]); // the stale temp was cleaned up
  }, 600_000);

  it('killed at a random moment of training: resume equals the uninterrupted run', async () => {
    const rng = new Rng('kill-moment');
    for (let round = 0; round < 2; round++) {
      const dir = join(work, `killed-random-${round}`);
      const killAfter = 5 + rng.nextInt(9); // train lines logged before the kill: 5..13
      const child = spawn(process.execPath, [CLI, 'run', FIXTURE, ...SETS, '--out', dir], { cwd: ROOT, stdio: 'ignore' });
      const signal = await new Promise<NodeJS.Signals | null>((done) => {
        const poll = setInterval(() => {
          const path = join(dir, 'metrics.jsonl');
          if (existsSync(path) && losses(dir).length >= killAfter) child.kill('SIGKILL');
        }, 5);
        child.on('exit', (_code, sig) => {
          clearInterval(poll);
          done(sig);
        });
      });
      expect(signal).toBe('SIGKILL');
      await expectNoHalfWritten(dir);
      const resumed = cli(['run', '--resume', dir]);
      expect(resumed.status, resumed.stderr).toBe(0);
      expect(losses(dir)).toEqual(reference);
    }
  }, 600_000);
});

describe('device failure', () => {
  it('an uncaught device error mid-run stops with the last good checkpoint and the resume command', async () => {
    const dir = join(work, 'device-error');
    const r = cli(['run', FIXTURE, ...SETS, '--out', dir], { SDMOEC_FAULT: 'device-error:7' });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/the device failed during step 7: WebGPU error during training step 7/);
    expect(r.stderr).toContain(`the last good checkpoint is ${join(dir, 'step-000004')}; continue with: sdmoec run --resume ${dir}`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    await expectNoHalfWritten(dir);
    const resumed = cli(['run', '--resume', dir]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(losses(dir)).toEqual(reference);
  }, 600_000);
});

describe('disk full', () => {
  const mountPoint = join(tmpdir(), `sdmoec-full-${process.pid}`);
  mkdirSync(mountPoint, { recursive: true });
  // A small tmpfs needs mount privileges (root, as CI and the README's set-up run).
  const mounted = (() => {
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
    if (r.status === 0) spawnSync('umount', [mountPoint]);
    return r.status === 0;
  })();

  it.runIf(mounted)('stops with a message naming the intact previous checkpoint, which still loads', async () => {
    const last = join(work, 'reference', 'step-000016');
    const ckptBytes = readdirSync(last).reduce((s, f) => s + statSync(join(last, f)).size, 0);
    // Room for the run's small files and about one and a half checkpoints.
    const size = Math.ceil((1.6 * ckptBytes + 64 * 1024) / 4096) * 4096;
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mountPoint]).status).toBe(0);
    try {
      const dir = join(mountPoint, 'run');
      const r = cli(['run', FIXTURE, ...SETS, '--out', dir]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`step-000008: no space left to write the checkpoint \\((ENOSPC|EFBIG|EDQUOT)\\); the last complete checkpoint .*step-000004 is intact`));
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack
      const latest = await findLatestCheckpoint(dir);
      expect(latest).toBe(join(dir, 'step-000004'));
      const ckpt = await loadCheckpoint(latest!);
      expect(ckpt.step).toBe(4);
      await expectNoHalfWritten(dir);
    } finally {
      spawnSync('umount', [mountPoint]);
    }
  }, 600_000);
});
