// The experiment block's contract with the `sdmoec experiment` runner: arms and sweep values are
// `key=value` strings that `--set` takes as they are (applying a cell's overrides to the file gives
// exactly the settings the block describes), cells cross the sweeps of each arm, and check catches
// a typo in any arm or sweep value with a location inside the experiment block.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Source } from '../../grammar/index.ts';
import { checkSource, experimentCells, targetModel } from '../../compiler/config/index.ts';

const file = join(import.meta.dirname, 'experiment-example.moe');
const text = readFileSync(file, 'utf8');

describe('experiment block', () => {
  const { config, diagnostics } = checkSource(new Source('experiment-example.moe', text));

  it('normalises arms, sweeps, seeds and defaults', () => {
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(config!.experiment).toEqual({
      name: 'sd_vs_baseline',
      arms: [
        { name: 'baseline', overrides: ['model.spectral=off'] },
        { name: 'sd', overrides: ['model.spectral.project=update', 'train.clip_grad=off'] },
      ],
      baseline: 'baseline',
      sweeps: [
        { key: 'train.optimizer.lr', values: ['3e-3', '1.2e-2'], arms: null },
        { key: 'model.spectral.rank', values: ['4', '8'], arms: ['sd'] },
      ],
      seeds: [1, 2],
      metrics: ['bits_per_byte', 'expert_overlap'],
      steps: 100,
      evalBatches: 8,
    });
    expect(config!.train!.divergence).toEqual({ factor: 4, uniformFactor: 1.5, patience: 2, ema: 0.9 });
  });

  it("enumerates cells whose overrides, given to --set, produce the cell's settings", () => {
    const cells = experimentCells(config!.experiment!);
    // baseline: 2 learning rates; sd: 2 learning rates × 2 ranks; each for 2 seeds.
    expect(cells).toHaveLength((2 + 4) * 2);
    expect(cells.filter((c) => c.arm === 'sd').map((c) => c.sweep)).toContainEqual({ 'train.optimizer.lr': '1.2e-2', 'model.spectral.rank': '4' });
    for (const cell of cells) {
      const applied = checkSource(new Source('experiment-example.moe', text), { overrides: cell.overrides });
      expect(applied.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message), cell.overrides.join(' ')).toEqual([]);
      const model = targetModel(applied.config!);
      const train = applied.config!.train!;
      expect(train.steps).toBe(100);
      expect(train.optimizer.lr).toBe(Number(cell.sweep['train.optimizer.lr']));
      if (cell.arm === 'baseline') {
        expect(model.spectral).toBeNull();
        expect(train.clipGrad).toBe(1);
      } else {
        expect(model.spectral!.project).toBe('update');
        expect(model.spectral!.rank).toBe(Number(cell.sweep['model.spectral.rank']));
        expect(train.clipGrad).toBeNull();
      }
    }
  });

  it('locates a typo in an arm and a bad sweep value inside the block', () => {
    const bad = text.replace('model.spectral.project = update', 'model.spectral.projekt = update').replace('rank(4, 8', 'rank(4, 80');
    const r = checkSource(new Source('bad.moe', bad));
    expect(r.config).toBeNull();
    const errors = r.diagnostics.filter((d) => d.severity === 'error');
    const typo = errors.find((d) => d.message.includes('projekt'))!;
    expect(typo.message).toBe('unknown key model.spectral.projekt, did you mean project?');
    expect(bad.split('\n')[typo.loc!.line - 1]).toContain('arm sd(model.spectral.projekt');
    expect(typo.notes).toEqual([expect.objectContaining({ message: "in arm 'sd'" })]);
    const rank = errors.find((d) => d.message.includes('rank'))!;
    expect(bad.slice(rank.loc!.offset, rank.loc!.offset + rank.loc!.length)).toBe('80');
    expect(rank.notes![0].message).toBe("in the sweep of model.spectral.rank, with arm 'sd'");
  });

  it('reads divergence off and rejects out-of-range thresholds', () => {
    const off = checkSource(new Source('x.moe', text.replace('divergence { factor 4  patience 2 }', 'divergence off')));
    expect(off.config!.train!.divergence).toBeNull();
    const bad = checkSource(new Source('x.moe', text.replace('divergence { factor 4  patience 2 }', 'divergence { factor 1  uniform_factor 0.5  patience 0  ema 1 }')));
    expect(bad.diagnostics.map((d) => d.message)).toEqual(
      expect.arrayContaining([
        "'divergence.factor' must be greater than 1, found 1",
        "'divergence.uniform_factor' must be greater than 1, found 0.5",
        "'divergence.patience' must be at least 1, found 0",
        "'divergence.ema' must be less than 1, found 1",
      ]),
    );
  });
});
