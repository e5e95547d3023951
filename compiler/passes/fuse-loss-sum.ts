// Pass `fuse-loss-sum`: the step's total loss, a chain of scalar adds onto the cross-entropy's mean
// ((ce + aux_1) + aux_2) + …, becomes addends of the fused cross-entropy node: operands after dMean,
// a fourth result sum, written by the masked-mean dispatch that already forms the mean, in the adds'
// order (the same bits). Each add was a fixed-cost dispatch of 4 bytes, or had to ride on an aux_loss
// kernel (fuse-aux-loss-sum), which ties that kernel to the end of the step; since
// fuse-aux-loss-dispatch computes the load-balance losses in the forward dispatches, the chain has no
// other home. Up to MAX_LOSS_ADDENDS addends (each is a binding of the masked-mean kernel); further
// adds stay for fuse-aux-loss-sum.
//
// Conditions: a plain add of two f32[] scalars; one is the node's mean (no addends yet) or its sum
// (read by nothing else and no graph output); the other does not depend on the node. Repeated until
// the chain is folded (one add per node per round: foldAdds).
import { ir } from '../ir/build.ts';
import { topoOrder } from '../ir/graph.ts';
import type { Graph, Node, Value } from '../ir/types.ts';
import { MAX_LOSS_ADDENDS, typeOf } from '../ir/types.ts';
import { foldAdds } from './fold-add.ts';

/** How many times each value (node, output) is read, by nodes and as graph outputs. */
function reads(g: Graph): (v: Value) => number {
  const count = new Map<Node, number[]>();
  const bump = (v: Value): void => {
    const list = count.get(v.node) ?? [];
    list[v.index] = (list[v.index] ?? 0) + 1;
    count.set(v.node, list);
  };
  for (const n of topoOrder(g)) n.inputs.forEach(bump);
  Object.values(g.outputs).forEach(bump);
  return (v) => count.get(v.node)?.[v.index] ?? 0;
}

export function fuseLossSum(g: Graph): Graph {
  for (let round = 0; round < MAX_LOSS_ADDENDS; round++) {
    const readsOf = reads(g);
    const fusable = (v: Value): boolean => {
      if (v.node.op !== 'cross_entropy_fused' || typeOf(v).shape.length !== 0) return false;
      const addends = v.node.inputs.length - 3;
      if (v.index === 1) return addends === 0;
      return v.index === 3 && addends < MAX_LOSS_ADDENDS && readsOf(v) === 1;
    };
    const next = foldAdds(g, fusable, (v, addend) => (operand) => {
      const [rows, mean, dlogits, sum] = ir.crossEntropyFusedSum(v.node.inputs.map(operand), operand(addend));
      return [[rows, mean, dlogits], [sum]];
    });
    if (next === g) return g;
    g = next;
  }
  return g;
}
