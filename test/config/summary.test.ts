// Parameter/memory summary: counts agree with an independent tensor-by-tensor enumeration,
// active < total, SD adds exactly the W_c matrices, and oversized buffers are named.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Source } from '../../grammar/index.ts';
import { checkFile, checkSource, oversizeMessages, summarize, type ModelConfig } from '../../compiler/config/index.ts';

const root = join(import.meta.dirname, '../..');
const big = { maxStorageBufferBindingSize: 2 ** 40 };

/** Every weight tensor of a model, written out shape by shape (no shared code with summary.ts). */
function enumerateTensors(m: ModelConfig): { name: string; size: number; perToken: boolean }[] {
  const t: { name: string; size: number; perToken: boolean }[] = [];
  const gated = m.moe.activation === 'swiglu' || m.moe.activation === 'geglu';
  t.push({ name: 'embed', size: m.vocab * m.dim, perToken: true });
  if (!m.tieEmbeddings) t.push({ name: 'head', size: m.vocab * m.dim, perToken: true });
  t.push({ name: 'final_norm', size: m.dim, perToken: true });
  for (let l = 0; l < m.layers; l++) {
    const q = m.attention.heads * m.attention.headDim;
    const kv = m.attention.kvHeads * m.attention.headDim;
    for (const [n, size] of [['q', m.dim * q], ['k', m.dim * kv], ['v', m.dim * kv], ['o', q * m.dim], ['n1', m.dim], ['n2', m.dim]] as const) {
      t.push({ name: `${l}.${n}`, size, perToken: true });
    }
    const ffn = (hidden: number) => (gated ? 3 : 2) * m.dim * hidden;
    if (l < m.denseLayers) {
      t.push({ name: `${l}.dense`, size: ffn(m.denseHidden), perToken: true });
      continue;
    }
    t.push({ name: `${l}.router`, size: m.dim * m.moe.experts, perToken: true });
    for (let e = 0; e < m.moe.experts; e++) t.push({ name: `${l}.expert${e}`, size: ffn(m.moe.expertHidden), perToken: e < m.moe.topK });
    for (let s = 0; s < (m.moe.shared?.count ?? 0); s++) t.push({ name: `${l}.shared${s}`, size: ffn(m.moe.shared!.hidden), perToken: true });
    if (m.moe.shared?.gated) t.push({ name: `${l}.shared_gate`, size: m.dim, perToken: true });
    for (const target of m.spectral?.targets ?? []) {
      if (target.startsWith('expert.')) t.push({ name: `${l}.common.${target}`, size: m.dim * m.moe.expertHidden, perToken: false });
    }
  }
  return t;
}

describe('parameter counts', () => {
  for (const file of ['models/demo.moe', 'models/qwen_tiny.moe', 'models/deepseek_tiny.moe', 'models/qwen_2b_a0.8b.moe']) {
    it(`agree with a tensor enumeration for ${file}`, () => {
      const config = checkFile(join(root, file)).config!;
      for (const m of config.models) {
        const tensors = enumerateTensors(m);
        const s = summarize(m, null, big);
        expect(s.params.total).toBe(tensors.reduce((a, x) => a + x.size, 0));
        expect(s.params.activePerToken).toBe(tensors.filter((x) => x.perToken).reduce((a, x) => a + x.size, 0));
        expect(s.params.activePerToken).toBeLessThan(s.params.total);
      }
    });
  }

  it('puts the paper-scale examples near 2B total and 0.8B active', () => {
    for (const file of ['models/qwen_2b_a0.8b.moe', 'models/deepseek_2b_a0.8b.moe']) {
      const config = checkFile(join(root, file)).config!;
      const baseline = config.models.find((m) => !m.spectral)!;
      const s = summarize(baseline, null, big);
      expect(s.params.total).toBeGreaterThan(1.8e9);
      expect(s.params.total).toBeLessThan(2.2e9);
      expect(s.params.activePerToken).toBeGreaterThan(0.7e9);
      expect(s.params.activePerToken).toBeLessThan(0.9e9);
    }
  });
});

describe('memory and buffers', () => {
  const text = (batch: number) =>
    `model m { vocab 1024 dim 64 layers 2 max_seq 64 moe { experts 4 top_k 2 expert_hidden 128 } } train m { batch ${batch} seq_len 64 }`;
  const cfg = (batch: number) => checkSource(new Source('t.moe', text(batch))).config!;

  it('scales activations with the batch and optimizer state with the parameters', () => {
    const one = summarize(cfg(4).models[0], cfg(4).train, big);
    const two = summarize(cfg(8).models[0], cfg(8).train, big);
    expect(two.memory.activationBytes).toBe(2 * one.memory.activationBytes!);
    expect(one.memory.optimizerBytes).toBe(2 * one.memory.parameterBytes);
    expect(one.memory.totalBytes).toBeGreaterThan(one.memory.parameterBytes * 4);
    expect(summarize(cfg(4).models[0], null, big).memory.activationBytes).toBeNull();
  });

  it('counts grad_accum\'s accumulators as a second gradient copy and one SGD state slot', () => {
    const c = cfg(4);
    const plain = summarize(c.models[0], c.train, big);
    const accum = summarize(c.models[0], { ...c.train!, gradAccum: 4 }, big);
    expect(plain.memory.gradientBytes).toBe(plain.memory.parameterBytes);
    expect(accum.memory.gradientBytes).toBe(2 * accum.memory.parameterBytes);
    expect(accum.memory.activationBytes).toBe(plain.memory.activationBytes);
    for (const momentum of [0, 0.9]) {
      const sgd = summarize(c.models[0], { ...c.train!, optimizer: { ...c.train!.optimizer, kind: 'sgd', momentum } }, big);
      expect(sgd.memory.optimizerBytes).toBe(sgd.memory.parameterBytes);
    }
  });

  it('summarizes a whole file as its trained model with its train block', () => {
    const c = cfg(4);
    expect(summarize(c, big)).toEqual(summarize(c.models[0], c.train, big));
  });

  it('names every buffer above the binding limit, and only those', () => {
    const c = cfg(8);
    // Above the limit the LM head works in row chunks that fit it (256 of the 512 rows here) …
    const chunked = summarize(c.models[0], c.train, { name: 'tiny-gpu', maxStorageBufferBindingSize: 1024 * 1024 });
    expect(chunked.buffers.find((b) => b.name === 'logits')!.shape).toEqual([256, 1024]);
    expect(chunked.oversized.map((b) => b.name)).not.toContain('logits');
    // … unless not even 64 rows fit: then the whole logits are named.
    const s = summarize(c.models[0], c.train, { name: 'tiny-gpu', maxStorageBufferBindingSize: 200 * 1024 });
    const logits = s.buffers.find((b) => b.name === 'logits')!;
    expect(logits.bytes).toBe(8 * 64 * 1024 * 4);
    expect(s.oversized.map((b) => b.name)).toContain('logits');
    expect(s.oversized.every((b) => b.bytes > 200 * 1024)).toBe(true);
    const messages = oversizeMessages([s]);
    expect(messages.some((m) => m.includes("buffer 'logits' [512×1024]") && m.includes('tiny-gpu'))).toBe(true);
    expect(summarize(c.models[0], c.train, big).oversized).toEqual([]);
  });
});
