// Whole-model gradients: a tiny MoE transformer (2 layers, 4 experts top-2, gated shared expert,
// load-balance and z-loss) is lowered, differentiated by the autodiff pass and checked against
// central finite differences of the interpreted forward graph on ~5 random entries per param.
// The router's top-k is discontinuous, so every perturbed forward must keep the base selection
// (guard). With spectral targets, the expected W_c/W_u gradients are the SD projections of the
// plain proxy gradient, which itself is checked against finite differences.
import { Matrix, QrDecomposition } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { ir, out } from '../../compiler/ir/build.ts';
import { graph, rewriteGraph, topoOrder } from '../../compiler/ir/graph.ts';
import { initParams, interpretGraph, type Tensor } from '../../compiler/ir/interpret.ts';
import { verifyGraph } from '../../compiler/ir/text.ts';
import type { Graph, Value } from '../../compiler/ir/types.ts';
import { autodiff } from '../../compiler/passes/autodiff.ts';
import { lowerModel } from '../../compiler/lower/model.ts';
import { Rng } from '../../base/rng.ts';
import type { ModelConfig } from '../../compiler/config/types.ts';
import { checkGradients, randn, type MutableFeeds } from './fd.ts';
import { SHAPE, T, tinyModel } from './tiny-model.ts';

/** The forward graph plus every router's selection as an extra output, for the FD guard. */
function withRoutingProbes(g: Graph): Graph {
  const probes: Record<string, Value> = {};
  topoOrder(g).forEach((n, i) => {
    if (n.op === 'router') probes[`probe.route${i}`] = out(n, 0);
  });
  return graph(g.name, { ...g.outputs, ...probes });
}

function routingGuard(): (o: Record<string, Tensor>) => void {
  let reference: string | undefined;
  return (o) => {
    const sel = Object.keys(o).filter((k) => k.startsWith('probe.route')).map((k) => Array.from(o[k]).join()).join('|');
    reference ??= sel;
    if (sel !== reference) throw new Error('a finite-difference step changed the top-k routing; pick another seed');
  };
}

function modelFeeds(g: Graph, seed: string): MutableFeeds {
  const rng = new Rng(seed);
  const tokens = Int32Array.from({ length: T }, () => rng.nextInt(32));
  const targets = Int32Array.from({ length: T }, (_, t) => (t === 3 ? -1 : rng.nextInt(32)));
  const params = initParams(g, seed);
  // Norm gains start at exactly one; perturb them so their gradients are not special-cased by symmetry.
  for (const [name, v] of Object.entries(params)) if (name.endsWith('norm')) v.forEach((x, i) => (v[i] = x + rng.normal(0, 0.2)));
  return { inputs: { tokens, targets }, params };
}

function orthonormal(rng: Rng, rows: number, cols: number): Matrix {
  return new QrDecomposition(new Matrix(Array.from({ length: rows }, () => Array.from(randn(rng, cols))))).orthogonalMatrix;
}

describe('whole-model gradients (2 layers, 4 experts top-2)', () => {
  it('every param gradient matches finite differences', () => {
    const g = withRoutingProbes(lowerModel(tinyModel(false), SHAPE));
    verifyGraph(autodiff(g));
    const feeds = modelFeeds(g, 'model-fd');
    const report = checkGradients(g, feeds, { perParam: 5, guard: routingGuard() });
    const trainable = topoOrder(g).filter((n) => n.op === 'param' && n.attrs.group !== 'frozen').map((n) => (n.op === 'param' ? n.attrs.name : ''));
    expect(report.params.sort()).toEqual(trainable.sort());
    expect(report.params).toContain('layers.1.moe.experts.down');
    expect(report.params).toContain('layers.0.moe.shared.gate_proj');
    expect(report.checked).toBeGreaterThanOrEqual(5 * trainable.length - 10);
    expect(report.mismatches).toEqual([]);
  });

  it('variant: tied embeddings, a dense first layer, unnormalised sigmoid routing, ungated shared expert', () => {
    const base = tinyModel(false);
    const config: ModelConfig = {
      ...base,
      name: 'tiny_variant',
      tieEmbeddings: true,
      denseLayers: 1,
      denseHidden: 12,
      moe: {
        ...base.moe,
        shared: { count: 2, hidden: 4, gated: false },
        router: { ...base.moe.router, score: 'sigmoid', normalizeTopK: false, routedScale: 2.5, auxLoss: null },
      },
    };
    const g = withRoutingProbes(lowerModel(config, SHAPE));
    const report = checkGradients(g, modelFeeds(g, 'model-variant'), { perParam: 5, guard: routingGuard() });
    expect(report.params).toContain('layers.0.ffn.gate');
    expect(report.params).not.toContain('lm_head');
    expect(report.params).toContain('embed');
    expect(report.mismatches).toEqual([]);
  });

  for (const activation of ['geglu', 'gelu', 'relu', 'silu'] as const) {
    it(`variant: layernorm, ${activation} in the routed experts, the shared expert and a dense first layer`, () => {
      const base = tinyModel(false);
      const config: ModelConfig = { ...base, name: `tiny_ln_${activation}`, norm: { kind: 'layernorm', eps: 1e-5 }, denseLayers: 1, denseHidden: 12, moe: { ...base.moe, activation } };
      const g = withRoutingProbes(lowerModel(config, SHAPE));
      const feeds = modelFeeds(g, `model-${activation}`);
      // Biases start at zero; move them so the check is not at a special point.
      for (const [name, v] of Object.entries(feeds.params)) if (name.endsWith('.bias')) v.forEach((_, i) => (v[i] = 0.1 * Math.sin(i + name.length)));
      const report = checkGradients(g, feeds, { perParam: 5, guard: routingGuard() });
      const gated = activation === 'geglu';
      for (const ffn of ['layers.0.ffn', 'layers.1.moe.shared', 'layers.1.moe.experts']) {
        expect(report.params).toContain(`${ffn}.up`);
        expect(report.params.includes(`${ffn}.gate`)).toBe(gated);
      }
      for (const norm of ['layers.0.attn_norm', 'layers.1.ffn_norm', 'final_norm']) expect(report.params).toEqual(expect.arrayContaining([norm, `${norm}.bias`]));
      expect(report.checked).toBeGreaterThan(50);
      expect(report.mismatches).toEqual([]);
    });
  }

  it('with spectral targets, W_c/W_u gradients are the SD projections of the proxy gradient', () => {
    const config = tinyModel(true);
    const g = withRoutingProbes(lowerModel(config, SHAPE));
    const feeds = modelFeeds(g, 'model-sd');
    const rng = new Rng('model-sd-bases');
    const bases = new Map<string, [Matrix, Matrix]>();
    for (const n of topoOrder(g)) {
      if (n.op !== 'param' || !n.attrs.name.endsWith('.U_k')) continue;
      const prefix = n.attrs.name.slice(0, -'.U_k'.length);
      const [K, r] = n.attrs.shape;
      const N = (feeds.params[`${prefix}.V_k`].length / r);
      const pair: [Matrix, Matrix] = [orthonormal(rng, K, r), orthonormal(rng, N, r)];
      bases.set(prefix, pair);
      feeds.params[`${prefix}.U_k`] = Float64Array.from(pair[0].to1DArray());
      feeds.params[`${prefix}.V_k`] = Float64Array.from(pair[1].to1DArray());
    }
    expect(bases.size).toBe(2 * 3);

    // The same model with the plain sum rule: its W_u gradient is the proxy gradient G.
    const plain = rewriteGraph(g, (n, inputs) =>
      n.op === 'expert_weight' ? [ir.expertWeight(inputs[0], inputs[1], { experts: n.attrs.experts, spectral: false, aggregate: 'sum' })] : undefined,
    );
    const plainReport = checkGradients(plain, feeds, { perParam: 5, guard: routingGuard() });
    expect(plainReport.checked).toBeGreaterThan(0);
    expect(plainReport.mismatches).toEqual([]);

    const sd = interpretGraph(autodiff(g), feeds);
    const sum = interpretGraph(autodiff(plain), feeds);
    const E = config.moe.experts;
    for (const [prefix, [u, v]] of bases) {
      const G = sum[`grad.${prefix}.unique`];
      const [K, N] = [u.rows, v.rows];
      const pu = Matrix.eye(K).sub(u.mmul(u.transpose()));
      const pv = Matrix.eye(N).sub(v.mmul(v.transpose()));
      const common = Matrix.zeros(K, N);
      for (let e = 0; e < E; e++) {
        const ge = Matrix.from1DArray(K, N, Array.from(G.subarray(e * K * N, (e + 1) * K * N)));
        const gu = pu.mmul(ge).mmul(pv);
        common.add(ge.clone().sub(gu));
        const got = Array.from(sd[`grad.${prefix}.unique`].subarray(e * K * N, (e + 1) * K * N));
        got.forEach((x, i) => expect(Math.abs(x - gu.to1DArray()[i])).toBeLessThan(1e-10));
      }
      Array.from(sd[`grad.${prefix}.common`]).forEach((x, i) => expect(Math.abs(x - common.to1DArray()[i])).toBeLessThan(1e-10));
      // With the sum rule W_c gets Σ_e G[e]; the split must differ from it (the bases are not trivial).
      expect(Array.from(sum[`grad.${prefix}.common`]).some((x, i) => Math.abs(x - common.to1DArray()[i]) > 1e-6)).toBe(true);
    }
    // Every gradient outside the SD-decomposed experts is untouched by the custom rule.
    for (const k of Object.keys(sum)) {
      if (!k.startsWith('grad.') || k.includes('.moe.experts.')) continue;
      expect(Array.from(sd[k])).toEqual(Array.from(sum[k]));
    }
  });
});
