// SD-MoE `project update` and `moments reset` in the IR: the optimizer pass wires them by param
// role, the interpreter's sd_project_update applies exactly W_c += Δ_c − D(Δ_c), W_u(e) += D(Δ_u(e))
// (D computed independently with ml-matrix on random orthonormal bases), and adamw's resetEvery
// makes the first update after a reset a fresh Adam step.
import { Matrix, QrDecomposition } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { ir } from '../../compiler/ir/build.ts';
import { graph, topoOrder } from '../../compiler/ir/graph.ts';
import { interpretGraph } from '../../compiler/ir/interpret.ts';
import type { Node } from '../../compiler/ir/types.ts';
import { lowerModel } from '../../compiler/lower/model.ts';
import { DEFAULT_OPTIMIZER } from '../../compiler/passes/optimizer.ts';
import { runPasses, TRAINING_PIPELINE } from '../../compiler/passes/registry.ts';
import { Rng } from '../../base/rng.ts';
import { tinyModel } from '../codegen/models.ts';
import { randn } from './fd.ts';

const E = 3, K = 6, N = 5, R = 2;
const orthonormal = (rng: Rng, rows: number, cols: number): Matrix => new QrDecomposition(new Matrix(Array.from({ length: rows }, () => Array.from(randn(rng, cols))))).orthogonalMatrix;
const flat = (m: Matrix): Float64Array => Float64Array.from(m.to2DArray().flat());
const slice = (a: Float64Array, e: number): Matrix => Matrix.from1DArray(K, N, Array.from(a.subarray(e * K * N, (e + 1) * K * N)));
const D = (X: Matrix, U: Matrix, V: Matrix): Matrix => {
  const left = Matrix.sub(X, U.mmul(U.transpose().mmul(X)));
  return Matrix.sub(left, left.mmul(V).mmul(V.transpose()));
};
const maxAbs = (m: Matrix): number => Math.max(...m.to1DArray().map(Math.abs));

function sdStep(project: 'gradient' | 'update', resetEvery: number) {
  const m = tinyModel({ spectral: true });
  const model = { ...m, spectral: { ...m.spectral!, project } };
  const g = runPasses(lowerModel(model, { batch: 2, seqLen: 8 }), TRAINING_PIPELINE, { optimizer: { ...DEFAULT_OPTIMIZER, spectral: { project, resetEvery } } });
  const adamw = topoOrder(g).filter((n): n is Node & { op: 'adamw' } => n.op === 'adamw');
  const roleOf = (n: Node) => (n.inputs[0].node.op === 'param' ? n.inputs[0].node.attrs.role : undefined);
  const decoupled = adamw.filter((n) => { const r = roleOf(n); return r?.kind === 'sd' && (r.part === 'common' || r.part === 'unique'); });
  return { g, adamw, decoupled };
}

describe('SD-MoE optimizer variants in the IR', () => {
  it('moments reset: only W_c and W_u get resetEvery', () => {
    const { adamw, decoupled } = sdStep('gradient', 16);
    expect(decoupled).toHaveLength(12); // W_c and W_u × gate/up/down × 2 layers
    for (const n of adamw) expect(n.attrs.resetEvery).toBe(decoupled.includes(n) ? 16 : undefined);
    expect(adamw.every((n) => n.attrs.output === undefined)).toBe(true);
  });

  it('project update: raw gradients into AdamW in step mode, then one sd_project_update per matrix', () => {
    const { g, adamw, decoupled } = sdStep('update', 0);
    for (const n of adamw) expect(n.attrs.output).toBe(decoupled.includes(n) ? 'step' : undefined);
    const ops = topoOrder(g).map((n) => n.op);
    expect(ops).not.toContain('sd_split_grad');
    const projections = topoOrder(g).filter((n) => n.op === 'sd_project_update');
    expect(projections).toHaveLength(6);
    for (const p of projections) expect(g.outputs[`update.${p.inputs[0].node.op === 'param' ? p.inputs[0].node.attrs.name : ''}`]?.node).toBe(p);
  });

  it('sd_project_update adds Δ_c − D(Δ_c) to W_c and D(Δ_u(e)) to W_u(e)', () => {
    const rng = new Rng(3);
    const [U, V] = [orthonormal(rng, K, R), orthonormal(rng, N, R)];
    const [wc, wu, dc, du] = [randn(rng, K * N), randn(rng, E * K * N), randn(rng, K * N), randn(rng, E * K * N)];
    const x = (name: string, shape: number[]) => ir.input(name, 'f32', shape);
    const [wc2, wu2] = ir.sdProjectUpdate(x('wc', [K, N]), x('wu', [E, K, N]), x('dc', [K, N]), x('du', [E, K, N]), x('U', [K, R]), x('V', [N, R]), { experts: E, rank: R });
    const o = interpretGraph(graph('p', { wc2, wu2 }), { inputs: { wc, wu, dc, du, U: flat(U), V: flat(V) } });
    const Dc = Matrix.from1DArray(K, N, Array.from(dc));
    const movedC = Matrix.sub(Matrix.from1DArray(K, N, Array.from(o.wc2)), Matrix.from1DArray(K, N, Array.from(wc)));
    expect(maxAbs(Matrix.sub(movedC, Matrix.sub(Dc, D(Dc, U, V))))).toBeLessThan(1e-12);
    expect(maxAbs(D(movedC, U, V))).toBeLessThan(1e-12);
    expect(maxAbs(D(Dc, U, V))).toBeGreaterThan(0.1); // the projection removed something
    for (let e = 0; e < E; e++) {
      const movedU = Matrix.sub(slice(o.wu2 as Float64Array, e), slice(wu, e));
      expect(maxAbs(Matrix.sub(movedU, D(slice(du, e), U, V)))).toBeLessThan(1e-12);
      expect(maxAbs(U.transpose().mmul(movedU))).toBeLessThan(1e-12);
      expect(maxAbs(movedU.mmul(V))).toBeLessThan(1e-12);
    }
  });

  it('adamw resetEvery: the first update after a reset is a fresh Adam step; the global step gives ≈ 0.42 of it', () => {
    const n = 32;
    const rng = new Rng(8);
    const [p0, g0] = [randn(rng, n), randn(rng, n)];
    const ratios = (resetEvery: number, step: number) => {
      const [p2] = ir.adamw(ir.input('p', 'f32', [n]), ir.input('g', 'f32', [n]), ir.input('m', 'f32', [n]), ir.input('v', 'f32', [n]), ir.input('lr', 'f32', []), ir.input('step', 'i32', []), ir.input('clip', 'f32', [2]),
        { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, ...(resetEvery ? { resetEvery } : {}) });
      const o = interpretGraph(graph('a', { p2 }), { inputs: { p: p0, g: g0, m: new Float64Array(n), v: new Float64Array(n), lr: Float64Array.of(1e-3), step: Int32Array.of(step), clip: Float64Array.of(1, 0) } });
      return Array.from(o.p2, (x, i) => (x - p0[i]) / (-1e-3 * Math.sign(g0[i])));
    };
    for (const r of ratios(16, 33)) expect(r).toBeCloseTo(1, 6);
    for (const r of ratios(16, 1)) expect(r).toBeCloseTo(1, 6);
    for (const r of ratios(0, 33)) expect(r).toBeCloseTo((0.1 / (1 - 0.9 ** 33)) * Math.sqrt((1 - 0.95 ** 33) / 0.05), 6);
  });
});
