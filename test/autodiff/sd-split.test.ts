// SD-MoE's custom gradient seam: `sd_split_grad` must split each expert gradient G[e] into its
// double-complement part G_u[e] = (I − U Uᵀ) G[e] (I − V Vᵀ) and a common part, and `expert_weight`
// with spectral on must route its gradient through that split instead of the sum rule. The
// expected projections are computed independently with ml-matrix on random orthonormal bases (QR).
import { Matrix, QrDecomposition } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { ir } from '../../compiler/ir/build.ts';
import { graph } from '../../compiler/ir/graph.ts';
import { interpretGraph } from '../../compiler/ir/interpret.ts';
import { autodiff } from '../../compiler/passes/autodiff.ts';
import { Rng } from '../../base/rng.ts';
import { probeLoss, randn } from './fd.ts';

const E = 3, K = 6, N = 5, R = 2;

function orthonormal(rng: Rng, rows: number, cols: number): Matrix {
  return new QrDecomposition(new Matrix(Array.from({ length: rows }, () => Array.from(randn(rng, cols))))).orthogonalMatrix;
}

const flat = (m: Matrix): Float64Array => Float64Array.from(m.to2DArray().flat());
const slice = (a: Float64Array, e: number): Matrix => Matrix.from1DArray(K, N, Array.from(a.subarray(e * K * N, (e + 1) * K * N)));
const maxAbs = (m: Matrix): number => Math.max(...m.to1DArray().map(Math.abs));

function split(aggregate: 'sum' | 'mean', gValues: Float64Array, u: Matrix, v: Matrix): { gc: Matrix; gu: Matrix[] } {
  const g = ir.input('G', 'f32', [E, K, N]);
  const [gc, gu] = ir.sdSplitGrad(g, ir.input('U', 'f32', [K, R]), ir.input('V', 'f32', [N, R]), { experts: E, rank: R, aggregate });
  const outs = interpretGraph(graph('split', { gc, gu }), { inputs: { G: gValues, U: flat(u), V: flat(v) } });
  return { gc: Matrix.from1DArray(K, N, Array.from(outs.gc)), gu: Array.from({ length: E }, (_, e) => slice(outs.gu as Float64Array, e)) };
}

describe('sd_split_grad', () => {
  const rng = new Rng('sd-split');
  const u = orthonormal(rng, K, R);
  const v = orthonormal(rng, N, R);
  const gValues = randn(rng, E * K * N);
  const complementU = Matrix.eye(K).sub(u.mmul(u.transpose()));
  const complementV = Matrix.eye(N).sub(v.mmul(v.transpose()));

  it('bases from QR are orthonormal', () => {
    expect(maxAbs(u.transpose().mmul(u).sub(Matrix.eye(R)))).toBeLessThan(1e-12);
    expect(maxAbs(v.transpose().mmul(v).sub(Matrix.eye(R)))).toBeLessThan(1e-12);
  });

  it('G_u[e] is the double-complement projection of G[e]', () => {
    const { gu } = split('sum', gValues, u, v);
    for (let e = 0; e < E; e++) expect(maxAbs(gu[e].sub(complementU.mmul(slice(gValues, e)).mmul(complementV)))).toBeLessThan(1e-12);
  });

  it('Σ_e G[e] = G_c + Σ_e G_u[e] (sum) and G_c is their mean-scaled share (mean)', () => {
    const sum = split('sum', gValues, u, v);
    const mean = split('mean', gValues, u, v);
    const total = Matrix.zeros(K, N);
    const totalU = Matrix.zeros(K, N);
    for (let e = 0; e < E; e++) {
      total.add(slice(gValues, e));
      totalU.add(sum.gu[e]);
    }
    expect(maxAbs(total.clone().sub(sum.gc.clone().add(totalU)))).toBeLessThan(1e-12);
    expect(maxAbs(mean.gc.clone().mul(E).sub(sum.gc))).toBeLessThan(1e-12);
  });

  it('G_u[e] is orthogonal to the shared bases: U_kᵀ G_u[e] = 0 and G_u[e] V_k = 0', () => {
    const { gu } = split('sum', gValues, u, v);
    for (const m of gu) {
      expect(maxAbs(u.transpose().mmul(m))).toBeLessThan(1e-12);
      expect(maxAbs(m.mmul(v))).toBeLessThan(1e-12);
      expect(maxAbs(m)).toBeGreaterThan(0.1);
    }
  });

  it('the projection is idempotent: splitting G_u again leaves it unchanged and G_c zero', () => {
    const first = split('sum', gValues, u, v);
    const again = split('sum', Float64Array.from(first.gu.flatMap((m) => m.to1DArray())), u, v);
    again.gu.forEach((m, e) => expect(maxAbs(m.clone().sub(first.gu[e]))).toBeLessThan(1e-12));
    expect(maxAbs(again.gc)).toBeLessThan(1e-12);
  });

  it('expert_weight with spectral on sends its gradient through the split, not the sum rule', () => {
    const wc = ir.param('wc', [K, N], { kind: 'normal', std: 1 });
    const wu = ir.param('wu', [E, K, N], { kind: 'normal', std: 1 });
    const bases = [ir.param('U', [K, R], { kind: 'zeros' }, 'frozen'), ir.param('V', [N, R], { kind: 'zeros' }, 'frozen')] as const;
    const g = probeLoss('sd_proxy', [ir.expertWeight(wc, wu, { experts: E, spectral: true, aggregate: 'sum' }, bases)]);
    // loss = Σ W ⊙ probe, so the proxy gradient G is exactly the probe.
    const params = { wc: randn(rng, K * N), wu: randn(rng, E * K * N), U: flat(u), V: flat(v) };
    const grads = interpretGraph(autodiff(g), { inputs: { probe0: gValues }, params });
    expect(Object.keys(grads).filter((k) => k.startsWith('grad.')).sort()).toEqual(['grad.wc', 'grad.wu']);
    const expected = split('sum', gValues, u, v);
    expect(maxAbs(Matrix.from1DArray(K, N, Array.from(grads['grad.wc'])).sub(expected.gc))).toBeLessThan(1e-12);
    for (let e = 0; e < E; e++) expect(maxAbs(slice(grads['grad.wu'] as Float64Array, e).sub(expected.gu[e]))).toBeLessThan(1e-12);
  });
});
