// The trainer's diagnostics inputs (runtime/train/diagnostics.ts), without a device: on compiled
// plans with every param renamed, each expert matrix is found by role, SD proxies are W_c + W_u(e)
// of the right tensors, the router is attached to gate and up only (down reads the hidden
// activation), and the assembled inputs give the planted answers through diagnoseExperts.
import { describe, expect, it } from 'vitest';
import type { ExecutionPlan } from '../../compiler/codegen/plan.ts';
import { compileTraining } from '../../compiler/pipeline.ts';
import { numel } from '../../compiler/ir/types.ts';
import type { DeviceCaps } from '../../base/caps.ts';
import { PLANNING_CAPS, TINY_TRAIN } from '../support/caps.ts';
import { Rng } from '../../base/rng.ts';
import { diagnoseExperts, findSimilarity } from '../../runtime/sd/diagnostics.ts';
import { diagnosticsInputs } from '../../runtime/train/diagnostics.ts';
import { spectralMatrices } from '../../runtime/train/spectral.ts';
import { spectralInit } from '../../runtime/sd/init.ts';
import { tinyModel } from '../codegen/models.ts';

const CAPS: DeviceCaps = PLANNING_CAPS;
const TRAIN = TINY_TRAIN;

function renamed(plan: ExecutionPlan): ExecutionPlan {
  const names = new Map(Object.keys(plan.params).map((name, i) => [name, `p${i}`]));
  return {
    ...plan,
    params: Object.fromEntries(Object.entries(plan.params).map(([name, spec]) => [names.get(name)!, spec.role?.kind === 'adam' ? { ...spec, role: { ...spec.role, of: names.get(spec.role.of)! } } : spec])),
  };
}

/** Deterministic distinct values per param (a stand-in for the device). */
function store(plan: ExecutionPlan): Map<string, Float32Array> {
  const rng = new Rng(5);
  return new Map(Object.entries(plan.params).map(([name, spec]) => [name, rng.fork(name).fillNormal(new Float32Array(numel(spec.type)))]));
}

describe('diagnosticsInputs', () => {
  it('baseline: every layer × gate, up, down by role; the router on gate and up only', async () => {
    const plan = renamed(compileTraining(tinyModel(), TRAIN, CAPS).stepPlan);
    const values = store(plan);
    const inputs = await diagnosticsInputs(plan, async (name) => values.get(name)!);
    expect(inputs.map((i) => `${i.layer}.${i.matrix}`)).toEqual(['0.gate', '0.up', '0.down', '1.gate', '1.up', '1.down']);
    for (const input of inputs) {
      expect(input.sd).toBeUndefined();
      const source = [...values].find(([name]) => plan.params[name].role?.kind === 'experts' && plan.params[name].role!.layer === input.layer && (plan.params[name].role as { matrix: string }).matrix === input.matrix)!;
      expect(input.weights).toBe(source[1]);
      const router = [...values].find(([name]) => plan.params[name].role?.kind === 'router' && plan.params[name].role!.layer === input.layer)![1];
      expect(input.router).toBe(input.matrix === 'down' ? undefined : router);
      expect(input.weights.length).toBe(input.experts * input.rows * input.cols);
    }
  });

  it('SD: proxies are W_c + W_u(e) of the matrix\'s own tensors; on Algorithm 1\'s init W_u leaks nothing and proxies share W_c\'s top-k', async () => {
    const plan = renamed(compileTraining(tinyModel({ spectral: true }), TRAIN, CAPS).stepPlan);
    const values = store(plan);
    for (const m of spectralMatrices(plan)) {
      const s = spectralInit({ rows: m.rows, cols: m.cols, experts: m.experts, rank: m.rank, std: 0.3, rng: new Rng(m.name), mode: 'orthogonal_complement' });
      values.set(m.params.common, s.common).set(m.params.unique, s.unique).set(m.params.uk, s.uk).set(m.params.vk, s.vk);
    }
    const inputs = await diagnosticsInputs(plan, async (name) => values.get(name)!);
    expect(inputs).toHaveLength(6);
    for (const input of inputs) {
      const m = spectralMatrices(plan).find((x) => x.layer === input.layer && x.matrix === input.matrix)!;
      expect(input.sd!.common).toBe(values.get(m.params.common));
      expect(input.sd!.rank).toBe(2);
      const size = input.rows * input.cols;
      for (const [e, i] of [[0, 0], [input.experts - 1, size - 1]]) {
        expect(input.weights[e * size + i]).toBe(Math.fround(values.get(m.params.common)![i] + values.get(m.params.unique)![e * size + i]));
      }
      const d = diagnoseExperts(input);
      expect(d.sd!.leakage.input.max).toBeLessThan(1e-9);
      expect(d.sd!.leakage.output.max).toBeLessThan(1e-9);
      expect(findSimilarity(d, 'proxies', 'input', 'k')!.mean).toBeCloseTo(1, 5);
      expect(d.alignment !== undefined).toBe(input.matrix !== 'down');
    }
  });
});
