// The parameter summary (compiler/config/summary.ts) against the parameters the compiler actually
// lowers, for every norm × activation the language accepts: LayerNorm's bias, the gate matrix
// that only gated activations have (routed, shared and dense FFNs alike) and SD-MoE's W_c are
// counted by the summary exactly as lowerModel creates them.
import { describe, expect, it } from 'vitest';
import type { Activation } from '../../compiler/config/types.ts';
import { summarize } from '../../compiler/config/summary.ts';
import { topoOrder } from '../../compiler/ir/graph.ts';
import { numel } from '../../compiler/ir/types.ts';
import { lowerModel } from '../../compiler/lower/model.ts';
import { tinyModel } from './models.ts';

const LIMITS = { maxStorageBufferBindingSize: 1 << 30 };

describe('parameter summary = lowered params', () => {
  for (const norm of ['rmsnorm', 'layernorm'] as const) {
    for (const activation of ['swiglu', 'geglu', 'gelu', 'relu', 'silu'] as Activation[]) {
      for (const spectral of [false, true]) {
        it(`${norm}, ${activation}${spectral ? ', SD' : ''}`, () => {
          const model = tinyModel({ norm, activation, denseLayers: 1, spectral });
          const params = topoOrder(lowerModel(model, { batch: 1, seqLen: 8 })).flatMap((n) => (n.op === 'param' && n.attrs.group !== 'frozen' ? [n] : []));
          const lowered = params.reduce((s, n) => s + numel(n.types[0]), 0);
          expect(summarize(model, null, LIMITS).params.total).toBe(lowered);
          const names = params.map((n) => (n.op === 'param' ? n.attrs.name : ''));
          expect(names.includes('final_norm.bias')).toBe(norm === 'layernorm');
          const gated = activation === 'swiglu' || activation === 'geglu';
          expect(names.filter((n) => n.endsWith('.gate') || n.includes('.gate.')).length > 0).toBe(gated);
        });
      }
    }
  }
});
