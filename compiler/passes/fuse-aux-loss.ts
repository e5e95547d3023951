// Pass `fuse-aux-loss`: an MoE aux loss and its gradient over the same operands (same x, idx and
// attrs) become one three-operand `aux_loss` (x, idx, dLoss) with two results, the loss and dL/dx,
// computed by one dispatch. The forward and the backward each ran the whole aux kernel (histogram,
// column means) for a few hundred bytes of results: per MoE layer two fixed-cost dispatches
// become one. As with fuse-cross-entropy, the gradient is then computed in the forward position;
// dLoss must not depend on the loss itself (it is the backward's seed or a scaling of it).
import { stableJson } from '../../base/stable-json.ts';
import { ir } from '../ir/build.ts';
import { dependsOn, topoOrder } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, Node, NodeOf } from '../ir/types.ts';
import { sameValue } from '../ir/types.ts';

export function fuseAuxLoss(g: Graph): Graph {
  const order = topoOrder(g);
  const losses = order.filter((n): n is NodeOf<'aux_loss'> => n.op === 'aux_loss' && n.inputs.length === 2);
  const grads = order.filter((n): n is NodeOf<'aux_loss_grad'> => n.op === 'aux_loss_grad');
  const taken = new Set<Node>();
  const groups: NodeGroup[] = [];
  for (const loss of losses) {
    const [x, idx] = loss.inputs;
    const attrs = stableJson(loss.attrs);
    const grad = grads.find((d) => !taken.has(d) && sameValue(d.inputs[1], x) && sameValue(d.inputs[2], idx) && stableJson(d.attrs) === attrs && !dependsOn(d.inputs[0], loss));
    if (!grad) continue;
    taken.add(grad);
    groups.push({
      members: [loss, grad],
      build: (operand) => {
        const [value, dx] = ir.auxLossFused(operand(x), operand(idx), operand(grad.inputs[0]), loss.attrs);
        return [[value], [dx]];
      },
    });
  }
  return mergeNodes(g, groups);
}
