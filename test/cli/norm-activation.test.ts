// `sdmoec run` smoke tests for a model off the RMSNorm + SwiGLU default: LayerNorm with non-gated
// GELU experts (plus a gated shared expert and a dense first layer), baseline and SD-MoE (whose
// default targets are then expert.up and expert.down). A few steps through the spawned CLI: the
// run succeeds, the loss falls, the checkpoint holds the LayerNorm biases and no gate matrices,
// and `check` refuses an expert.gate spectral target with a located error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../train/fixtures/tiny_ln_gelu.moe', import.meta.url));

function sdmoec(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/sdmoec.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const trainLosses = (runDir: string): number[] =>
  readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { type: string; loss: number })
    .filter((e) => e.type === 'train')
    .map((e) => e.loss);

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sdmoec-normact-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('sdmoec run: layernorm + gelu', () => {
  for (const model of ['tiny_ln_gelu', 'tiny_ln_gelu_sd']) {
    it(`${model}: trains 12 steps, the loss falls`, () => {
      const out = join(work, model);
      const r = sdmoec('run', FIXTURE, '--out', out, '--set', `train.model=${model}`);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`trained ${model} for 12 steps`));
      const losses = trainLosses(out);
      expect(losses).toHaveLength(12);
      expect(losses.every(Number.isFinite)).toBe(true);
      const first = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
      const last = losses.slice(-3).reduce((a, b) => a + b) / 3;
      expect(last).toBeLessThan(first - 0.05);
      // The checkpoint's params: LayerNorm weight and bias per norm, no gate matrix anywhere.
      const ckpt = readFileSync(join(out, 'step-000012', 'model.safetensors'));
      const header = JSON.parse(ckpt.subarray(8, 8 + Number(ckpt.readBigUInt64LE(0))).toString('utf8')) as Record<string, unknown>;
      const names = Object.keys(header);
      expect(names).toEqual(expect.arrayContaining(['final_norm', 'final_norm.bias', 'layers.0.ffn.up', 'layers.1.moe.shared.up']));
      expect(names.filter((n) => /\.gate$|\.gate\./.test(n))).toEqual([]);
      if (model.endsWith('_sd')) expect(names).toEqual(expect.arrayContaining(['layers.1.moe.experts.up.common', 'layers.1.moe.experts.down.unique']));
    });
  }

  it('check refuses an expert.gate spectral target for the non-gated activation, located', () => {
    const r = sdmoec('check', FIXTURE, '--set', 'model.spectral.targets=expert.gate');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--set:1:\d+: error: spectral target 'expert\.gate' needs a gated activation \(swiglu or geglu\); moe\.activation is gelu/);
  });
});
