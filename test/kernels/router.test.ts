// Router kernels: golden WGSL and CPU-oracle agreement for softmax/sigmoid scoring, renormalised
// and scaled weights, DeepSeek-V3 group-limited selection and selection-only bias; the backward
// oracle is checked against finite differences of the forward oracle (selection held fixed).
// Every forward variant runs on any adapter: the caps below pick the CPU (`serial`) and GPU
// (`list`) variants.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import {
  routerBackwardCase,
  routerBackwardOracle,
  routerBackwardProgram,
  routerCase,
  routerOracle,
  routerProgram,
  routerProjectInKernel,
  routerVariant,
  ROUTER_SERIAL_MAX_TOPK,
  type RouterBackwardParams,
  type RouterParams,
  ROUTER_MAX_EXPERTS,
  ROUTER_MAX_TOPK,
} from '../../compiler/kernels/router.ts';
import { InternalError } from '../../base/errors.ts';
import type { RowKernelCaps } from '../../base/caps.ts';
import { ir } from '../../compiler/ir/build.ts';
import { graph } from '../../compiler/ir/graph.ts';
import { interpretGraph } from '../../compiler/ir/interpret.ts';
import { checkKernel, randomInputs } from '../../runtime/kernel-check.ts';
import { matmulProgram } from '../../compiler/kernels/matmul.ts';
import { rmsnormProgram } from '../../compiler/kernels/rmsnorm.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/router', import.meta.url));

const base = { normalize: false, scale: 1, selectionBias: false } as const;
const FORWARD: RouterParams[] = [
  { ...base, tokens: 37, experts: 8, topK: 2, scoring: 'softmax' },
  { ...base, tokens: 129, experts: 64, topK: 8, scoring: 'softmax', normalize: true },
  { ...base, tokens: 50, experts: 16, topK: 1, scoring: 'sigmoid', scale: 2.5 },
  { ...base, tokens: 65, experts: 64, topK: 8, scoring: 'sigmoid', normalize: true, scale: 2.5, groups: { count: 8, topk: 4 }, selectionBias: true },
  { ...base, tokens: 33, experts: 12, topK: 3, scoring: 'softmax', groups: { count: 4, topk: 2 } },
  { ...base, tokens: 20, experts: 6, topK: 2, scoring: 'sigmoid', groups: { count: 6, topk: 3 } },
  // Real MoE scales: DeepSeek-V3 (256 experts top-8, 8 groups top-4, sigmoid, bias), Qwen3-MoE
  // (128 top-8), the paper's DeepSeek-shaped config (64 top-12), and past them.
  { ...base, tokens: 70, experts: 256, topK: 8, scoring: 'sigmoid', normalize: true, scale: 2.5, groups: { count: 8, topk: 4 }, selectionBias: true },
  { ...base, tokens: 70, experts: 128, topK: 8, scoring: 'softmax', normalize: true },
  { ...base, tokens: 70, experts: 64, topK: 12, scoring: 'softmax' },
  { ...base, tokens: 9, experts: 2048, topK: 64, scoring: 'softmax', groups: { count: 256, topk: 100 }, selectionBias: true },
];
const BACKWARD: RouterBackwardParams[] = [
  { ...FORWARD[0], dProbs: 'none' },
  { ...FORWARD[1], dProbs: 'full' },
  { ...FORWARD[2], dProbs: 'broadcast' },
  { ...FORWARD[3], dProbs: 'broadcast' },
  { ...FORWARD[4], dProbs: 'broadcast', addDLogits: true },
  { ...FORWARD[6], dProbs: 'full' },
  { ...FORWARD[7], dProbs: 'broadcast', addDLogits: true },
  { ...FORWARD[8], dProbs: 'none' },
];

const CPU: RowKernelCaps = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };
const GPU: RowKernelCaps = { subgroups: false, subgroupMinSize: 0, cpuAdapter: false };

describe('router kernels', () => {
  it('CPU adapters get the serial forward up to top-16, GPUs (and larger k) the candidate-list one', () => {
    expect([routerVariant(CPU, 8), routerVariant(GPU, 8), routerVariant(CPU, ROUTER_SERIAL_MAX_TOPK + 1)]).toEqual(['serial', 'list', 'list']);
    expect(() => routerProgram({ ...base, tokens: 4, experts: 64, topK: ROUTER_SERIAL_MAX_TOPK + 1, scoring: 'softmax' }, CPU, 'serial')).toThrow(InternalError);
  });

  for (const caps of [CPU, GPU]) for (const params of FORWARD) {
    // Top-64 falls back to the list variant on a CPU adapter too: test it once.
    if (caps === CPU && routerVariant(CPU, params.topK) !== 'serial') continue;
    const program = routerProgram(params, caps);
    it(`${program.label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, program));
    it(`${program.label} matches the CPU oracle`, async () => {
      const result = await checkKernel(await testExecutor(), routerCase(params, caps), 11);
      expect(result.ok, result.report).toBe(true);
    });
  }
  for (const params of BACKWARD) {
    const program = routerBackwardProgram(params);
    it(`${program.label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, program));
    it(`${program.label} matches the CPU oracle`, async () => {
      const result = await checkKernel(await testExecutor(), routerBackwardCase(params), 12);
      expect(result.ok, result.report).toBe(true);
    });
  }

  it('selects distinct experts, breaks ties by lower index and honours groups', () => {
    const p: RouterParams = { ...base, tokens: 1, experts: 8, topK: 3, scoring: 'softmax', groups: { count: 4, topk: 2 } };
    // All keys equal: groups 0 and 1 win by index, then experts 0, 1, 2.
    const flat = routerOracle(p)({ logits: new Float32Array(8) });
    expect(Array.from(flat.topk_idx)).toEqual([0, 1, 2]);
    // With the selection bias (DeepSeek-V3) a group scores its best pair: group 3 (experts 6, 7)
    // has the best pair, group 1 the second best; expert 0 alone is best but its group loses, so
    // it must not be chosen.
    const logits = Float32Array.from([2, -3, 1.8, 1.8, -3, -3, 2.5, 2.5]);
    expect(Array.from(routerOracle({ ...p, selectionBias: true })({ logits, bias: new Float32Array(8) }).topk_idx)).toEqual([6, 7, 2]);
    // Without it a group scores its best expert: groups 3 and 0 win.
    expect(Array.from(routerOracle(p)({ logits }).topk_idx)).toEqual([6, 7, 0]);
  });

  it('the IR interpreter routes exactly as the kernel oracle (groups with and without the bias)', () => {
    // Two independent implementations of the same semantics: the interpreter's router op (the
    // device-vs-interpreter oracle of whole models) and this kernel's CPU oracle.
    for (const p of FORWARD.filter((f) => f.experts <= 256)) {
      const inputs = randomInputs(routerProgram(p, GPU), 8);
      const logits = ir.input('logits', 'f32', [p.tokens, p.experts]);
      const bias = p.selectionBias ? ir.input('bias', 'f32', [p.experts]) : undefined;
      const groups = p.groups ? { groups: p.groups.count, topGroups: p.groups.topk } : {};
      const [idx, w, probs] = ir.router(logits, { score: p.scoring, topK: p.topK, normalize: p.normalize, scale: p.scale, ...groups }, bias);
      const feeds = { logits: Float64Array.from(inputs.logits), ...(bias ? { bias: Float64Array.from(inputs.bias) } : {}) };
      const got = interpretGraph(graph('r', { idx, w, probs }), { inputs: feeds });
      const want = routerOracle(p)(inputs);
      expect(Array.from(got.idx), routerProgram(p, GPU).label).toEqual(Array.from(want.topk_idx));
      got.w.forEach((x, i) => expect(Math.abs(x - want.topk_w[i])).toBeLessThan(1e-6));
    }
  });

  it('backward oracle matches finite differences of the forward oracle', () => {
    for (const params of BACKWARD) {
      const p = { ...params, tokens: 3 };
      const fwd = routerOracle(p);
      const inputs = randomInputs(routerProgram(p, GPU), 5);
      const weights = randomInputs(routerBackwardProgram(p), 6);
      const lossOf = (logits: Float32Array | Float64Array) => {
        const out = fwd({ ...inputs, logits });
        let loss = 0;
        out.topk_w.forEach((w, i) => (loss += w * weights.d_topk_w[i]));
        if (p.dProbs !== 'none') out.probs.forEach((v, i) => (loss += v * weights.d_probs[p.dProbs === 'full' ? i : i % p.experts]));
        if (p.addDLogits) logits.forEach((v, i) => (loss += v * weights.d_logits_extra[i]));
        return loss;
      };
      const logits = Float64Array.from(inputs.logits);
      const out = fwd(inputs);
      const grad = routerBackwardOracle(p)({ ...weights, probs: Float64Array.from(out.probs), topk_idx: out.topk_idx }).d_logits;
      const h = 1e-3;
      const sameSelection = (l: Float64Array): boolean => fwd({ ...inputs, logits: l }).topk_idx.every((e, j) => e === out.topk_idx[j]);
      let checked = 0;
      for (let i = 0; i < logits.length; i++) {
        const plus = Float64Array.from(logits);
        const minus = Float64Array.from(logits);
        plus[i] += h;
        minus[i] -= h;
        // Top-k is piecewise constant: a step that changes the selection crosses a discontinuity,
        // where a finite difference measures the jump, not the gradient.
        if (!sameSelection(plus) || !sameSelection(minus)) continue;
        checked++;
        const numeric = (lossOf(plus) - lossOf(minus)) / (2 * h);
        expect(Math.abs(grad[i] - numeric), `${routerBackwardProgram(p).label} d_logits[${i}]`).toBeLessThan(2e-3 + 1e-2 * Math.abs(numeric));
      }
      expect(checked).toBeGreaterThan(0.9 * logits.length);
    }
  });

  it('rejects shapes past its limits as compiler bugs (check refuses them first, with a location)', () => {
    expect(() => routerProgram({ ...base, tokens: 4, experts: ROUTER_MAX_EXPERTS + 1, topK: 2, scoring: 'softmax' }, CPU)).toThrow(InternalError);
    expect(() => routerProgram({ ...base, tokens: 4, experts: 256, topK: ROUTER_MAX_TOPK + 1, scoring: 'softmax' }, CPU)).toThrow(InternalError);
    expect(() => routerProgram({ ...base, tokens: 4, experts: 16, topK: 8, scoring: 'softmax', groups: { count: 4, topk: 1 } }, CPU)).toThrow(/cannot supply/);
  });
});

// fuse-router-logits: the serial router computes its token's logits (of the RMS-normalised row, with a norm) itself.
describe('router with its own product', () => {
  const projected: { params: RouterParams; caps: RowKernelCaps }[] = [
    { params: { ...base, tokens: 70, experts: 4, topK: 2, scoring: 'softmax', project: { dim: 64, norm: { eps: 1e-6 } } }, caps: CPU },
    { params: { ...base, tokens: 70, experts: 4, topK: 2, scoring: 'softmax', project: { dim: 64, norm: { eps: 1e-6 } } }, caps: { ...CPU, subgroups: false } },
    { params: { ...base, tokens: 33, experts: 8, topK: 2, scoring: 'sigmoid', normalize: true, scale: 2.5, selectionBias: true, project: { dim: 128 } }, caps: CPU },
  ];
  for (const { params, caps } of projected) {
    const label = routerProgram(params, caps).label;
    it(`${label} matches its golden WGSL and the oracle (the rmsnorm and product references, then the routing of their f32 logits)`, async () => {
      const program = routerProgram(params, caps);
      expect(program.template).toBe('router_serial');
      expectGoldenWgsl(GOLDEN_DIR, program);
      const result = await checkKernel(await testExecutor(), routerCase(params, caps), 3);
      expect(result.ok, result.report).toBe(true);
    });

    it(`${label} gives the bits of ${params.project!.norm ? 'the rmsnorm kernel, ' : ''}the rows matmul and the router it replaces`, async () => {
      const exec = await testExecutor();
      const { tokens: T, experts: E, project } = params;
      const D = project!.dim;
      const fused = routerProgram(params, caps);
      const inputs = randomInputs(fused, 13);
      const normed = project!.norm ? await exec.run(rmsnormProgram({ rows: T, dim: D, eps: project!.norm.eps }, caps), { x: inputs.x, w: inputs.norm_w }) : undefined;
      const product = await exec.run(matmulProgram({ M: T, N: E, K: D }, caps), { a: normed ? normed.y : inputs.x, b: inputs.w_r });
      const routed = await exec.run(routerProgram({ ...params, project: undefined }, caps), { logits: product.c, ...(params.selectionBias ? { bias: inputs.bias } : {}) });
      const got = await exec.run(fused, inputs);
      expect(Array.from(got.logits)).toEqual(Array.from(product.c));
      for (const name of ['topk_idx', 'topk_w', 'probs']) expect(Array.from(got[name]), name).toEqual(Array.from(routed[name]));
      if (normed) {
        expect(Array.from(got.norm_y)).toEqual(Array.from(normed.y));
        expect(Array.from(got.rstd)).toEqual(Array.from(normed.rstd));
      }
      expect(new Set(Array.from(got.topk_idx)).size).toBeGreaterThan(1);
    });
  }

  it('takes the product where the serial router meets the rows matmul (E ≤ 8 in vec4s) and, with a norm, the lane rmsnorm; refuses elsewhere', () => {
    const p = { experts: 4, topK: 2 };
    expect(routerProjectInKernel(p, { dim: 64, norm: { eps: 1e-6 } }, CPU)).toBe(true);
    expect(routerProjectInKernel(p, { dim: 128 }, CPU)).toBe(true);
    expect(routerProjectInKernel(p, { dim: 128, norm: { eps: 1e-6 } }, CPU)).toBe(false); // not the lane rmsnorm's size class
    expect(routerProjectInKernel({ experts: 6, topK: 2 }, { dim: 64 }, CPU)).toBe(false);
    expect(routerProjectInKernel({ experts: 16, topK: 2 }, { dim: 64 }, CPU)).toBe(false);
    expect(routerProjectInKernel(p, { dim: 62 }, CPU)).toBe(false);
    expect(routerProjectInKernel(p, { dim: 64 }, GPU)).toBe(false);
    expect(() => routerProgram({ ...base, tokens: 8, experts: 16, topK: 2, scoring: 'softmax', project: { dim: 64 } }, CPU)).toThrow(/run the product first/);
  });
});
