// The typed outputs of a lowered model (compiler/lower/model.ts#modelOutputs): for every model of
// every example file, the outputs lowerModel adds beyond loss / ce_loss / ce_tokens are exactly the
// ones modelOutputs lists, each with the role of the op that computes it, so the trainer and the
// evaluation can select outputs by role instead of parsing their names.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFile } from '../../compiler/config/index.ts';
import { lowerModel, modelOutputs, outputName } from '../../compiler/lower/model.ts';

const root = join(import.meta.dirname, '../..');
const files = readdirSync(join(root, 'models'))
  .filter((f) => f.endsWith('.moe'))
  .map((f) => `models/${f}`);
const SHAPE = { batch: 1, seqLen: 4 };

describe('model outputs by role', () => {
  const examples = files.flatMap((file) => checkFile(join(root, file)).config!.models.map((m) => ({ file, m })));
  // Every example has a load-balance loss: one variant of each without any aux loss as well.
  const models = [
    ...examples,
    ...examples.map(({ file, m }) => ({ file: `${file} (no aux loss)`, m: { ...m, moe: { ...m.moe, router: { ...m.moe.router, auxLoss: null, zLoss: 0 } } } })),
  ];

  it('covers models with dense layers, z-loss and no aux loss', () => {
    expect(models.some(({ m }) => m.denseLayers > 0)).toBe(true);
    expect(models.some(({ m }) => m.moe.router.zLoss > 0)).toBe(true);
    expect(models.some(({ m }) => m.moe.router.auxLoss === null)).toBe(true);
  });

  for (const routerProbs of [false, true]) {
    it(`lowerModel adds exactly modelOutputs' outputs, computed by the op of their role (routerProbs ${routerProbs})`, () => {
      for (const { file, m } of models) {
        const g = lowerModel(m, SHAPE, { routerProbs });
        const listed = modelOutputs(m, { routerProbs });
        const extra = Object.keys(g.outputs).filter((k) => !['loss', 'ce_loss', 'ce_tokens'].includes(k));
        expect(extra.sort(), `${file} ${m.name}`).toEqual(listed.map((o) => o.name).sort());
        for (const { name, role } of listed) {
          const v = g.outputs[name];
          if (role.kind === 'aux_loss') {
            expect(v.node.op, name).toBe('aux_loss');
            expect((v.node.attrs as { kind: string }).kind, name).toBe(role.loss);
          } else if (role.kind === 'expert_counts') {
            expect([v.node.op, v.index], name).toEqual(['moe_dispatch', 2]);
          } else {
            expect([v.node.op, v.index], name).toEqual(['router', 2]);
          }
        }
        // Layer order, as the evaluation's per-layer results assume.
        const layers = listed.filter((o) => o.role.kind === 'expert_counts').map((o) => o.role.layer);
        expect(layers, `${file} ${m.name}`).toEqual([...layers].sort((a, b) => a - b));
      }
    });
  }

  it('names outputs as the metrics and checkpoints have always called them', () => {
    expect(outputName({ kind: 'expert_counts', layer: 3 })).toBe('moe.3.counts');
    expect(outputName({ kind: 'router_probs', layer: 0 })).toBe('moe.0.router_probs');
    expect(outputName({ kind: 'aux_loss', layer: 1, loss: 'z_loss' })).toBe('aux.1.z_loss');
  });
});
