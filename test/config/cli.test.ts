// The CLI as a user runs it: `node bin/sdmoec.js check|compile …`, exit codes (0 ok, 1 user
// error) and message format (file:line:col, caret, no stack trace).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'sdmoec-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function sdmoec(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin/sdmoec.js'), ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function noStackTrace(text: string): void {
  expect(text).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(text).not.toContain('internal error');
}

describe('sdmoec check', () => {
  it('exits 0 and reports ok for valid files', () => {
    const r = sdmoec('check', 'models/demo.moe', 'models/qwen_tiny.moe');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^models\/demo\.moe: ok \(models: demo, demo_sd \(SD\); train: demo, \d+ steps\)$/m);
    expect(r.stdout).toMatch(/^models\/qwen_tiny\.moe: ok/m);
  });

  it('exits 1 with located diagnostics, a caret and a count for invalid files', () => {
    const bad = join(work, 'bad.moe');
    writeFileSync(bad, 'model m {\n  vocab 1024  dim 64  layers 2\n  moe { experst 4  top_k 2  expert_hidden 128 }\n}\n');
    const r = sdmoec('check', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}:3:9: error: unknown key 'experst' in moe, did you mean 'experts'?`);
    expect(r.stderr).toContain(' 3 |   moe { experst 4  top_k 2  expert_hidden 128 }\n   |         ^^^^^^^\n');
    expect(r.stderr).toMatch(/^1 error$/m);
    noStackTrace(r.stderr);
  });

  it('validates --set overrides with a located "did you mean"', () => {
    const r = sdmoec('check', 'models/demo.moe', '--set', 'train.optimizer.lrr=4e-4');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--set:1:17: error: unknown key train.optimizer.lrr, did you mean lr?');
    noStackTrace(r.stderr);
    const ok = sdmoec('check', 'models/demo.moe', '--set', 'train.optimizer.lr=4e-4', '--set', 'model.spectral=off', '--print');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('adamw(lr = 0.0004');
    expect(ok.stdout).toContain('  spectral off\n');
  });

  it('prints JSON with --json', () => {
    const r = sdmoec('check', '--json', 'models/deepseek_tiny.moe');
    expect(r.code).toBe(0);
    const config = JSON.parse(r.stdout);
    expect(config.models.map((m: { name: string }) => m.name)).toEqual(['deepseek_tiny', 'deepseek_tiny_sd']);
  });

  it('exits 1 for a missing file and for warnings under --werror', () => {
    const missing = sdmoec('check', join(work, 'nope.moe'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read');
    const warn = join(work, 'warn.moe');
    writeFileSync(warn, 'model m { vocab 1024 dim 64 layers 2 moe { experts 4 top_k 4 expert_hidden 64 } }\n');
    expect(sdmoec('check', warn).code).toBe(0);
    const strict = sdmoec('check', '--werror', warn);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain(`${warn}:1:60: warning: moe.top_k equals moe.experts`);
  });
});

describe('sdmoec compile', () => {
  it('writes the normalised config and the summary, exit 0', () => {
    const out = join(work, 'demo');
    const r = sdmoec('compile', 'models/demo.moe', '-o', out, '--max-binding-size', '134217728');
    expect(r.code).toBe(0);
    for (const f of ['config.json', 'config.moe', 'summary.md', 'summary.json']) expect(existsSync(join(out, f))).toBe(true);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.train.model).toBe('demo');
    const [summary] = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary.params.total).toBeGreaterThan(summary.params.activePerToken);
    expect(r.stdout).toMatch(/^demo: [\d.]+K parameters, [\d.]+K active per token/m);
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toContain('| active per token |');
  });

  it('names the buffer that exceeds the binding limit, exit 1 (warnings with --allow-oversize)', () => {
    const out = join(work, 'small');
    const r = sdmoec('compile', 'models/demo.moe', '-o', out, '--max-binding-size', '65536');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/buffer 'logits' \[512×1024\] f32 needs 2\.0 MiB, above maxStorageBufferBindingSize 64\.0 KiB/);
    noStackTrace(r.stderr);
    const planned = sdmoec('compile', 'models/demo.moe', '-o', out, '--max-binding-size', '65536', '--allow-oversize');
    expect(planned.code).toBe(0);
    expect(planned.stderr).toContain("warning: buffer 'logits'");
  });

  it('refuses invalid input and bad flags with exit 1', () => {
    expect(sdmoec('compile', 'models/demo.moe').code).toBe(1); // no -o
    const bad = sdmoec('compile', 'models/demo.moe', '-o', join(work, 'x'), '--max-binding-size', 'lots');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--max-binding-size must be a positive size in bytes');
    const invalid = sdmoec('compile', 'models/demo.moe', '-o', join(work, 'y'), '--set', 'model.dim=63', '--max-binding-size', '134217728');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('nothing written');
    expect(existsSync(join(work, 'y'))).toBe(false);
  });
});
