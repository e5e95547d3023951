// Pass `fuse-lm-head-xent`: an `lm_head_xent` and its gradient over the same h, W and targets
// become one `lm_head_xent_fused` node, so each logit chunk is computed once (loss, dlogits, dh
// and dW from one matmul) instead of once for the loss and again for the gradient. Skipped when
// the gradient's scale depends on the loss itself (fusing would then create a cycle), exactly
// like fuse-cross-entropy.
import { ir } from '../ir/build.ts';
import { dependsOn, rewriteGraph, topoOrder } from '../ir/graph.ts';
import type { Graph, Node, Value } from '../ir/types.ts';
import { sameValue } from '../ir/types.ts';

export function fuseLmHeadXent(g: Graph): Graph {
  const pairs = new Map<Node, Node>(); // forward lm_head_xent → its gradient node
  const order = topoOrder(g);
  for (const n of order) {
    if (n.op !== 'lm_head_xent_grad') continue;
    const [dMean, h, w, targets] = n.inputs;
    const forward = order.find(
      (f) => f.op === 'lm_head_xent' && f.attrs.transW === n.attrs.transW && sameValue(f.inputs[0], h) && sameValue(f.inputs[1], w) && sameValue(f.inputs[2], targets),
    );
    if (forward && !pairs.has(forward) && !dependsOn(dMean, forward)) pairs.set(forward, n);
  }
  if (pairs.size === 0) return g;
  const fused = new Map<Node, Value[]>();
  for (const [forward, grad] of pairs) {
    const [h, w, targets] = forward.inputs;
    const [rows, mean, dh, dw] = ir.lmHeadXentFused(h, w, targets, grad.inputs[0], (forward.attrs as { transW: boolean }).transW);
    fused.set(forward, [rows, mean]);
    fused.set(grad, [dh, dw]);
  }
  return rewriteGraph(g, (node) => fused.get(node) ?? undefined);
}
