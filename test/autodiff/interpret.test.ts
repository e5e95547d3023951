// The reference interpreter's own semantics, checked by properties rather than stored numbers:
// dispatch ordering on skewed routings, router tie-breaking, causal and per-sequence attention,
// RoPE positions, ignored cross-entropy rows, the AdamW first step, and seeded param init.
import { describe, expect, it } from 'vitest';
import { ir } from '../../compiler/ir/build.ts';
import { graph } from '../../compiler/ir/graph.ts';
import { initParams, interpretGraph } from '../../compiler/ir/interpret.ts';
import { Rng } from '../../base/rng.ts';
import { randn } from './fd.ts';

const run = (outputs: Parameters<typeof graph>[1], inputs: Record<string, Float64Array | Int32Array>, params: Record<string, Float64Array> = {}) =>
  interpretGraph(graph('t', outputs), { inputs, params });

describe('reference interpreter', () => {
  const E = 4, K = 2, T = 5, D = 3;
  const dispatchOf = (idx: number[]) => {
    const x = ir.input('x', 'f32', [T, D]);
    const [xs, permRow, counts] = ir.moeDispatch(x, ir.input('idx', 'i32', [T, K]), { experts: E, topK: K });
    const xv = randn(new Rng('dispatch'), T * D);
    const o = run({ xs, permRow, counts }, { x: xv, idx: Int32Array.from(idx) });
    return { xv, xs: o.xs, permRow: o.permRow, counts: o.counts };
  };

  for (const [label, idx] of [
    ['balanced', [0, 1, 2, 3, 1, 0, 3, 2, 0, 2]],
    ['all tokens to expert 2 (and 0)', [2, 0, 2, 0, 2, 0, 2, 0, 2, 0]],
    ['experts 1 and 3 empty', [0, 2, 2, 0, 0, 2, 2, 0, 0, 2]],
  ] as const) {
    it(`moe_dispatch counts per expert and groups rows by expert, stable in (t, j) order: ${label}`, () => {
      const { xs, permRow, counts, xv } = dispatchOf([...idx]);
      for (let e = 0; e < E; e++) expect(counts[e]).toBe(idx.filter((x) => x === e).length);
      const offsets = [0];
      for (let e = 0; e < E; e++) offsets.push(offsets[e] + counts[e]);
      expect([...permRow].sort((a, b) => a - b)).toEqual(Array.from({ length: T * K }, (_, i) => i));
      for (let a = 0; a < T * K; a++) {
        const e = idx[a];
        expect(permRow[a]).toBeGreaterThanOrEqual(offsets[e]);
        expect(permRow[a]).toBeLessThan(offsets[e + 1]);
        // stability: an earlier assignment to the same expert gets an earlier row
        for (let b = 0; b < a; b++) if (idx[b] === e) expect(permRow[b]).toBeLessThan(permRow[a]);
        const t = Math.floor(a / K);
        expect(Array.from(xs.subarray(permRow[a] * D, permRow[a] * D + D))).toEqual(Array.from(xv.subarray(t * D, t * D + D)));
      }
    });
  }

  it('router picks the top-k by probability with ties to the lower index, and normalises', () => {
    const [idx, w, probs] = ir.router(ir.input('logits', 'f32', [2, 4]), { score: 'softmax', topK: 2, normalize: true, scale: 2 });
    const o = run({ idx, w, probs }, { logits: Float64Array.from([0.5, 1, 1, -1, 3, 0, 2, 3]) });
    // Row 0 ties experts 1 and 2 (both logit 1); row 1 ties experts 0 and 3 (both logit 3).
    expect(Array.from(o.idx)).toEqual([1, 2, 0, 3]);
    for (let t = 0; t < 2; t++) {
      const row = Array.from(o.probs.subarray(t * 4, t * 4 + 4));
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      expect(o.w[t * 2] + o.w[t * 2 + 1]).toBeCloseTo(2, 12);
      expect(o.w[t * 2] / o.w[t * 2 + 1]).toBeCloseTo(row[o.idx[t * 2]] / row[o.idx[t * 2 + 1]], 12);
    }
  });

  it('attention is causal and never mixes sequences', () => {
    const S = 3, H = 2, KVH = 1, hd = 4, Tt = 2 * S;
    const q = ir.input('q', 'f32', [Tt, H * hd]), k = ir.input('k', 'f32', [Tt, KVH * hd]), v = ir.input('v', 'f32', [Tt, KVH * hd]);
    const [o, lse] = ir.attention(q, k, v, { heads: H, kvHeads: KVH, headDim: hd, seqLen: S });
    const rng = new Rng('attn');
    const feeds = { q: randn(rng, Tt * H * hd), k: randn(rng, Tt * KVH * hd), v: randn(rng, Tt * KVH * hd) };
    const base = run({ o, lse }, feeds);
    // Changing token 1's key/value changes rows 1..2 of sequence 0 but not row 0 or sequence 1.
    const k2 = feeds.k.slice();
    const v2 = feeds.v.slice();
    for (let d = 0; d < hd; d++) { k2[1 * hd + d] += 1; v2[1 * hd + d] += 1; }
    const moved = run({ o, lse }, { ...feeds, k: k2, v: v2 });
    const row = (x: Float64Array | Int32Array, t: number) => Array.from(x.subarray(t * H * hd, (t + 1) * H * hd));
    expect(row(moved.o, 0)).toEqual(row(base.o, 0));
    for (const t of [3, 4, 5]) expect(row(moved.o, t)).toEqual(row(base.o, t));
    expect(row(moved.o, 1)).not.toEqual(row(base.o, 1));
    // The first query of each sequence sees only itself: out = its own value row, lse = its score.
    for (const t of [0, S]) {
      for (let h = 0; h < H; h++) {
        expect(Array.from(base.o.subarray(t * H * hd + h * hd, t * H * hd + (h + 1) * hd))).toEqual(Array.from(feeds.v.subarray(t * hd, (t + 1) * hd)));
        let dot = 0;
        for (let d = 0; d < hd; d++) dot += feeds.q[t * H * hd + h * hd + d] * feeds.k[t * hd + d];
        expect(base.lse[t * H + h]).toBeCloseTo(dot / Math.sqrt(hd), 12);
      }
    }
  });

  it('rope restarts at every sequence, preserves norms and is undone by its inverse', () => {
    const attrs = { theta: 10000, heads: 2, headDim: 4, seqLen: 3, inverse: false };
    const x = ir.input('x', 'f32', [6, 8]);
    const y = ir.rope(x, attrs);
    const back = ir.rope(y, { ...attrs, inverse: true });
    const xv = randn(new Rng('rope'), 48);
    xv.copyWithin(24, 0, 24); // sequence 1 repeats sequence 0
    const o = run({ y, back }, { x: xv });
    expect(Array.from(o.y.subarray(24))).toEqual(Array.from(o.y.subarray(0, 24)));
    expect(Array.from(o.y.subarray(0, 8))).toEqual(Array.from(xv.subarray(0, 8))); // position 0: identity
    const norm = (a: ArrayLike<number>, t: number) => Math.hypot(...Array.from({ length: 8 }, (_, i) => a[t * 8 + i]));
    for (let t = 0; t < 6; t++) expect(norm(o.y, t)).toBeCloseTo(norm(xv, t), 12);
    o.back.forEach((v, i) => expect(v).toBeCloseTo(xv[i], 12));
  });

  it('cross_entropy ignores target −1, equals logsumexp − logit otherwise, and averages counted rows', () => {
    const [ce, mean] = ir.crossEntropy(ir.input('logits', 'f32', [3, 5]), ir.input('targets', 'i32', [3]));
    const logits = randn(new Rng('ce'), 15);
    const o = run({ ce, mean }, { logits, targets: Int32Array.from([4, -1, 0]) });
    expect(o.ce[1]).toBe(0);
    expect(o.mean[0]).toBeCloseTo((o.ce[0] + o.ce[2]) / 2, 14);
    for (const [t, target] of [[0, 4], [2, 0]]) {
      const row = Array.from(logits.subarray(t * 5, t * 5 + 5));
      expect(o.ce[t]).toBeCloseTo(Math.log(row.reduce((a, x) => a + Math.exp(x), 0)) - row[target], 12);
    }
  });

  it('adamw: the first bias-corrected step moves each weight by about lr·sign(g) plus decay', () => {
    const n = 6;
    const [p2, m2, v2] = ir.adamw(ir.param('p', [n], { kind: 'zeros' }), ir.input('g', 'f32', [n]), ir.param('m', [n], { kind: 'zeros' }), ir.param('v', [n], { kind: 'zeros' }),
      ir.input('lr', 'f32', []), ir.input('step', 'i32', []), ir.input('clip', 'f32', [2]), { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
    const rng = new Rng('adamw');
    const p = randn(rng, n), g = randn(rng, n);
    const lr = 0.01;
    const o = run({ p2, m2, v2 }, { g, lr: Float64Array.of(lr), step: Int32Array.of(1), clip: Float64Array.of(0.5, 3) }, { p, m: new Float64Array(n), v: new Float64Array(n) });
    for (let i = 0; i < n; i++) {
      expect(o.m2[i]).toBeCloseTo(0.1 * 0.5 * g[i], 12);
      expect(o.v2[i]).toBeCloseTo(0.05 * (0.5 * g[i]) ** 2, 12);
      expect(o.p2[i]).toBeCloseTo(p[i] - lr * (Math.sign(g[i]) + 0.1 * p[i]), 6);
    }
  });

  it('initParams is seeded, per-name independent and follows each init kind', () => {
    const a = ir.param('a', [400], { kind: 'normal', std: 0.5 });
    const b = ir.param('b', [3], { kind: 'ones' });
    const c = ir.param('c', [3], { kind: 'zeros' });
    const g1 = graph('g', { s: ir.add(ir.reduce('sum', a, 0), ir.add(ir.reduce('sum', b, 0), ir.reduce('sum', c, 0))) });
    const g2 = graph('g', { s: ir.reduce('sum', ir.add(ir.param('z', [400], { kind: 'normal', std: 0.5 }), a), 0) });
    const p1 = initParams(g1, 3);
    expect(Array.from(initParams(g1, 3).a)).toEqual(Array.from(p1.a));
    expect(Array.from(initParams(g1, 4).a)).not.toEqual(Array.from(p1.a));
    expect(Array.from(initParams(g2, 3).a)).toEqual(Array.from(p1.a)); // another param does not shift a's stream
    expect(Array.from(p1.b)).toEqual([1, 1, 1]);
    expect(Array.from(p1.c)).toEqual([0, 0, 0]);
    const sd = Math.sqrt(p1.a.reduce((s, x) => s + x * x, 0) / 400);
    expect(sd).toBeGreaterThan(0.4);
    expect(sd).toBeLessThan(0.6);
  });

  it('grad_norm gives [clip scale, global norm] over all its operands', () => {
    const a = ir.input('a', 'f32', [2, 2]), b = ir.input('b', 'f32', [3]);
    const values = { a: Float64Array.of(3, 0, 0, 0), b: Float64Array.of(0, 4, 0) };
    const o = run({ clipped: ir.gradNorm([a, b], 1), loose: ir.gradNorm([a, b], 10), off: ir.gradNorm([a, b], 0) }, values);
    expect(o.clipped[1]).toBeCloseTo(5, 14);
    expect(o.clipped[0]).toBeCloseTo(1 / (5 + 1e-6), 14);
    expect(o.loose[0]).toBe(1);
    expect(o.off[0]).toBe(1);
  });

  it('rejects out-of-range ids instead of reading past a row', () => {
    const [xs] = ir.moeDispatch(ir.input('x', 'f32', [2, 1]), ir.input('idx', 'i32', [2, 1]), { experts: 2, topK: 1 });
    expect(() => run({ xs }, { x: new Float64Array(2), idx: Int32Array.from([0, 2]) })).toThrow(/expert index 2 out of range/);
    const [rows] = ir.crossEntropy(ir.input('logits', 'f32', [1, 3]), ir.input('targets', 'i32', [1]));
    expect(() => run({ rows }, { logits: new Float64Array(3), targets: Int32Array.of(3) })).toThrow(/target 3 out of range/);
    const emb = ir.embedding(ir.input('table', 'f32', [2, 1]), ir.input('ids', 'i32', [1]));
    expect(() => run({ emb }, { table: new Float64Array(2), ids: Int32Array.of(-1) })).toThrow(/id -1 out of range/);
  });

  it('rejects missing or mis-sized feeds with the feed name', () => {
    const g = graph('g', { y: ir.unary('neg', ir.input('x', 'f32', [3])) });
    expect(() => interpretGraph(g, {})).toThrow(/missing input 'x'/);
    expect(() => interpretGraph(g, { inputs: { x: new Float64Array(2) } })).toThrow(/'x' has 2 elements/);
    expect(() => interpretGraph(g, { inputs: { x: new Int32Array(3) } })).toThrow(/must be Float64Array/);
  });
});
