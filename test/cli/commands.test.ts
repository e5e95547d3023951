// The compiler and runtime commands as a user calls them (spawned CLI): `opt` runs passes alone
// on textual IR with located errors, `test` blesses and then locks a model's kernels (a changed
// golden fails with a diff), `run` + `eval` train a few steps and evaluate the checkpoint.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printGraph } from '../../compiler/ir/text.ts';
import { mlpLoss } from '../ir/small-graphs.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TINY = fileURLToPath(new URL('../train/fixtures/tiny.moe', import.meta.url));

function sdmoec(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/sdmoec.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sdmoec-cli-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('sdmoec opt', () => {
  it('lists every pass with a summary', () => {
    const r = sdmoec('opt', '--list');
    expect(r.code).toBe(0);
    for (const name of ['autodiff', 'simplify', 'cse', 'fuse-expert-weight', 'fuse-cross-entropy', 'fuse-matmul-add', 'optimizer']) expect(r.stdout).toMatch(new RegExp(`^${name}\\s+\\S`, 'm'));
  });

  it('runs passes on a textual IR file and prints verifiable IR', () => {
    const file = join(work, 'mlp.ir');
    writeFileSync(file, printGraph(mlpLoss()));
    const r = sdmoec('opt', '--passes=autodiff,simplify,cse', file);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/return grad\.w1 = %\d+/);
    expect(r.stdout).toMatch(/return grad\.w2 = %\d+/);
  });

  it('reports an unknown pass and a bad IR line as user errors', () => {
    const file = join(work, 'bad.ir');
    writeFileSync(file, printGraph(mlpLoss()).replace('matmul %0', 'matmul %99'));
    const unknown = sdmoec('opt', '--passes=autodif', file);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown pass 'autodif'/);
    const bad = sdmoec('opt', '--passes=cse', file);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/bad\.ir:\d+: %99 is used before it is defined/);
    expect(bad.stderr).not.toMatch(/at .*\.ts:\d+/);
  });
});

describe('sdmoec test', () => {
  it('blesses a model\'s kernels, passes unchanged, and fails with a diff when a kernel changes', () => {
    const golden = join(work, 'golden');
    const bless = sdmoec('test', TINY, '--golden', golden, '--bless', '--goldens-only');
    expect(bless.code, bless.stdout + bless.stderr).toBe(0);
    const files = readdirSync(golden).filter((f) => f.endsWith('.wgsl'));
    expect(files.length).toBeGreaterThan(20);

    const again = sdmoec('test', TINY, '--golden', golden, '--goldens-only');
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`goldens: ${files.length} kernels, ${files.length} unchanged`));

    appendFileSync(join(golden, files[0]), '// a reviewer would notice this\n');
    writeFileSync(join(golden, 'gone_kernel.wgsl'), '// no longer generated\n');
    const changed = sdmoec('test', TINY, '--golden', golden, '--goldens-only');
    expect(changed.code).toBe(1);
    expect(changed.stdout).toMatch(/DIFF\s+\S+\.wgsl/);
    expect(changed.stdout).toMatch(/^-\/\/ a reviewer would notice this$/m);
    expect(changed.stdout).toMatch(/STALE\s+gone_kernel\.wgsl/);
  });

  it('checks every kernel of the model against its CPU oracle', () => {
    const r = sdmoec('test', TINY, '--golden', join(work, 'golden-numeric'), '--bless');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const m = /numeric: (\d+) kernels at batch 1 × seq \d+ against their CPU oracles, 0 failed/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(20);
  });
});

describe('sdmoec run and eval', () => {
  it('trains a few steps, writes metrics and a checkpoint, and evaluates it', () => {
    const out = join(work, 'run');
    const run = sdmoec('run', TINY, '--out', out, '--set', 'train.steps=6', '--set', 'train.eval=3', '--set', 'train.schedule.warmup=1');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/trained tiny for 6 steps/);
    expect(run.stdout).toMatch(/bits per byte/);
    expect(run.stdout).toMatch(new RegExp(`checkpoint: .*step-000006`));
    const ev = sdmoec('eval', out, '--json', '--batches', '2');
    expect(ev.code, ev.stderr).toBe(0);
    const metrics = JSON.parse(ev.stdout) as { step: number; loss: number; bits_per_byte: number };
    expect(metrics.step).toBe(6);
    expect(metrics.loss).toBeGreaterThan(0);
    expect(metrics.bits_per_byte).toBeGreaterThan(0);
  });

  it('reports a missing checkpoint as a user error', () => {
    const r = sdmoec('eval', join(work, 'nowhere'));
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/internal error/);
  });
});
