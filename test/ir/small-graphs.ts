// Small IR graphs used by the IR and pass tests.
import { ir } from '../../compiler/ir/build.ts';
import { graph } from '../../compiler/ir/graph.ts';
import type { Graph } from '../../compiler/ir/types.ts';

/** A two-layer MLP regression loss: mean((silu(x W1) W2 - y)^2). */
export function mlpLoss(): Graph {
  const x = ir.input('x', 'f32', [4, 3]);
  const y = ir.input('y', 'f32', [4, 2]);
  const w1 = ir.param('w1', [3, 5], { kind: 'normal', std: 0.5 });
  const w2 = ir.param('w2', [5, 2], { kind: 'normal', std: 0.5 });
  const h = ir.unary('silu', ir.matmul(x, w1));
  const d = ir.sub(ir.matmul(h, w2), y);
  const loss = ir.reduce('mean', ir.reduce('mean', ir.unary('square', d), 1), 0);
  return graph('mlp', { loss });
}

/** One MoE FFN block (grouped GEMMs) feeding a scalar loss, with an SD proxy weight for `up`. */
export function moeBlockLoss(spectral: boolean): Graph {
  const T = 6, D = 4, E = 3, K = 2, F = 5, R = 2;
  const x = ir.input('x', 'f32', [T, D]);
  const router = ir.param('router', [D, E], { kind: 'normal', std: 0.5 });
  const [idx, w] = ir.router(ir.matmul(x, router), { score: 'softmax', topK: K, normalize: true, scale: 1 });
  const [xs, permRow, offsets] = ir.moeDispatch(x, idx, { experts: E, topK: K });
  const upC = ir.param('up.common', [D, F], { kind: 'normal', std: 0.5 });
  const upU = ir.param('up.unique', [E, D, F], { kind: 'normal', std: 0.5 });
  const bases = spectral ? ([ir.param('up.U_k', [D, R], { kind: 'zeros' }, 'frozen'), ir.param('up.V_k', [F, R], { kind: 'zeros' }, 'frozen')] as const) : undefined;
  const up = ir.expertWeight(upC, upU, { experts: E, spectral, aggregate: 'sum' }, bases);
  const h = ir.unary('silu', ir.groupedMatmul(xs, [up], offsets, { experts: E, sharedWeight: false }));
  const down = ir.param('down', [E, F, D], { kind: 'normal', std: 0.5 });
  const ys = ir.groupedMatmul(h, [down], offsets, { experts: E, sharedWeight: false });
  const y = ir.moeCombine(ys, permRow, w, K);
  const loss = ir.reduce('sum', ir.reduce('sum', ir.unary('square', y), 1), 0);
  return graph('moe_block', { loss });
}
