// Pass `fuse-aux-loss-sum`: `total + aux` where aux is a fused aux loss (fuse-aux-loss: x, idx,
// dLoss) becomes a fourth operand of that node, which then also writes total + aux (its third
// result) in the same dispatch. The step's loss is the cross-entropy plus each MoE layer's aux
// loss, a chain of scalar adds: one fixed-cost dispatch of 4 bytes per layer fewer. The aux value
// itself stays a result (metrics read it).
//
// Conditions: a plain add of two f32[] scalars; the aux node has no addend yet; the other operand
// does not depend on the aux node. Runs after fuse-aux-loss.
import { ir } from '../ir/build.ts';
import { dependsOn, topoOrder } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, Node, NodeOf, Value } from '../ir/types.ts';
import { typeOf } from '../ir/types.ts';

const scalar = (v: Value): boolean => typeOf(v).dtype === 'f32' && typeOf(v).shape.length === 0;

export function fuseAuxLossSum(g: Graph): Graph {
  const taken = new Set<Node>();
  const groups: NodeGroup[] = [];
  for (const add of topoOrder(g)) {
    if (add.op !== 'binary' || add.attrs.fn !== 'add' || !add.inputs.every(scalar)) continue;
    const [a, b] = add.inputs;
    for (const [lossValue, addend] of [[b, a], [a, b]] as const) {
      const aux = lossValue.node;
      if (aux.op !== 'aux_loss' || aux.inputs.length !== 3 || lossValue.index !== 0 || taken.has(aux) || addend.node === aux || dependsOn(addend, aux)) continue;
      const node = aux as NodeOf<'aux_loss'>;
      taken.add(node);
      groups.push({
        members: [node, add],
        build: (operand) => {
          const [x, idx, dLoss] = node.inputs.map(operand);
          const [loss, dx, sum] = ir.auxLossFusedSum(x, idx, dLoss, operand(addend), node.attrs);
          return [[loss, dx], [sum]];
        },
      });
      break;
    }
  }
  return mergeNodes(g, groups);
}
