// Params are found by typed role, not by name: the SD matrices of a plan, their four tensors and
// their Adam moments are recovered even when every param is renamed.
import { describe, expect, it } from 'vitest';
import type { ExecutionPlan } from '../../compiler/codegen/plan.ts';
import { paramsWithRole } from '../../compiler/codegen/plan.ts';
import { compileTraining } from '../../compiler/pipeline.ts';
import { spectralMatrices } from '../../runtime/train/spectral.ts';
import { tinyModel } from '../codegen/models.ts';
import type { DeviceCaps } from '../../base/caps.ts';
import { PLANNING_CAPS, TINY_TRAIN } from '../support/caps.ts';

const CAPS: DeviceCaps = PLANNING_CAPS;
const TRAIN = TINY_TRAIN;

describe('param roles', () => {
  const plan = compileTraining(tinyModel({ spectral: true }), TRAIN, CAPS).stepPlan;

  it('finds every SD matrix with its four tensors and four Adam moments', () => {
    const found = spectralMatrices(plan);
    // 2 MoE layers × gate, up, down
    expect(found.map((m) => `${m.layer}.${m.matrix}`).sort()).toEqual(['0.down', '0.gate', '0.up', '1.down', '1.gate', '1.up']);
    for (const m of found) {
      expect(plan.params[m.params.common].type.shape).toEqual([m.rows, m.cols]);
      expect(plan.params[m.params.unique].type.shape).toEqual([4, m.rows, m.cols]);
      expect(plan.params[m.params.uk].type.shape).toEqual([m.rows, 2]);
      expect(plan.params[m.params.vk].type.shape).toEqual([m.cols, 2]);
      expect(m.moments).toHaveLength(4);
      for (const name of m.moments) expect(plan.params[name].role?.kind).toBe('adam');
    }
    expect(paramsWithRole(plan, 'router').map((p) => p.role.layer)).toEqual([0, 1]);
  });

  it('does not depend on param names', () => {
    // Rename every param consistently (a moment's role names its param, as the optimizer pass writes it).
    const names = new Map(Object.keys(plan.params).map((name, i) => [name, `p${i}_${name.length}`]));
    const renamed: ExecutionPlan = {
      ...plan,
      params: Object.fromEntries(Object.entries(plan.params).map(([name, spec]) => [names.get(name)!, spec.role?.kind === 'adam' ? { ...spec, role: { ...spec.role, of: names.get(spec.role.of)! } } : spec])),
    };
    const a = spectralMatrices(plan);
    const b = spectralMatrices(renamed);
    expect(b.map((m) => [m.layer, m.matrix, m.rows, m.cols, m.moments.length])).toEqual(a.map((m) => [m.layer, m.matrix, m.rows, m.cols, m.moments.length]));
    expect(b.every((m) => /^p\d+_\d+$/.test(m.params.common) && renamed.params[m.params.common].role?.kind === 'sd')).toBe(true);
  });
});
