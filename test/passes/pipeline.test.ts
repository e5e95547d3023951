// Pass behaviour beyond the goldens: a pass with nothing to do hands back the very same graph,
// rewrite passes are idempotent, the optimizer pass computes clipped AdamW as specified, and the
// whole training pipeline on the tiny SD model computes exactly what plain autodiff + optimizer
// computes (the clean-up and fusion passes change the program, never the numbers).
import { describe, expect, it } from 'vitest';
import { graph, outputsWithRole, topoOrder } from '../../compiler/ir/graph.ts';
import type { Value } from '../../compiler/ir/types.ts';
import { interpretGraph, initParams } from '../../compiler/ir/interpret.ts';
import { printGraph, verifyGraph } from '../../compiler/ir/text.ts';
import { lowerModel } from '../../compiler/lower/model.ts';
import { autodiff } from '../../compiler/passes/autodiff.ts';
import { DEFAULT_OPTIMIZER, optimizer } from '../../compiler/passes/optimizer.ts';
import { TRAINING_PIPELINE, findPass, runPasses } from '../../compiler/passes/registry.ts';
import { Rng } from '../../base/rng.ts';
import { SHAPE, T, tinyModel } from '../autodiff/tiny-model.ts';
import { FIXTURES } from './fixtures.ts';


describe('pass behaviour', () => {
  for (const name of ['simplify', 'cse', 'fuse-expert-weight']) {
    it(`${name} returns the identical graph object when there is nothing to do`, () => {
      const g = FIXTURES['autodiff/mlp']();
      expect(findPass(name)!.run(g, {})).toBe(g);
    });

    it(`${name} is idempotent`, () => {
      const once = findPass(name)!.run(FIXTURES['fuse-expert-weight/moe-sd-grads'](), {});
      expect(findPass(name)!.run(once, {})).toBe(once);
    });
  }

  it('optimizer: consumes the outputs whose role is grad, whatever their names', () => {
    const g = FIXTURES['optimizer/mlp-grads']();
    const [[name, role, value], second] = outputsWithRole(g, 'grad');
    // the first gradient renamed (role kept), and a plain output that is only named like a gradient
    const outputs: Record<string, Value> = { ...g.outputs, 'renamed': value, 'grad.decoy': g.outputs.loss };
    delete outputs[name];
    const roles = { renamed: role, [second[0]]: second[1] };
    const stepped = optimizer(graph(g.name, outputs, roles));
    verifyGraph(stepped);
    expect(Object.keys(stepped.outputs)).toContain('grad.decoy');
    expect(Object.keys(stepped.outputs)).not.toContain('renamed');
    expect(stepped.roles).toBeUndefined();
    const stepsFor = topoOrder(stepped).filter((n) => n.op === 'adamw').map((n) => (n.inputs[0].node.op === 'param' ? n.inputs[0].node.attrs.name : '?'));
    expect(stepsFor.sort()).toEqual([role.param, second[1].param].sort());
    expect(() => optimizer(graph(g.name, g.outputs))).toThrow(/no gradient outputs/);
    // autodiff will not let a gradient take an existing output's name
    const forward = FIXTURES['autodiff/mlp']();
    expect(() => autodiff(graph(forward.name, { ...forward.outputs, [name]: forward.outputs.loss }))).toThrow(/already has an output named/);
  });

  it('optimizer: global-norm clipping and bias-corrected AdamW with decoupled decay', () => {
    const g = FIXTURES['optimizer/mlp-grads']();
    const rng = new Rng('optimizer');
    const params = initParams(g, 1);
    const inputs = { x: Float64Array.from({ length: 12 }, () => rng.normal()), y: Float64Array.from({ length: 8 }, () => rng.normal()) };
    const grads = interpretGraph(g, { inputs, params });
    const stepped = optimizer(g);
    verifyGraph(stepped);
    const state: Record<string, Float64Array> = {};
    for (const n of topoOrder(stepped)) {
      if (n.op === 'param' && n.attrs.group === 'optimizer_state') state[n.attrs.name] = Float64Array.from({ length: params[n.attrs.name.replace(/\.adam_[mv]$/, '')].length }, () => (n.attrs.name.endsWith('_v') ? rng.nextDouble() : rng.normal()));
    }
    const [lr, step] = [0.03, 4];
    const o = interpretGraph(stepped, { inputs: { ...inputs, 'optimizer.lr': Float64Array.of(lr), 'optimizer.step': Int32Array.of(step) }, params: { ...params, ...state } });
    const gradNames = Object.keys(grads).filter((k) => k.startsWith('grad.'));
    expect(gradNames.length).toBe(2);
    const norm = Math.sqrt(gradNames.reduce((s, k) => s + Array.from(grads[k]).reduce((a, x) => a + x * x, 0), 0));
    const clip = Math.min(1, DEFAULT_OPTIMIZER.clipGrad / (norm + 1e-6));
    expect(o.grad_norm[1]).toBeCloseTo(norm, 12);
    expect(o.grad_norm[0]).toBeCloseTo(clip, 12);
    expect(clip).toBeLessThan(1); // the clipping branch is exercised
    const { beta1: b1, beta2: b2, eps, weightDecay } = DEFAULT_OPTIMIZER;
    for (const k of gradNames) {
      const p = k.slice(5);
      for (let i = 0; i < params[p].length; i++) {
        const gs = grads[k][i] * clip;
        const m = b1 * state[`${p}.adam_m`][i] + (1 - b1) * gs;
        const v = b2 * state[`${p}.adam_v`][i] + (1 - b2) * gs * gs;
        expect(o[`state.${p}.adam_m`][i]).toBeCloseTo(m, 12);
        expect(o[`state.${p}.adam_v`][i]).toBeCloseTo(v, 12);
        const update = m / (1 - b1 ** step) / (Math.sqrt(v / (1 - b2 ** step)) + eps) + weightDecay * params[p][i];
        expect(o[`update.${p}`][i]).toBeCloseTo(params[p][i] - lr * update, 12);
      }
    }
  });

  it('fuse-expert-weight leaves the proxies of project update materialised (the optimizer needs their bases)', () => {
    const m = tinyModel(true);
    const forward = lowerModel({ ...m, spectral: { ...m.spectral!, project: 'update' } }, SHAPE);
    const fusedPipeline = ['autodiff', 'simplify', 'cse', 'fuse-expert-weight', ...TRAINING_PIPELINE.slice(3)];
    const g = runPasses(forward, fusedPipeline, { optimizer: { ...DEFAULT_OPTIMIZER, spectral: { project: 'update', resetEvery: 0 } } }, (_name, cur) => verifyGraph(cur));
    const ops = topoOrder(g).map((n) => n.op);
    expect(ops.filter((op) => op === 'sd_project_update').length).toBeGreaterThan(0);
    expect(ops).toContain('expert_weight');
    expect(topoOrder(g).some((n) => (n.op === 'grouped_matmul' || n.op === 'grouped_matmul_grad_x') && n.attrs.sharedWeight)).toBe(false);
  });

  it('the training pipeline on the tiny SD model equals plain autodiff + optimizer, value for value', () => {
    const forward = lowerModel(tinyModel(true), SHAPE);
    const compiled = runPasses(forward, TRAINING_PIPELINE, {}, (_name, cur) => verifyGraph(cur));
    // The same pipeline with the proxy weights folded into the grouped GEMMs (off by default).
    const withFusedProxies = runPasses(forward, ['autodiff', 'simplify', 'cse', 'fuse-expert-weight', ...TRAINING_PIPELINE.slice(3)], {}, (_name, cur) => verifyGraph(cur));
    const reference = optimizer(autodiff(forward));
    expect(printGraph(compiled)).not.toBe(printGraph(reference));
    expect(topoOrder(withFusedProxies).some((n) => n.op === 'expert_weight')).toBe(false);

    const rng = new Rng('pipeline');
    const params = initParams(reference, 5);
    for (const [name, v] of Object.entries(params)) {
      if (name.endsWith('.U_k') || name.endsWith('.V_k') || name.endsWith('.adam_v')) v.forEach((_, i) => (v[i] = rng.nextDouble() * 0.3));
    }
    const inputs = {
      tokens: Int32Array.from({ length: T }, () => rng.nextInt(32)),
      targets: Int32Array.from({ length: T }, () => rng.nextInt(32)),
      'optimizer.lr': Float64Array.of(1e-3),
      'optimizer.step': Int32Array.of(2),
    };
    const b = interpretGraph(reference, { inputs, params });
    for (const variant of [compiled, withFusedProxies]) {
      const a = interpretGraph(variant, { inputs, params });
      expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
      expect(Object.keys(a).filter((k) => k.startsWith('update.')).length).toBeGreaterThan(20);
      for (const k of Object.keys(b)) {
        const scale = Math.max(1e-30, ...Array.from(b[k], Math.abs));
        Array.from(a[k]).forEach((x, i) => expect(Math.abs(x - b[k][i]) / scale, `${k}[${i}]`).toBeLessThan(1e-12));
      }
    }
  });
});
