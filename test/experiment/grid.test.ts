// Grid expansion and pairing on the shipped experiment (no device): the cell count the file's
// header promises, stable directory names, overrides in the order check validates them (arm,
// sweeps, seed, steps), and each non-baseline cell paired with the baseline cell of the same seed
// and learning rate.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../base/errors.ts';
import { loadConfig } from '../../compiler/config/index.ts';
import { expandGrid } from '../../runtime/experiment/grid.ts';
import { pairedBaseline, stat } from '../../runtime/experiment/results.ts';

const FILE = fileURLToPath(new URL('../../models/sd_experiment.moe', import.meta.url));
const exp = loadConfig(FILE).config.experiment!;

describe('experiment grid', () => {
  it('expands models/sd_experiment.moe into the 45 cells its header states', () => {
    const cells = expandGrid(exp);
    expect(cells).toHaveLength(45);
    expect(new Set(cells.map((c) => c.id)).size).toBe(45);
    const count = (arm: string): number => cells.filter((c) => c.arm === arm).length;
    expect([count('baseline'), count('sd_grad'), count('sd_update')]).toEqual([9, 9, 9]);
    expect([count('baseline_noclip'), count('sd_grad_noclip'), count('sd_update_noclip'), count('sd_grad_rank')]).toEqual([3, 3, 3, 9]);
    const c = cells.find((x) => x.id === 'sd_update-lr=1.2e-2-seed2')!;
    expect(c.overrides).toEqual(['model.spectral.project=update', 'train.optimizer.lr=1.2e-2', 'train.seed=2', 'train.steps=400']);
  });

  it('--only, steps, seeds and checkpointing reach every cell; an unknown arm is a user error', () => {
    const cells = expandGrid(exp, { only: ['sd_grad_rank'], steps: 6, seeds: [5], checkpointEvery: 3 });
    expect(cells.map((c) => c.id)).toEqual(['sd_grad_rank-rank=2-seed5', 'sd_grad_rank-rank=4-seed5', 'sd_grad_rank-rank=16-seed5']);
    expect(cells[0].overrides.slice(-3)).toEqual(['train.seed=5', 'train.steps=6', 'train.checkpoint=3']);
    expect(() => expandGrid(exp, { only: ['sd_gard'] })).toThrow(UserError);
  });

  it('pairs each cell with the baseline of the same seed and learning rate', () => {
    const cells = expandGrid(exp);
    const partner = (id: string): string | undefined => pairedBaseline(cells.find((c) => c.id === id)!, cells, exp)?.id;
    expect(partner('sd_grad-lr=1.2e-2-seed3')).toBe('baseline-lr=1.2e-2-seed3');
    expect(partner('sd_update_noclip-seed1')).toBe('baseline-lr=4.8e-2-seed1'); // the arm sets lr itself
    expect(partner('sd_grad_rank-rank=16-seed2')).toBe('baseline-lr=3e-3-seed2'); // no lr: the sweep's first value
    expect(partner('baseline-lr=3e-3-seed1')).toBeUndefined();
  });

  it('stat: mean and sample standard deviation', () => {
    expect(stat([1, 2, 3, 4])).toEqual({ n: 4, mean: 2.5, std: Math.sqrt(5 / 3) });
    expect(stat([2, NaN]).n).toBe(1);
    expect(Number.isNaN(stat([2]).std)).toBe(true);
  });
});
