// Pass `fuse-cross-entropy`: a cross-entropy and its gradient over the same logits and targets
// become one `cross_entropy_fused` node, so the logits are read once (softmax, loss and dlogits in
// one row pass) instead of twice. Skipped when the gradient's scale depends on the loss itself
// (fusing would then create a cycle).

import { ir } from '../ir/build.ts';
import { dependsOn, rewriteGraph, topoOrder } from '../ir/graph.ts';
import type { Graph, Node, Value } from '../ir/types.ts';

export function fuseCrossEntropy(g: Graph): Graph {
  const pairs = new Map<Node, Node>(); // forward cross_entropy → its gradient node
  const order = topoOrder(g);
  for (const n of order) {
    if (n.op !== 'cross_entropy_grad') continue;
    const [dMean, logits, targets] = n.inputs;
    const forward = order.find(
      (f) => f.op === 'cross_entropy' && f.inputs[0].node === logits.node && f.inputs[0].index === logits.index && f.inputs[1].node === targets.node && f.inputs[1].index === targets.index,
    );
    if (forward && !pairs.has(forward) && !dependsOn(dMean, forward)) pairs.set(forward, n);
  }
  if (pairs.size === 0) return g;
  // Build the fused nodes first (their operands are unchanged by this pass), then redirect users.
  const fused = new Map<Node, Value[]>();
  for (const [forward, grad] of pairs) {
    const [rows, mean, dlogits] = ir.crossEntropyFused(forward.inputs[0], forward.inputs[1], grad.inputs[0]);
    fused.set(forward, [rows, mean]);
    fused.set(grad, [dlogits]);
  }
  return rewriteGraph(g, (node) => fused.get(node) ?? undefined);
}

