// Semantic model: defaults, extends merging, spectral on/off, fine-grained segments, overrides,
// cross-references between train/eval and models, and the example verbatim.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Source } from '../../grammar/index.ts';
import { checkSource, targetModel, type ModelConfig, type NormalisedConfig } from '../../compiler/config/index.ts';

function check(text: string, overrides: string[] = []): NormalisedConfig {
  const result = checkSource(new Source('t.moe', text), { overrides });
  const errors = result.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message);
  expect(errors).toEqual([]);
  return result.config!;
}

function errorsOf(text: string, overrides: string[] = []): string[] {
  const result = checkSource(new Source('t.moe', text), { overrides });
  expect(result.config).toBeNull();
  return result.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message);
}

const base = 'vocab 1024  dim 64  layers 2  moe { experts 4  top_k 2  expert_hidden 128 }';
const model = (name: string, config: NormalisedConfig): ModelConfig => config.models.find((m) => m.name === name)!;

describe('the issue example', () => {
  it('checks cleanly and keeps what it says', () => {
    const text = readFileSync(join(import.meta.dirname, 'issue-example.moe'), 'utf8');
    const config = check(text);
    const sd = model('qwen_tiny_sd', config);
    expect(sd.attention).toMatchObject({ heads: 8, kvHeads: 4, ropeTheta: 10000, headDim: 256 / 8 });
    expect(sd.moe.shared).toEqual({ count: 1, hidden: 1024, gated: true });
    expect(sd.moe.router.auxLoss).toEqual({ coef: 0.01, scope: 'global' });
    expect(sd.spectral).toMatchObject({ rank: 8, rebaseEvery: 16, init: 'orthogonal_complement' });
    expect(model('qwen_tiny', config).spectral).toBeNull();
    expect(config.train).toMatchObject({ model: 'qwen_tiny_sd', steps: 2000, evalEvery: 200, checkpointEvery: 500 });
    expect(config.train!.optimizer).toMatchObject({ kind: 'adamw', lr: 3e-4, betas: [0.9, 0.95], weightDecay: 0.1 });
  });
});

describe('defaults', () => {
  it('fills in every optional setting', () => {
    const m = check(`model m { ${base} }`).models[0];
    expect(m.attention.heads).toBe(1); // dim 64 → one 64-wide head
    expect(m.attention.kvHeads).toBe(m.attention.heads);
    expect(m.norm).toEqual({ kind: 'rmsnorm', eps: 1e-6 });
    expect(m.moe.activation).toBe('swiglu');
    expect(m.moe.capacity).toEqual({ kind: 'dropless' });
    expect(m.moe.router).toMatchObject({ score: 'softmax', normalizeTopK: false, zLoss: 0, groups: 1, auxFreeBias: null });
    expect(m.denseHidden).toBe(m.moe.topK * m.moe.expertHidden);
    expect(m.spectral).toBeNull();
  });

  it('spectral defaults follow the documented choices for the paper’s open questions', () => {
    const s = check(`model m { ${base} spectral { } }`).models[0].spectral!;
    expect(s).toEqual({
      targets: ['expert.gate', 'expert.up', 'expert.down'],
      rank: 8,
      rebaseEvery: 16,
      init: 'orthogonal_complement',
      residual: 'keep',
      reproject: false,
      moments: 'keep',
      project: 'gradient',
      commonGrad: 'sum',
    });
  });

  it('non-gated activations have no gate matrix to decompose by default', () => {
    const s = check(`model m { vocab 1024 dim 64 layers 2 moe { experts 4 top_k 2 expert_hidden 128 activation gelu } spectral { } }`)
      .models[0].spectral!;
    expect(s.targets).toEqual(['expert.up', 'expert.down']);
  });

  it('sigmoid scores normalise top-k by default, softmax scores do not', () => {
    const m = check(`model m { ${base.replace('}', 'router { score sigmoid } }')} }`).models[0];
    expect(m.moe.router.normalizeTopK).toBe(true);
  });

  it('train and eval defaults derive from the model and from each other', () => {
    const c = check(`model m { ${base} max_seq 32 } train m { batch 3 } eval m { }`);
    expect(c.train).toMatchObject({ seqLen: 32, batch: 3, steps: 1000, evalEvery: 100, checkpointEvery: null, data: { kind: 'gutenberg' } });
    expect(c.eval).toMatchObject({ batch: 3, seqLen: 32, metrics: ['loss', 'bits_per_byte', 'perplexity', 'expert_overlap'], split: 'validation', batches: 'all' });
  });
});

describe('extends', () => {
  it('merges nested blocks key by key, derived winning', () => {
    const c = check(`model a { ${base} attention { heads 2 kv_heads 1 } }
                     model b extends a { dim 128  moe { top_k 1  router { z_loss 0.001 } } }`);
    const b = model('b', c);
    expect(b.dim).toBe(128);
    expect(b.attention).toMatchObject({ heads: 2, kvHeads: 1 });
    expect(b.moe).toMatchObject({ experts: 4, topK: 1, expertHidden: 128 });
    expect(b.moe.router.zLoss).toBe(0.001);
    expect(model('a', c).moe.topK).toBe(2);
  });

  it('turns spectral off in one line, as value or bare switch, and back on', () => {
    const c = check(`model a { ${base} spectral { rank 4 } }
                     model b extends a { spectral off }
                     model c extends a { spectral { off } }
                     model d extends b { spectral { rebase every 8 steps } }`);
    expect(model('a', c).spectral?.rank).toBe(4);
    expect(model('b', c).spectral).toBeNull();
    expect(model('c', c).spectral).toBeNull();
    expect(model('d', c).spectral).toMatchObject({ rank: 4, rebaseEvery: 8 });
  });

  it('chains through several levels', () => {
    const c = check(`model a { ${base} } model b extends a { layers 3 } model c extends b { vocab 2048 }`);
    expect(model('c', c)).toMatchObject({ layers: 3, vocab: 2048, dim: 64 });
  });
});

describe('MoE constructs', () => {
  it('fine-grained segments multiply experts and top_k and divide the hidden size', () => {
    const m = check(`model m { vocab 1024 dim 64 layers 2 moe { experts 4 segments 4 top_k 2 expert_hidden 256 } }`).models[0];
    expect(m.moe).toMatchObject({ experts: 16, topK: 8, expertHidden: 64 });
  });

  it('reads DeepSeek-style routing: groups, routed scale, aux-free bias, shared experts, dense first layer', () => {
    const m = check(`model m { vocab 1024 dim 64 layers 3 dense_layers 1 dense_hidden 256
      moe { experts 8 top_k 2 expert_hidden 32 capacity 1.25 shared_expert { count 2 hidden 32 }
            router { score sigmoid groups 4 top_groups 2 routed_scale 2.5 aux_free_bias 0.001 aux_loss off } } }`).models[0];
    expect(m.denseLayers).toBe(1);
    expect(m.denseHidden).toBe(256);
    expect(m.moe.shared).toEqual({ count: 2, hidden: 32, gated: false });
    expect(m.moe.capacity).toEqual({ kind: 'factor', factor: 1.25 });
    expect(m.moe.router).toMatchObject({ groups: 4, topGroups: 2, routedScale: 2.5, auxFreeBias: { rate: 0.001 }, auxLoss: null });
  });
});

describe('data and optimizer choices', () => {
  it('reads data path(...) and other optimizers and schedules', () => {
    const c = check(`model m { ${base} } train m { data path("corpus/dir") optimizer sgd(lr = 0.05) schedule constant(warmup = 5) clip_grad off eval off }`);
    expect(c.train).toMatchObject({
      data: { kind: 'path', path: 'corpus/dir' },
      optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 },
      schedule: { kind: 'constant', warmup: 5 },
      clipGrad: null,
      evalEvery: null,
    });
  });

  it('accepts positional call arguments', () => {
    const c = check(`model m { ${base} norm layernorm(1e-5) } train m { schedule cosine(10, 0.2) }`);
    expect(c.models[0].norm).toEqual({ kind: 'layernorm', eps: 1e-5 });
    expect(c.train!.schedule).toMatchObject({ warmup: 10, minLrRatio: 0.2 });
  });
});

describe('--set overrides', () => {
  const file = `model a { ${base} } model b extends a { spectral { rank 4 } } train b { steps 100 optimizer adamw(lr = 1e-3) }`;

  it('apply to the trained model and the train block, validated like file values', () => {
    const c = check(file, ['train.optimizer.lr=4e-4', 'model.moe.top_k=1', 'model.spectral.rank=2', 'train.steps=50']);
    expect(c.train).toMatchObject({ steps: 50, optimizer: { lr: 4e-4 } });
    expect(model('b', c)).toMatchObject({ moe: { topK: 1 }, spectral: { rank: 2 } });
    expect(model('a', c).moe.topK).toBe(2);
  });

  it('switch blocks off and retarget the train block', () => {
    expect(model('b', check(file, ['model.spectral=off'])).spectral).toBeNull();
    expect(check(file, ['train.model=a']).train!.model).toBe('a');
    expect(targetModel(check(file, ['train.model=a'])).name).toBe('a');
  });

  it('reports unknown keys with a suggestion, located in the --set argument', () => {
    const result = checkSource(new Source('t.moe', file), { overrides: ['train.optimizer.lrr=4e-4'] });
    expect(result.diagnostics.map((d) => [d.message, d.loc?.source.name, d.loc?.column])).toEqual([
      ['unknown key train.optimizer.lrr, did you mean lr?', '--set', 17],
    ]);
  });

  it('reports bad values and malformed arguments', () => {
    expect(errorsOf(file, ['train.steps=-3'])).toEqual(["'steps' must be at least 1, found -3"]);
    expect(errorsOf(file, ['train.steps'])[0]).toContain('expected key=value');
    expect(errorsOf(file, ['steps=3'])[0]).toContain('needs a block and a key');
  });
});

describe('validation across settings', () => {
  it('checks heads against dim and top_k against experts', () => {
    expect(errorsOf(`model m { vocab 1024 dim 60 layers 2 attention { heads 8 } moe { experts 2 top_k 3 expert_hidden 8 } }`)).toEqual([
      'attention.heads (8) must divide dim (60), or set attention.head_dim',
      'moe.top_k (3) must be at most moe.experts (2)',
    ]);
  });

  it('checks the spectral rank against the smallest decomposed matrix', () => {
    const errors = errorsOf(`model m { vocab 1024 dim 64 layers 2 moe { experts 4 top_k 2 expert_hidden 16 } spectral { rank 16 } }`);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('spectral.rank (16) must be less than min(dim, hidden) = 16');
  });

  it('refuses shared.* and dense.* spectral targets with a located error (only expert.* are decomposed)', () => {
    const text = `model m {\n  ${base}\n  spectral { targets expert.up, shared.up }\n}`;
    const result = checkSource(new Source('t.moe', text), {});
    expect(result.config).toBeNull();
    const errors = result.diagnostics.filter((d) => d.severity === 'error');
    expect(errors.map((d) => [d.message, d.loc?.line, d.loc?.column])).toEqual([
      ["spectral target 'shared.up' is not supported: only the routed experts' matrices (expert.gate, expert.up, expert.down) are decomposed", 3, 33],
    ]);
    expect(errorsOf(`model m { vocab 1024 dim 64 layers 2 dense_layers 1 moe { experts 4 top_k 2 expert_hidden 128 } spectral { targets dense.down } }`)[0]).toContain("'dense.down' is not supported");
  });

  it('checks seq_len against max_seq in train and eval', () => {
    expect(errorsOf(`model m { ${base} max_seq 16 } train m { seq_len 32 } eval m { seq_len 64 }`)).toEqual([
      "seq_len (32) exceeds the model's max_seq (16)",
      "seq_len (64) exceeds the model's max_seq (16)",
    ]);
  });
});
