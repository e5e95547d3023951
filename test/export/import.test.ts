// `sdmoec import`: small config.json fixtures written from the documented fields of each
// architecture (test/export/fixtures) become .moe files that pass `check` with the mapped values,
// and every field the language cannot express is reported (stderr and a comment), none dropped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkFile } from '../../compiler/config/index.ts';
import type { ModelConfig } from '../../compiler/config/types.ts';
import { importHfConfig } from '../../runtime/export/import.ts';
import { ROOT } from './support.ts';

const FIXTURES = join(ROOT, 'test/export/fixtures');
let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sdmoec-import-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function imported(name: string): { model: ModelConfig; reported: string[]; text: string } {
  const r = importHfConfig(join(FIXTURES, `${name}.json`));
  const file = join(work, `${name}.moe`);
  writeFileSync(file, r.text);
  const checked = checkFile(file);
  expect(checked.config, JSON.stringify(checked.diagnostics)).toBeTruthy();
  return { model: checked.config!.models[0], reported: r.reported, text: r.text };
}

describe('import config.json', () => {
  it('Mixtral: everything expressible', () => {
    const { model, reported } = imported('mixtral');
    expect(reported).toEqual([]);
    expect(model).toMatchObject({ vocab: 32000, dim: 256, layers: 4, maxSeq: 4096, attention: { heads: 8, kvHeads: 2, headDim: 32, ropeTheta: 1e6 }, norm: { eps: 1e-5 } });
    expect(model.moe).toMatchObject({ experts: 8, topK: 2, expertHidden: 512, shared: null });
    expect(model.moe.router).toMatchObject({ score: 'softmax', normalizeTopK: true, auxLoss: { coef: 0.02 } });
  });

  it('Qwen2-MoE: gated shared expert, dense first layer; q/k/v biases reported', () => {
    const { model, reported } = imported('qwen2_moe');
    expect(model.moe.shared).toEqual({ count: 1, hidden: 512, gated: true });
    expect(model).toMatchObject({ denseLayers: 1, denseHidden: 1024 });
    expect(model.moe.router.normalizeTopK).toBe(false);
    expect(reported).toEqual([expect.stringMatching(/^qkv_bias = true: /)]);
  });

  it('Qwen3-MoE and OLMoE: QK-norm reported', () => {
    const q3 = imported('qwen3_moe');
    expect(q3.model.attention.headDim).toBe(64);
    expect(q3.model.moe.router.normalizeTopK).toBe(true);
    expect(q3.reported).toEqual([expect.stringMatching(/q_norm, k_norm/)]);
    const ol = imported('olmoe');
    expect(ol.model.moe).toMatchObject({ experts: 64, topK: 8, expertHidden: 128 });
    expect(ol.reported).toEqual([expect.stringMatching(/q_norm, k_norm/)]);
  });

  it('DeepSeek-V2/V3: shared experts, dense layers, groups, scale, sigmoid; MLA and the bias rate reported', () => {
    const v2 = imported('deepseek_v2');
    expect(v2.model.moe.shared).toEqual({ count: 2, hidden: 128, gated: false });
    expect(v2.model.denseLayers).toBe(1);
    expect(v2.reported.map((r) => r.split(' ')[0]).sort()).toEqual(['kv_lora_rank', 'qk_nope_head_dim', 'qk_rope_head_dim', 'seq_aux', 'v_head_dim']);
    const v3 = imported('deepseek_v3');
    expect(v3.model.moe.router).toMatchObject({ score: 'sigmoid', normalizeTopK: true, groups: 4, topGroups: 2, routedScale: 2.5, auxFreeBias: { rate: 0.001 } });
    expect(v3.reported.map((r) => r.split(' ')[0]).sort()).toEqual(['kv_lora_rank', 'q_lora_rank', 'qk_nope_head_dim', 'qk_rope_head_dim', 'rope_interleave', 'topk_method', 'v_head_dim']);
    expect(v3.text).toMatch(/^# {3}rope_interleave = true: /m);
  });

  it('an unknown field is reported, not dropped', () => {
    const raw = JSON.parse(readFileSync(join(FIXTURES, 'mixtral.json'), 'utf8'));
    const path = join(work, 'extra.json');
    writeFileSync(path, JSON.stringify({ ...raw, logit_softcap: 30, rope_scaling: { type: 'yarn', factor: 4 } }));
    const r = importHfConfig(path);
    expect(r.reported.map((x) => x.split(' ')[0]).sort()).toEqual(['logit_softcap', 'rope_scaling']);
  });

  it('a mistyped field is a located error', () => {
    const path = join(work, 'typed.json');
    writeFileSync(path, readFileSync(join(FIXTURES, 'mixtral.json'), 'utf8').replace('"num_local_experts": 8', '"num_local_experts": "eight"'));
    const line = readFileSync(path, 'utf8').split('\n').findIndex((l) => l.includes('num_local_experts')) + 1;
    expect(() => importHfConfig(path)).toThrow(new RegExp(`typed\\.json:${line}:3: field "num_local_experts" must be a number, got "eight"`));
  });

  it('CLI: writes a file that passes check; an unknown model_type is a user error', () => {
    const out = join(work, 'cli.moe');
    const ok = spawnSync(process.execPath, [join(ROOT, 'bin/sdmoec.js'), 'import', join(FIXTURES, 'deepseek_v3.json'), '-o', out], { encoding: 'utf8' });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/not expressible: q_lora_rank = 96/);
    const check = spawnSync(process.execPath, [join(ROOT, 'bin/sdmoec.js'), 'check', out], { encoding: 'utf8' });
    expect(check.status, check.stderr + check.stdout).toBe(0);
    const bad = join(work, 'bad.json');
    writeFileSync(bad, JSON.stringify({ model_type: 'llama' }));
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/sdmoec.js'), 'import', bad, '-o', join(work, 'bad.moe')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bad\.json:1:2: model_type "llama" is not one import reads/);
  });
});
