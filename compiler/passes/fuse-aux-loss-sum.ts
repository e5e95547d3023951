// Pass `fuse-aux-loss-sum`: `total + aux` where aux is a fused aux loss (fuse-aux-loss: x, idx,
// dLoss) becomes a fourth operand of that node, which then also writes total + aux (its third
// result) in the same dispatch. The step's loss is the cross-entropy plus each MoE layer's aux
// loss, a chain of scalar adds: one fixed-cost dispatch of 4 bytes per layer fewer. The aux value
// itself stays a result (metrics read it).
//
// Conditions: a plain add of two f32[] scalars; the aux node has no addend yet; the other operand
// does not depend on the aux node (foldAdds). Runs after fuse-aux-loss.
import { ir } from '../ir/build.ts';
import type { Graph, NodeOf, Value } from '../ir/types.ts';
import { typeOf } from '../ir/types.ts';
import { foldAdds } from './fold-add.ts';

/** The loss (output 0, f32[]) of a fused aux node without an addend; foldAdds makes the other operand the same shape. */
const fusable = (v: Value): boolean => v.node.op === 'aux_loss' && v.node.inputs.length === 3 && v.index === 0 && typeOf(v).shape.length === 0;

export function fuseAuxLossSum(g: Graph): Graph {
  return foldAdds(g, fusable, (lossValue, addend) => (operand) => {
    const node = lossValue.node as NodeOf<'aux_loss'>;
    const [x, idx, dLoss] = node.inputs.map(operand);
    const [loss, dx, sum] = ir.auxLossFusedSum(x, idx, dLoss, operand(addend), node.attrs);
    return [[loss, dx], [sum]];
  });
}
