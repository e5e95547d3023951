// SD-MoE `project update` on the device: AdamW (clipping and moments on the raw gradients) writes
// the step Δ, and sd_project_update adds W_c += Δ_c − D(Δ_c), W_u(i) += D(Δ_u(i)) with
// D(X) = (I − U Uᵀ) X (I − V Vᵀ). Checked (1) against the interpreter on a whole step with random
// orthonormal bases, in slabs and with every param in its own buffer, and (2) by its algebraic
// invariant over many device steps from an Algorithm-1 init: W_u stays in the double complement
// and W_c moves only inside the common space, while `project gradient` on the same run leaks.
import { Matrix } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import type { ModelConfig } from '../../compiler/config/types.ts';
import { lowerModel } from '../../compiler/lower/model.ts';
import { runPasses, TRAINING_PIPELINE } from '../../compiler/passes/registry.ts';
import { DEFAULT_OPTIMIZER } from '../../compiler/passes/optimizer.ts';
import { planGraph } from '../../compiler/codegen/plan.ts';
import { topoOrder } from '../../compiler/ir/graph.ts';
import { checkGraphOnDevice } from '../../runtime/graph-check.ts';
import { StepExecutor } from '../../runtime/step-executor.ts';
import { initializeSpectral, rebaseReadNames, spectralMatrices } from '../../runtime/train/spectral.ts';
import { Rng } from '../../base/rng.ts';
import { testExecutor } from '../support/gpu.ts';
import { orthonormalBases } from '../support/sd.ts';
import { tinyModel } from './models.ts';

/** Rank 2 runs the scalar split kernels; rank 8 the vec4 ones. */
function sdModel(project: 'gradient' | 'update', commonGrad: 'sum' | 'mean' = 'sum', rank = 2): ModelConfig {
  const m = tinyModel({ spectral: true });
  return { ...m, spectral: { ...m.spectral!, project, commonGrad, rank } };
}

function stepGraph(model: ModelConfig) {
  const opts = { ...DEFAULT_OPTIMIZER, spectral: { project: model.spectral!.project, resetEvery: 0 } };
  return runPasses(lowerModel(model, { batch: 2, seqLen: 8 }), TRAINING_PIPELINE, { optimizer: opts });
}

// Row-major helpers for the invariant: X [K,N], U [K,r], V [N,r].
const mat = (a: ArrayLike<number>, rows: number, cols: number): Matrix => new Matrix(Array.from({ length: rows }, (_, i) => Array.from(a).slice(i * cols, (i + 1) * cols)));
const D = (X: Matrix, U: Matrix, V: Matrix): Matrix => {
  const left = Matrix.sub(X, U.mmul(U.transpose().mmul(X)));
  return Matrix.sub(left, left.mmul(V).mmul(V.transpose()));
};

/** Runs `steps` device steps from an Algorithm-1 init; returns the worst relative leaks. */
async function leaks(project: 'gradient' | 'update', steps: number, rank = 2) {
  const exec = await testExecutor();
  const g = stepGraph(sdModel(project, 'sum', rank));
  const plan = planGraph(g, exec.ctx.caps);
  const step = new StepExecutor(exec, plan);
  await step.init(5);
  const matrices = spectralMatrices(plan);
  initializeSpectral(step, matrices, sdModel(project, 'sum', rank).spectral!, 5);
  const commons0 = new Map<string, Float32Array>();
  for (const m of matrices) commons0.set(m.name, await step.readParam(m.params.common));
  const rng = new Rng(17);
  const ints = topoOrder(g).filter((n) => n.op === 'input' && n.attrs.dtype === 'i32' && n.attrs.name !== 'optimizer.step');
  for (let s = 1; s <= steps; s++) {
    for (const n of ints) if (n.op === 'input') step.writeInput(n.attrs.name, Int32Array.from({ length: n.attrs.shape.reduce((a, b) => a * b, 1) }, () => rng.nextInt(40)));
    step.writeInput('optimizer.lr', Float32Array.of(3e-2));
    step.writeInput('optimizer.step', Int32Array.of(s));
    step.run();
  }
  let unique = 0;
  let common = 0;
  for (const m of matrices) {
    const [K, N, E, r] = [m.rows, m.cols, m.experts, m.rank];
    const U = mat(await step.readParam(m.params.uk), K, r);
    const V = mat(await step.readParam(m.params.vk), N, r);
    const wu = await step.readParam(m.params.unique);
    for (let e = 0; e < E; e++) {
      const W = mat(wu.subarray(e * K * N, (e + 1) * K * N), K, N);
      unique = Math.max(unique, U.transpose().mmul(W).norm() / W.norm(), W.mmul(V).norm() / W.norm());
    }
    const moved = Matrix.sub(mat(await step.readParam(m.params.common), K, N), mat(commons0.get(m.name)!, K, N));
    common = Math.max(common, D(moved, U, V).norm() / moved.norm());
  }
  step.destroy();
  return { unique, common };
}

describe('StepExecutor#readParams (the re-basing read)', () => {
  it('returns in one round trip what readParam returns, for params inside optimizer slabs and outside', async () => {
    const exec = await testExecutor();
    const model = sdModel('gradient');
    const g = stepGraph(model);
    const plan = planGraph(g, exec.ctx.caps);
    const step = new StepExecutor(exec, plan);
    await step.init(3);
    const matrices = spectralMatrices(plan);
    initializeSpectral(step, matrices, model.spectral!, 3);
    const names = matrices.flatMap((m) => [m.params.common, m.params.unique, m.params.uk, m.params.vk]);
    const batch = await step.readParams(names);
    for (const name of names) {
      const one = await step.readParam(name);
      expect(one.some((x) => x !== 0)).toBe(true); // initialised, so equality is not 0 = 0
      expect(Array.from(batch[name])).toEqual(Array.from(one));
    }
    step.destroy();
  });

  it('readOutputsAndParams: after a step, the step outputs and the params in one read equal separate reads', async () => {
    const exec = await testExecutor();
    const model = sdModel('gradient');
    const g = stepGraph(model);
    const plan = planGraph(g, exec.ctx.caps);
    const step = new StepExecutor(exec, plan);
    await step.init(3);
    const matrices = spectralMatrices(plan);
    initializeSpectral(step, matrices, model.spectral!, 3);
    const rng = new Rng(5);
    for (const n of topoOrder(g)) {
      if (n.op === 'input' && n.attrs.dtype === 'i32' && n.attrs.name !== 'optimizer.step') step.writeInput(n.attrs.name, Int32Array.from({ length: n.attrs.shape.reduce((a, b) => a * b, 1) }, () => rng.nextInt(40)));
    }
    step.writeInput('optimizer.lr', Float32Array.of(3e-2));
    step.writeInput('optimizer.step', Int32Array.of(1));
    const names = rebaseReadNames(matrices, model.spectral!);
    const outputs = Object.keys(plan.outputs).slice(0, 3);
    step.run();
    const both = await step.readOutputsAndParams(outputs, names);
    expect(Object.keys(both.params).sort()).toEqual([...names].sort());
    for (const name of names) expect(Array.from(both.params[name])).toEqual(Array.from(await step.readParam(name)));
    const separate = await step.readOutputs(outputs);
    for (const name of outputs) {
      expect(both.outputs[name].length).toBeGreaterThan(0);
      expect(Array.from(both.outputs[name])).toEqual(Array.from(separate[name]));
    }
    // The params were read after the step's update: W_c moved from its initial value.
    const m = matrices[0];
    const before = await (async () => {
      const fresh = new StepExecutor(exec, plan);
      await fresh.init(3);
      initializeSpectral(fresh, matrices, model.spectral!, 3);
      const v = await fresh.readParam(m.params.common);
      fresh.destroy();
      return v;
    })();
    expect(Array.from(both.params[m.params.common])).not.toEqual(Array.from(before));
    step.destroy();
  });
});

/** A step of `plan` initialised like a training run's (seed 3, Algorithm-1 init) with random ids (seed 5) as its i32 inputs. */
async function seededSdStep(exec: Awaited<ReturnType<typeof testExecutor>>, g: ReturnType<typeof stepGraph>, plan: ReturnType<typeof planGraph>, model: ModelConfig): Promise<StepExecutor> {
  const step = new StepExecutor(exec, plan);
  await step.init(3);
  initializeSpectral(step, spectralMatrices(plan), model.spectral!, 3);
  const rng = new Rng(5);
  for (const n of topoOrder(g)) {
    if (n.op === 'input' && n.attrs.dtype === 'i32' && n.attrs.name !== 'optimizer.step') step.writeInput(n.attrs.name, Int32Array.from({ length: n.attrs.shape.reduce((a, b) => a * b, 1) }, () => rng.nextInt(40)));
  }
  return step;
}

describe('StepExecutor: reads staged in the step\'s command buffer', () => {
  it('run({ read }) then readStaged gives what run() then readOutputsAndParams gives, whole and around host work', async () => {
    const exec = await testExecutor();
    const model = sdModel('gradient');
    const g = stepGraph(model);
    const plan = planGraph(g, exec.ctx.caps);
    const matrices = spectralMatrices(plan);
    const names = rebaseReadNames(matrices, model.spectral!);
    const outputs = Object.keys(plan.outputs).slice(0, 3);
    const plain = await seededSdStep(exec, g, plan, model);
    const staged = await seededSdStep(exec, g, plan, model);
    const around = await seededSdStep(exec, g, plan, model);
    const results = [];
    for (let s = 0; s < 2; s++) {
      for (const step of [plain, staged, around]) {
        step.writeInput('optimizer.step', Int32Array.of(s + 1));
        step.writeInput('optimizer.lr', Float32Array.of(1e-2));
      }
      plain.run();
      const want = await plain.readOutputsAndParams(outputs, names);
      staged.run('step', { read: { outputs, params: names } });
      const got = await staged.readStaged();
      let hostRan = false;
      await around.runAround(Math.floor(plan.dispatches.length / 2), async () => void (hostRan = true), { outputs });
      const gotAround = await around.readStaged();
      expect(hostRan).toBe(true);
      for (const name of outputs) {
        expect(want.outputs[name].length).toBeGreaterThan(0);
        expect(Array.from(got.outputs[name])).toEqual(Array.from(want.outputs[name]));
        expect(Array.from(gotAround.outputs[name])).toEqual(Array.from(want.outputs[name]));
      }
      for (const name of names) expect(Array.from(got.params[name])).toEqual(Array.from(want.params[name]));
      expect(Object.keys(gotAround.params)).toEqual([]);
      for (const name of outputs) expect(Array.from(want.outputs[name]).every(Number.isFinite)).toBe(true);
      results.push(want.outputs[outputs[0]][0]);
    }
    // The second step trained on from the first: the reads are that step's, not a stale copy.
    expect(results[1]).not.toEqual(results[0]);
    for (const s of [plain, staged, around]) s.destroy();
  });

  it('readStaged needs a run() that staged, and a later run() drops what nobody read', async () => {
    const exec = await testExecutor();
    const model = sdModel('gradient');
    const g = stepGraph(model);
    const step = await seededSdStep(exec, g, planGraph(g, exec.ctx.caps), model);
    step.writeInput('optimizer.step', Int32Array.of(1));
    await expect(step.readStaged()).rejects.toThrow(/readStaged without a run\(\) that staged/);
    step.run('step', { read: { outputs: ['loss'] } });
    step.run();
    await expect(step.readStaged()).rejects.toThrow(/readStaged without a run\(\) that staged/);
    step.run('step', { read: { outputs: ['loss'] } });
    const { outputs } = await step.readStaged();
    expect(Number.isFinite(outputs.loss[0])).toBe(true);
    await expect(step.readStaged()).rejects.toThrow(/readStaged without/);
    step.destroy();
  });
});

describe('SD-MoE project update on the device', () => {
  const bases = (g: ReturnType<typeof stepGraph>) => orthonormalBases(g, new Rng(11));
  const layouts = { 'optimizer slabs': undefined, 'one buffer per param': { maxStorageBufferBindingSize: 256 } };
  const cases: [string, (typeof layouts)[keyof typeof layouts], 'sum' | 'mean', number][] = [
    ...Object.entries(layouts).flatMap(([layout, limits]) => (['sum', 'mean'] as const).map((cg) => [layout, limits, cg, 2] as [string, typeof limits, 'sum' | 'mean', number])),
    ['optimizer slabs', undefined, 'mean', 8],
  ];
  for (const [layout, planLimits, commonGrad, rank] of cases) {
    it(`a whole step matches the interpreter (${layout}, common_grad ${commonGrad}, rank ${rank}: ${rank === 8 ? 'vec4' : 'scalar'} kernels)`, async () => {
      const g = stepGraph(sdModel('update', commonGrad, rank));
      const ops = topoOrder(g).map((n) => n.op);
      expect(ops.filter((op) => op === 'sd_project_update')).toHaveLength(6);
      expect(ops).not.toContain('sd_split_grad');
      const fixedParams = bases(g);
      expect(Object.keys(fixedParams)).toHaveLength(12);
      const r = await checkGraphOnDevice(await testExecutor(), g, {
        seed: 8,
        intBound: 40,
        tolerance: { atol: 1e-4, rtol: 1e-3 },
        fixedInputs: { 'optimizer.lr': Float32Array.of(1e-2), 'optimizer.step': Int32Array.of(2) },
        fixedParams,
        ...(planLimits ? { planLimits } : {}),
      });
      expect(r.ok, r.report).toBe(true);
    });
  }

  it('keeps W_u in the double complement and W_c moving inside the common space over 60 steps with the vec4 kernels (rank 8)', async () => {
    const update = await leaks('update', 60, 8);
    expect(update.unique).toBeLessThanOrEqual(1e-5);
    expect(update.common).toBeLessThanOrEqual(1e-5);
  }, 120_000);

  it('keeps W_u in the double complement and W_c moving inside the common space over 60 steps; project gradient leaks', async () => {
    const update = await leaks('update', 60);
    expect(update.unique).toBeLessThanOrEqual(1e-5);
    expect(update.common).toBeLessThanOrEqual(1e-5);
    // Control: the same run with the gradient projected before AdamW leaks through Adam's
    // elementwise normalisation, so the bounds above are not met by any update rule.
    const gradient = await leaks('gradient', 60);
    expect(gradient.unique).toBeGreaterThan(1e-3);
    expect(gradient.common).toBeGreaterThan(1e-3);
  }, 120_000);
});
