// Pass `fuse-aux-loss-dispatch`: a fused load-balance aux loss (fuse-aux-loss: probs, idx, dLoss →
// loss, dL/dprobs) over the very idx a moe_dispatch permutes becomes part of that dispatch (`aux`
// attr, operands probs and dLoss appended, loss and dL/dprobs appended to its results). The loss
// needs the routing's histogram, which the permutation counts anyway, and the column means of probs;
// on CPU adapters the serial permutation computes it in its one invocation (the aux_loss kernel's
// partial sums replayed in order: the same bits), and a single-workgroup dispatch per MoE layer goes.
// Elsewhere (the three-stage permutation on GPUs, global-batch counts) the lowering runs the aux_loss
// kernel after the permutation, so the pass is correct on every adapter.
//
// Conditions: the aux node is fused with its gradient and has no addend yet (runs after
// fuse-aux-loss, before fuse-aux-loss-sum), is a load balance over the dispatch's experts and top-k,
// and neither probs nor dLoss depends on the dispatch. Each dispatch takes at most one aux loss.
import { ir } from '../ir/build.ts';
import { dependsOn, topoOrder } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, Node, NodeOf } from '../ir/types.ts';
import { sameValue } from '../ir/types.ts';

export function fuseAuxLossDispatch(g: Graph): Graph {
  const order = topoOrder(g);
  const taken = new Set<Node>();
  const groups: NodeGroup[] = [];
  for (const n of order) {
    if (n.op !== 'aux_loss' || n.inputs.length !== 3) continue;
    const aux = n as NodeOf<'aux_loss'>;
    if (aux.attrs.kind !== 'load_balance') continue;
    const [probs, idx, dLoss] = aux.inputs;
    const dispatch = order.find(
      (d): d is NodeOf<'moe_dispatch'> =>
        d.op === 'moe_dispatch' && !taken.has(d) && !(d as NodeOf<'moe_dispatch'>).attrs.aux && sameValue(d.inputs[1], idx) &&
        (d as NodeOf<'moe_dispatch'>).attrs.experts === aux.attrs.experts && (d as NodeOf<'moe_dispatch'>).attrs.topK === aux.attrs.topK,
    );
    if (!dispatch || dependsOn(probs, dispatch) || dependsOn(dLoss, dispatch)) continue;
    taken.add(dispatch);
    groups.push({
      members: [dispatch, aux],
      build: (operand) => {
        const outs = ir.moeDispatchAux(dispatch.inputs.map(operand), dispatch.attrs, operand(probs), operand(dLoss), aux.attrs);
        return [outs.slice(0, 5), outs.slice(5)];
      },
    });
  }
  return mergeNodes(g, groups);
}
