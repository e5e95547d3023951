// `sdmoec compile` at paper scale through the CLI: Qwen-2B-A0.8B (top-k lowered to 8 until the
// routing branch lifts the router's limit) planned for a 2 GiB binding limit writes its IR,
// kernels and manifest, and prints the peak device memory and the SD proxy choice; a vocabulary
// whose 64-row logit chunk cannot fit the given limit is refused naming the `logits` buffer.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'sdmoec-compile-paper-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function sdmoec(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin/sdmoec.js'), ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('sdmoec compile at paper scale', () => {
  it('plans Qwen-2B-A0.8B within --max-binding-size 2GiB and reports peak memory and the proxy choice', () => {
    const out = join(work, 'qwen');
    const r = sdmoec('compile', 'models/qwen_2b_a0.8b.moe', '-o', out, '--max-binding-size', '2GiB');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/qwen_2b_sd: peak device memory [\d.]+ GiB \(params, gradients, optimizer state 37\.0 GiB; /); // f32 params, grads, accumulators (grad_accum 32), two Adam moments
    expect(r.stdout).toMatch(/largest buffer [\d.]+ (MiB|GiB) \(binding limit 2\.0 GiB\); does not fit 24\.0 GiB of device memory/);
    expect(r.stdout).toMatch(/qwen_2b_sd: SD proxies W_c \+ W_u\(i\) (materialised|fused into the expert GEMMs \(fuse-expert-weight\)): .*GiB/);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(JSON.stringify(manifest)).toContain('lm_head_xent');
    expect(existsSync(join(out, 'step.ir'))).toBe(true);
    expect(readFileSync(join(out, 'step.ir'), 'utf8')).toContain('lm_head_xent_fused');
  }, 900_000);

  it('refuses a limit below one 64-row chunk of logits, naming the buffer', () => {
    const r = sdmoec('compile', 'models/demo.moe', '-o', join(work, 'small'), '--set', 'model.vocab=32768', '--set', 'model.dim=32', '--max-binding-size', '6MiB');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/buffer 'logits' \[512×32768\] f32 needs 64\.0 MiB, above maxStorageBufferBindingSize 6\.0 MiB/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  }, 300_000);
});
