// `sdmoec export --format hf` against an independent PyTorch forward (test/export/hf_reference.py,
// written from the transformers semantics of Mixtral and Qwen2-MoE): the exported directory must
// give the same logits as sdmoec's own device forward on the same tokens, to 1e-4 relative, for
// the demo (Mixtral), a Qwen-shaped model with a gated shared expert, a DeepSeek-shaped one
// (ungated shared experts, a dense first layer) and SD-MoE models (experts merged, no SD tensor
// written). Also: sharding with an index, refusal naming the option, a forced architecture's
// mismatches.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../base/rng.ts';
import { UserError } from '../../base/errors.ts';
import type { ModelConfig } from '../../compiler/config/types.ts';
import { readSafetensorsHeader } from '../../runtime/checkpoint/safetensors.ts';
import { matchArchitecture } from '../../runtime/export/architecture.ts';
import { exportHf } from '../../runtime/export/hf.ts';
import { loadHuggingFace } from '../../runtime/analyze/hf.ts';
import { LogitsRunner } from '../../runtime/sample/forward.ts';
import { model, randomParams, referenceLogits, relativeError, requirePythonTorch } from './support.ts';

let work: string;
beforeAll(() => {
  requirePythonTorch();
  work = mkdtempSync(join(tmpdir(), 'sdmoec-export-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const normalised = (m: ModelConfig, on = true): ModelConfig => ({ ...m, moe: { ...m.moe, router: { ...m.moe.router, normalizeTopK: on } } });
const B = 2;
const T = 16;

async function compare(m: ModelConfig, name: string, seed: number, opts: { maxShardBytes?: number } = {}): Promise<{ error: number; dir: string; tensors: string[]; architecture: string; merged: number }> {
  const params = randomParams(m, seed);
  const dir = join(work, name);
  const r = await exportHf(m, params, { outDir: dir, where: name, ...opts });
  const rng = new Rng(seed + 1);
  const tokens = Array.from({ length: B }, () => Array.from({ length: T }, () => rng.nextInt(m.vocab)));
  const runner = await LogitsRunner.open(m, { batch: B, seqLen: T }, params, name);
  const ours = await runner.logits(Int32Array.from(tokens.flat()));
  runner.destroy();
  const theirs = referenceLogits(dir, tokens, work);
  expect(theirs.length).toBe(ours.length);
  const tensors: string[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.safetensors'))) tensors.push(...(await readSafetensorsHeader(join(dir, f))).tensors.keys());
  const error = relativeError(ours, theirs);
  console.log(`${name} (${r.architecture}): max abs logit difference / max abs logit = ${error.toExponential(2)}`);
  return { error, dir, tensors, architecture: r.architecture, merged: r.merged };
}

describe('export --format hf: same logits in an independent PyTorch forward', () => {
  it('demo (un-normalised top-k, no shared expert) as Qwen2-MoE with a zero-width shared expert', async () => {
    const r = await compare(model('models/demo.moe', 'demo'), 'demo', 1);
    expect(r.architecture).toBe('qwen2_moe');
    expect(r.error).toBeLessThan(1e-4);
    const config = JSON.parse(readFileSync(join(r.dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'qwen2_moe', num_experts: 4, norm_topk_prob: false, shared_expert_intermediate_size: 0 });
  });

  it('demo with normalize_top_k as Mixtral', async () => {
    const r = await compare(normalised(model('models/demo.moe', 'demo')), 'demo_mixtral', 1);
    expect(r.architecture).toBe('mixtral');
    expect(r.error).toBeLessThan(1e-4);
    expect(r.tensors).toContain('model.layers.1.block_sparse_moe.experts.3.w2.weight');
    const config = JSON.parse(readFileSync(join(r.dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'mixtral', num_local_experts: 4, num_experts_per_tok: 2, intermediate_size: 128, hidden_size: 64 });
  });

  it('demo_sd (SD-MoE) with every expert merged and no SD tensor', async () => {
    const r = await compare(model('models/demo.moe', 'demo_sd'), 'demo_sd', 2);
    expect(r.merged).toBe(2 * 3);
    expect(r.error).toBeLessThan(1e-4);
    expect(r.tensors.filter((n) => /common|unique|U_k|V_k/.test(n))).toEqual([]);
  });

  it('qwen_tiny (gated shared expert, un-normalised top-k) as Qwen2-MoE', async () => {
    const r = await compare(model('models/qwen_tiny.moe', 'qwen_tiny'), 'qwen', 3);
    expect(r.architecture).toBe('qwen2_moe');
    expect(r.error).toBeLessThan(1e-4);
    expect(r.tensors).toContain('model.layers.0.mlp.shared_expert_gate.weight');
  });

  it('qwen_tiny_sd (SD on a Qwen shape) as Qwen2-MoE', async () => {
    const r = await compare(model('models/qwen_tiny.moe', 'qwen_tiny_sd'), 'qwen_sd', 4);
    expect(r.error).toBeLessThan(1e-4);
    expect(r.merged).toBe(4 * 3);
  });

  it('deepseek_tiny (2 ungated shared experts, dense first layer) as Qwen2-MoE', async () => {
    const r = await compare(model('models/deepseek_tiny.moe', 'deepseek_tiny'), 'deepseek', 5);
    expect(r.architecture).toBe('qwen2_moe');
    expect(r.error).toBeLessThan(1e-4);
    const config = JSON.parse(readFileSync(join(r.dir, 'config.json'), 'utf8'));
    expect(config.mlp_only_layers).toEqual([0]);
    expect(r.tensors).toContain('model.layers.0.mlp.down_proj.weight');
  });

  it('tied embeddings: no lm_head tensor, tie_word_embeddings true', async () => {
    const demo = normalised(model('models/demo.moe', 'demo'));
    const r = await compare({ ...demo, tieEmbeddings: true }, 'tied', 9);
    expect(r.architecture).toBe('mixtral');
    expect(r.error).toBeLessThan(1e-4);
    expect(r.tensors).not.toContain('lm_head.weight');
    expect(JSON.parse(readFileSync(join(r.dir, 'config.json'), 'utf8')).tie_word_embeddings).toBe(true);
  });

  it('shards above --max-shard-size with model.safetensors.index.json', async () => {
    const r = await compare(model('models/demo.moe', 'demo'), 'sharded', 6, { maxShardBytes: 300_000 });
    const files = readdirSync(r.dir);
    const shards = files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
    expect(shards.length).toBeGreaterThan(2);
    expect(files).not.toContain('model.safetensors');
    const index = JSON.parse(readFileSync(join(r.dir, 'model.safetensors.index.json'), 'utf8'));
    expect(Object.keys(index.weight_map).sort()).toEqual([...r.tensors].sort());
    expect(r.error).toBeLessThan(1e-4);
  });
});

describe('export architecture choice', () => {
  // Sigmoid scores with a shared expert: Mixtral has neither, Qwen2-MoE takes a softmax.
  const unmatched = (): ModelConfig => {
    const m = model('models/qwen_tiny.moe', 'qwen_tiny');
    return { ...m, moe: { ...m.moe, router: { ...m.moe.router, score: 'sigmoid' } } };
  };

  it('refuses when no architecture computes the function, naming the options', async () => {
    const m = unmatched();
    expect(matchArchitecture(m).match).toBeNull();
    const e = await exportHf(m, randomParams(m, 7), { outDir: join(work, 'refused'), where: 'ckpt' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UserError);
    expect((e as Error).message).toMatch(/moe\.router\.score: score sigmoid/);
    expect((e as Error).message).toMatch(/moe\.router\.normalize_top_k: false: Mixtral always renormalises/);
    expect((e as Error).message).toMatch(/--architecture/);
  });

  it('group-limited routing and the aux-free selection bias match no architecture (both change which experts run)', () => {
    const m = model('models/demo.moe', 'demo');
    const grouped: ModelConfig = { ...m, moe: { ...m.moe, router: { ...m.moe.router, groups: 2, topGroups: 1, auxFreeBias: { rate: 0.001 } } } };
    const { match, candidates } = matchArchitecture(grouped);
    expect(match).toBeNull();
    for (const c of candidates) {
      const options = c.mismatches.map((x) => x.option);
      expect(options).toContain('moe.router.groups');
      expect(options).toContain('moe.router.aux_free_bias');
    }
    // The same model without them exports exactly (as Qwen2-MoE), so the refusal is theirs.
    expect(matchArchitecture(m).match).not.toBeNull();
  });

  it('with --architecture mixtral exports and reports the mismatch (the function differs)', async () => {
    const m = model('models/demo.moe', 'demo');
    const r = await exportHf(m, randomParams(m, 8), { outDir: join(work, 'forced'), where: 'ckpt', architecture: 'mixtral' });
    expect(r.mismatches.map((x) => x.option)).toEqual(['moe.router.normalize_top_k']);
  });
});

describe('export read back by sdmoec analyze (runtime/analyze/hf.ts name tables)', () => {
  for (const [file, name, arch] of [['models/demo.moe', 'demo_sd', 'qwen2_moe'], ['models/qwen_tiny.moe', 'qwen_tiny', 'qwen2_moe']] as const) {
    it(`${name}: every expert matrix reads back as W_c + W_u(i) (or the plain experts) and the router as trained`, async () => {
      const m = model(file, name);
      const params = randomParams(m, 21);
      const dir = join(work, `analyze-${name}`);
      await exportHf(m, params, { outDir: dir, where: name });
      const loaded = await loadHuggingFace(dir);
      expect(loaded.architecture).toBe(arch);
      expect(loaded.matrices).toHaveLength(m.layers * 3);
      for (const ref of loaded.matrices) {
        const got = await ref.load();
        const base = `layers.${ref.layer}.moe.experts.${ref.matrix}`;
        const want = m.spectral
          ? Float32Array.from(params.get(`${base}.unique`)!.data, (u, i) => u + params.get(`${base}.common`)!.data[i % (ref.rows * ref.cols)])
          : params.get(base)!.data;
        expect(got.weights.length).toBe(want.length);
        let diff = 0;
        for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(got.weights[i] - want[i]));
        expect(diff).toBe(0);
        if (got.router) expect(Array.from(got.router)).toEqual(Array.from(params.get(`layers.${ref.layer}.moe.router`)!.data));
      }
    });
  }
});
