// MoE combine kernels: goldens and oracle agreement (random inputs, which include dropped
// assignments and padding rows), a consistent routing produced by the permute oracle with capacity
// drops, and finite-difference checks of the backward oracle against the forward oracle. Every
// variant runs on any adapter: the caps below pick the CPU (`rows`) and GPU (`parallel`) variants.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import {
  moeCombineBackwardCase,
  moeCombineBackwardOracle,
  moeCombineBackwardProgram,
  moeCombineCase,
  moeCombineOracle,
  moeCombineProgram,
  moeCombineNormInKernel,
  moeCombineNormGradInKernel,
  moeCombineRouterGradInKernel,
  moeGatherProjectInKernel,
  moeCombineVariant,
  type MoeCombineBackwardParams,
  type MoeCombineParams,
} from '../../compiler/kernels/moe-combine.ts';
import { matmulProgram } from '../../compiler/kernels/matmul.ts';
import { moePermuteOracle } from '../../compiler/kernels/moe-permute.ts';
import { routerBackwardProgram } from '../../compiler/kernels/router.ts';
import { rmsnormBackwardDwProgram, rmsnormProgram } from '../../compiler/kernels/rmsnorm.ts';
import type { RowKernelCaps } from '../../base/caps.ts';
import { checkKernel, compareOutputs, randomInputs } from '../../runtime/kernel-check.ts';
import type { HostArray } from '../../runtime/executor.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/moe_combine', import.meta.url));

const FORWARD: MoeCombineParams[] = [
  { tokens: 37, topK: 2, dim: 33, weighted: true, addend: false, gatedShared: false },
  { tokens: 37, topK: 2, dim: 33, weighted: false, addend: false, gatedShared: false },
  { tokens: 50, topK: 8, dim: 64, weighted: true, addend: true, gatedShared: true },
  // the MoE residual (fuse-combine-add): weighted rows plus the residual stream, odd width
  { tokens: 41, topK: 2, dim: 35, weighted: true, addend: true, gatedShared: false },
  // the dX un-permute of two gradients (fuse-gather-grad-add): vec4 rows and an odd width
  { tokens: 37, topK: 2, dim: 64, weighted: false, addend: false, gatedShared: false, second: true },
  { tokens: 29, topK: 3, dim: 33, weighted: false, addend: false, gatedShared: false, second: true },
];
const BACKWARD: MoeCombineBackwardParams[] = [
  { tokens: 37, topK: 2, dim: 33, gatedShared: false },
  { tokens: 50, topK: 8, dim: 100, gatedShared: true },
  { tokens: 45, topK: 3, dim: 20, gatedShared: false },
];

const CAPS: readonly (readonly [string, RowKernelCaps])[] = [
  ['cpu adapter', { subgroups: true, subgroupMinSize: 8, cpuAdapter: true }],
  ['gpu', { subgroups: false, subgroupMinSize: 0, cpuAdapter: false }],
];

/** A consistent routing (perm_row and its inverse) from the permute oracle, with capacity drops. */
function routing(tokens: number, topK: number, experts: number, seed: number): Record<string, HostArray> {
  const idx = randomInputs({ bindings: [{ name: 'topk_idx', access: 'read', type: 'i32', length: tokens * topK, fill: { kind: 'int', lo: 0, hi: experts } }] } as never, seed).topk_idx;
  const r = moePermuteOracle({ tokens, topK, experts, capacityFactor: 0.8 })({ topk_idx: idx });
  return { perm_row: r.perm_row, src_token: r.src_token, src_slot: r.src_slot };
}

describe('moe combine kernels', () => {
  it('CPU adapters get the rows variant, GPUs the parallel one', () => {
    expect(moeCombineVariant(CAPS[0][1])).toBe('rows');
    expect(moeCombineVariant(CAPS[1][1])).toBe('parallel');
  });

  for (const [, caps] of CAPS) for (const params of FORWARD) {
    const program = moeCombineProgram(params, caps);
    it(`${program.label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, program));
    it(`${program.label} matches the CPU oracle`, async () => {
      const result = await checkKernel(await testExecutor(), moeCombineCase(params, caps), 31);
      expect(result.ok, result.report).toBe(true);
    });
  }
  for (const [capsName, caps] of CAPS) it(`a second y is exactly the sum of the two un-permutes' inputs, added before the slot sum (${capsName})`, async () => {
    const exec = await testExecutor();
    const p: MoeCombineParams = { tokens: 37, topK: 2, dim: 64, weighted: false, addend: false, gatedShared: false };
    const fused = moeCombineProgram({ ...p, second: true }, caps);
    const inputs = randomInputs(fused, 12) as Record<string, Float32Array>;
    const sum = Float32Array.from(inputs.y, (v, i) => v + inputs.y2[i]);
    const viaSum = await exec.run(moeCombineProgram(p, caps), { y: sum, perm_row: inputs.perm_row });
    expect(Array.from((await exec.run(fused, inputs)).out)).toEqual(Array.from(viaSum.out));
    expect(() => moeCombineProgram({ ...p, weighted: true, second: true }, caps)).toThrow(/unweighted/);
  });
  for (const [, caps] of CAPS) for (const params of BACKWARD) {
    const program = moeCombineBackwardProgram(params, caps);
    it(`${program.label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, program));
    it(`${program.label} matches the CPU oracle`, async () => {
      const result = await checkKernel(await testExecutor(), moeCombineBackwardCase(params, caps), 32);
      expect(result.ok, result.report).toBe(true);
    });
  }

  for (const [capsName, caps] of CAPS) it(`agrees with the oracle on a consistent routing with capacity drops (${capsName})`, async () => {
    const exec = await testExecutor();
    for (const [fwd, bwd] of [[FORWARD[2], BACKWARD[1]]] as const) {
      const route = routing(fwd.tokens, fwd.topK, 4, 3);
      expect(Array.from(route.perm_row).some((r) => r < 0)).toBe(true);
      const fIn = { ...randomInputs(moeCombineProgram(fwd, caps), 1), ...route };
      const fOut = await exec.run(moeCombineProgram(fwd, caps), fIn);
      expect(compareOutputs(fOut, moeCombineOracle(fwd)(fIn), moeCombineCase(fwd, caps).tolerance).mismatches).toEqual([]);
      const bIn = { ...randomInputs(moeCombineBackwardProgram({ ...bwd, dim: fwd.dim }, caps), 2), ...route };
      const bProgram = moeCombineBackwardProgram({ ...bwd, dim: fwd.dim }, caps);
      const bOut = await exec.run(bProgram, bIn);
      expect(compareOutputs(bOut, moeCombineBackwardOracle({ ...bwd, dim: fwd.dim })(bIn), moeCombineBackwardCase(bwd, caps).tolerance).mismatches).toEqual([]);
    }
  });

  it('backward oracle matches finite differences of the forward oracle', () => {
    const fwd: MoeCombineParams = { tokens: 4, topK: 2, dim: 3, weighted: true, addend: true, gatedShared: true };
    const bwd: MoeCombineBackwardParams = { tokens: 4, topK: 2, dim: 3, gatedShared: true };
    const inputs: Record<string, HostArray> = { ...randomInputs(moeCombineProgram(fwd, CAPS[1][1]), 4), ...routing(4, 2, 3, 8) };
    const dOut = randomInputs(moeCombineProgram(fwd, CAPS[1][1]), 5).addend;
    const grads = moeCombineBackwardOracle(bwd)({ ...inputs, d_out: dOut });
    const loss = (over: Record<string, Float64Array>) => moeCombineOracle(fwd)({ ...inputs, ...over }).out.reduce((s, v, i) => s + v * dOut[i], 0);
    const h = 1e-3;
    for (const [name, grad] of [['y', grads.d_y], ['topk_w', grads.d_topk_w], ['shared_out', grads.d_shared_out], ['gate', grads.d_gate]] as const) {
      const base = Float64Array.from(inputs[name]);
      for (let i = 0; i < base.length; i++) {
        // Padding rows of y are never read: their gradient is zero by construction.
        const plus = Float64Array.from(base);
        const minus = Float64Array.from(base);
        plus[i] += h;
        minus[i] -= h;
        const numeric = (loss({ [name]: plus }) - loss({ [name]: minus })) / (2 * h);
        expect(Math.abs(grad[i] - numeric), `d_${name}[${i}]`).toBeLessThan(1e-3);
      }
    }
  });
});

// fuse-combine-norm: the residual combine RMS-normalises each row it writes (CPU adapters' rows variant).
describe('moe combine with the next rmsnorm', () => {
  const caps: RowKernelCaps = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };
  const params: MoeCombineParams = { tokens: 40, topK: 2, dim: 64, weighted: true, addend: true, gatedShared: false, norm: { eps: 1e-6 } };

  it('matches its golden WGSL and the oracle (the combine, then the rmsnorm reference of the stored rows)', async () => {
    const program = moeCombineProgram(params, caps);
    expect(program.label).toBe('moe_combine_w_add_norm_40x2_d64_rows');
    expectGoldenWgsl(GOLDEN_DIR, program);
    const inputs = { ...randomInputs(program, 3), ...routing(40, 2, 4, 3) };
    const got = await (await testExecutor()).run(program, inputs);
    const want = moeCombineOracle(params)(inputs);
    const { mismatches } = compareOutputs(got, want, { atol: 1e-5, rtol: 1e-5 });
    expect(mismatches).toEqual([]);
    expect(Array.from(got.rstd).every((r) => r > 0 && Number.isFinite(r))).toBe(true);
  });

  it('gives the bits of the combine kernel followed by the rmsnorm kernel it replaces', async () => {
    const exec = await testExecutor();
    const plain = moeCombineProgram({ ...params, norm: undefined }, caps);
    const fused = moeCombineProgram(params, caps);
    const inputs = { ...randomInputs(fused, 5), ...routing(40, 2, 4, 5) };
    const combined = await exec.run(plain, inputs);
    const normed = await exec.run(rmsnormProgram({ rows: 40, dim: 64, eps: 1e-6 }, caps), { x: combined.out, w: inputs.norm_w });
    const got = await exec.run(fused, inputs);
    expect(Array.from(got.out)).toEqual(Array.from(combined.out));
    expect(Array.from(got.norm_y)).toEqual(Array.from(normed.y));
    expect(Array.from(got.rstd)).toEqual(Array.from(normed.rstd));
  });

  it('normalises in the kernel only where the rows variant and the lane rmsnorm meet, and refuses elsewhere', () => {
    const base = { dim: 64, weighted: true, addend: true, gatedShared: false };
    expect(moeCombineNormInKernel(base, caps)).toBe(true);
    expect(moeCombineNormInKernel({ ...base, dim: 62 }, caps)).toBe(false); // not vec4 rows
    expect(moeCombineNormInKernel({ ...base, dim: 128 }, caps)).toBe(false); // the rmsnorm takes its subgroup layout
    expect(moeCombineNormInKernel({ ...base, gatedShared: true }, caps)).toBe(false);
    expect(moeCombineNormInKernel(base, { ...caps, cpuAdapter: false })).toBe(false);
    expect(() => moeCombineProgram({ ...params, dim: 62 }, caps)).toThrow(/cannot normalise/);
  });
});

// fuse-gather-grad-matmul: the dX un-permute adds the router logits' input gradient dl · W_rᵀ itself
// (CPU adapters' rows variant), where a K = E matmul accumulated into its result before.
describe('moe un-permute with the router\'s product', () => {
  const caps: RowKernelCaps = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };
  const cases: MoeCombineParams[] = [
    { tokens: 40, topK: 2, dim: 64, weighted: false, addend: false, gatedShared: false, second: true, project: { experts: 4 } },
    { tokens: 37, topK: 3, dim: 33, weighted: false, addend: false, gatedShared: false, project: { experts: 8 } },
    { tokens: 45, topK: 2, dim: 20, weighted: false, addend: false, gatedShared: false, project: { experts: 3 } },
    // rows past the last token in the last workgroup (the broadcast variant keeps them running), two expert quads
    { tokens: 45, topK: 2, dim: 32, weighted: false, addend: false, gatedShared: false, second: true, project: { experts: 8 } },
  ];
  for (const params of cases) {
    const label = moeCombineProgram(params, caps).label;
    it(`${label} matches its golden WGSL and the oracle (the un-permute plus a · bᵀ)`, async () => {
      const program = moeCombineProgram(params, caps);
      expect(program.label).toMatch(new RegExp(`_proj${params.project!.experts}(sg)?_`));
      expectGoldenWgsl(GOLDEN_DIR, program);
      const result = await checkKernel(await testExecutor(), moeCombineCase(params, caps), 6);
      expect(result.ok, result.report).toBe(true);
    });
    it(`${label} gives the bits of the un-permute and the accumulating matmul it replaces`, async () => {
      const exec = await testExecutor();
      const fused = moeCombineProgram(params, caps);
      const inputs = { ...randomInputs(fused, 14), ...routing(params.tokens, params.topK, 4, 5) } as Record<string, HostArray>;
      const { project, ...plain } = params;
      const gathered = await exec.run(moeCombineProgram(plain, caps), inputs);
      const product = matmulProgram({ M: params.tokens, N: params.dim, K: project!.experts, transA: false, transB: true, accumulate: true }, caps);
      const want = await exec.run(product, { a: inputs.proj_a, b: inputs.proj_b, c: gathered.out });
      const got = await exec.run(fused, inputs);
      expect(Array.from(got.out)).toEqual(Array.from(want.c));
      // the product is really there: the plain un-permute differs
      expect(Array.from(got.out)).not.toEqual(Array.from(gathered.out));
    });
  }

  it('adds the product in the row loop only on CPU adapters, up to 8 experts, and refuses elsewhere', () => {
    const p = cases[0];
    expect(moeGatherProjectInKernel({ ...p, experts: 8 }, caps)).toBe(true);
    expect(moeGatherProjectInKernel({ ...p, experts: 9 }, caps)).toBe(false);
    expect(moeGatherProjectInKernel({ ...p, experts: 4, weighted: true }, caps)).toBe(false);
    expect(moeGatherProjectInKernel({ ...p, experts: 4 }, { ...caps, cpuAdapter: false })).toBe(false);
    expect(() => moeCombineProgram(p, { ...caps, cpuAdapter: false })).toThrow(/cannot add the product/);
  });
});

// fuse-combine-router-grad: the combine backward's rows also run each token's router backward from the
// token's own top-k weight gradients (CPU adapters' rows variant).
describe('moe combine backward with the router\'s backward', () => {
  const caps: RowKernelCaps = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };
  const cases: MoeCombineBackwardParams[] = [
    { tokens: 40, topK: 2, dim: 64, gatedShared: false, router: { experts: 4, scoring: 'softmax', normalize: false, scale: 1 } },
    { tokens: 37, topK: 3, dim: 33, gatedShared: false, router: { experts: 8, scoring: 'sigmoid', normalize: true, scale: 2.5 } },
  ];
  for (const params of cases) {
    const label = moeCombineBackwardProgram(params, caps).label;
    it(`${label} matches its golden WGSL and the oracle (the combine backward, then the router backward of its d_topk_w)`, async () => {
      const program = moeCombineBackwardProgram(params, caps);
      expect(program.label).toMatch(/_router_/);
      expectGoldenWgsl(GOLDEN_DIR, program);
      const result = await checkKernel(await testExecutor(), moeCombineBackwardCase(params, caps), 8);
      expect(result.ok, result.report).toBe(true);
    });
    it(`${label} gives the bits of the combine backward and the router backward it replaces`, async () => {
      const exec = await testExecutor();
      const fused = moeCombineBackwardProgram(params, caps);
      const inputs = { ...randomInputs(fused, 15), ...routing(params.tokens, params.topK, params.router!.experts, 6) } as Record<string, HostArray>;
      const { router, ...plain } = params;
      const combined = await exec.run(moeCombineBackwardProgram(plain, caps), inputs);
      const routed = await exec.run(routerBackwardProgram({ tokens: params.tokens, topK: params.topK, ...router!, selectionBias: false, dProbs: 'full' }), { ...inputs, d_topk_w: combined.d_topk_w });
      const got = await exec.run(fused, inputs);
      for (const name of ['d_y', 'd_topk_w'] as const) expect(Array.from(got[name]), name).toEqual(Array.from(combined[name]));
      expect(Array.from(got.d_logits)).toEqual(Array.from(routed.d_logits));
      expect(Array.from(got.d_logits).some((v) => v !== 0)).toBe(true);
    });
  }

  it('differentiates the router in the rows only on CPU adapters, without a gated shared expert, and refuses elsewhere', () => {
    expect(moeCombineRouterGradInKernel({ gatedShared: false }, caps)).toBe(true);
    expect(moeCombineRouterGradInKernel({ gatedShared: true }, caps)).toBe(false);
    expect(moeCombineRouterGradInKernel({ gatedShared: false }, { ...caps, cpuAdapter: false })).toBe(false);
    expect(() => moeCombineBackwardProgram(cases[0], { ...caps, cpuAdapter: false })).toThrow(/cannot differentiate the router/);
  });
});

// fuse-norm-grad-combine-grad: the combine backward's token rows run the RMSNorm backward whose dx is its d_out
// first, scattering each dx vec4 to the token's expert rows as they store it (CPU adapters' rows variant).
describe('moe combine backward with the norm backward in front', () => {
  const caps: RowKernelCaps = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };
  const router = { experts: 4, scoring: 'softmax', normalize: false, scale: 1 } as const;
  const cases: MoeCombineBackwardParams[] = [
    // the demo's shape class: residual addend, the router fused too
    { tokens: 40, topK: 2, dim: 64, gatedShared: false, router, normGrad: { eps: 1e-5, addend: true } },
    // no addend, no router, a token count that leaves the last subgroup part empty, top-3
    { tokens: 37, topK: 3, dim: 32, gatedShared: false, normGrad: { eps: 1e-6, addend: false } },
    // top-8 of 8 sigmoid experts, normalised and scaled
    { tokens: 29, topK: 8, dim: 16, gatedShared: false, router: { experts: 8, scoring: 'sigmoid', normalize: true, scale: 2.5 }, normGrad: { eps: 1e-5, addend: true } },
  ];
  const inputsOf = (fused: ReturnType<typeof moeCombineBackwardProgram>, params: MoeCombineBackwardParams, seed: number) =>
    ({ ...randomInputs(fused, seed), ...routing(params.tokens, params.topK, params.router?.experts ?? 4, seed + 1) }) as Record<string, HostArray>;
  for (const params of cases) {
    const label = moeCombineBackwardProgram(params, caps).label;
    it(`${label} matches its golden WGSL and the oracle (the norm backward, then the combine backward of its dx)`, async () => {
      const program = moeCombineBackwardProgram(params, caps);
      expect(program.label).toMatch(/_normgrad/);
      expectGoldenWgsl(GOLDEN_DIR, program);
      const inputs = inputsOf(program, params, 21);
      const expected = moeCombineBackwardCase(params, caps).oracle(inputs);
      const got = await (await testExecutor()).run(program, inputs);
      const { mismatches, maxAbsErr } = compareOutputs(got, expected, { atol: 1e-4, rtol: 1e-4 });
      expect(mismatches, `max abs err ${maxAbsErr}`).toEqual([]);
      // the routing drops assignments, so padding rows exist and are zero; the others carry gradient
      const padding = Array.from(inputs.src_token).flatMap((t, r) => (t < 0 ? [r] : []));
      expect(padding.length).toBeGreaterThan(0);
      expect(padding.every((r) => got.d_y.slice(r * params.dim, (r + 1) * params.dim).every((v) => v === 0))).toBe(true);
      expect(Array.from(got.d_topk_w).some((v) => v !== 0)).toBe(true);
    });
    it(`${label} gives the bits of the norm backward and the combine backward it replaces`, async () => {
      const exec = await testExecutor();
      const fused = moeCombineBackwardProgram(params, caps);
      // the unfused outputs start as NaN where nothing writes them, the fused ones too: every element is written
      const inputs = inputsOf(fused, params, 33);
      const { normGrad, ...plain } = params;
      const norm = await exec.run(rmsnormBackwardDwProgram({ rows: params.tokens, dim: params.dim, eps: normGrad!.eps, addend: normGrad!.addend }, caps), inputs);
      const combined = await exec.run(moeCombineBackwardProgram(plain, caps), { ...inputs, d_out: norm.dx });
      const got = await exec.run(fused, inputs);
      expect(Array.from(got.dx)).toEqual(Array.from(norm.dx));
      expect(Array.from(got.dw)).toEqual(Array.from(norm.dw));
      for (const name of ['d_y', 'd_topk_w', ...(params.router ? ['d_logits'] : [])]) expect(Array.from(got[name]), name).toEqual(Array.from(combined[name]));
    });
  }

  it('runs the norm backward in the rows only on CPU adapters, for vec4 rows of the lane layout, without a gated shared expert, and refuses elsewhere', () => {
    expect(moeCombineNormGradInKernel({ dim: 64, gatedShared: false }, caps)).toBe(true);
    expect(moeCombineNormGradInKernel({ dim: 66, gatedShared: false }, caps)).toBe(false);
    expect(moeCombineNormGradInKernel({ dim: 128, gatedShared: false }, caps)).toBe(false);
    expect(moeCombineNormGradInKernel({ dim: 64, gatedShared: true }, caps)).toBe(false);
    expect(moeCombineNormGradInKernel({ dim: 64, gatedShared: false }, { ...caps, cpuAdapter: false })).toBe(false);
    expect(() => moeCombineBackwardProgram(cases[0], { ...caps, cpuAdapter: false })).toThrow(/norm backward/);
  });
});
