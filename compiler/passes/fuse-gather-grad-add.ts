// Pass `fuse-gather-grad-add`: `moe_gather_grad(a + b, permRow)` becomes `moe_gather_grad(a, permRow, b)`,
// the un-permute summing both gradients per assignment row. In an MoE block whose experts read the
// dispatched rows twice (SwiGLU's gate and up GEMMs), autodiff adds the two grouped_matmul_grad_x
// results before un-permuting them: the add was a dispatch of its own over [tokens·k, dim] per MoE
// layer, and its result a buffer of that size. The fused kernel adds each element pair before the
// sum over the top-k slots, which is exactly the unfused order (interpreter and kernel alike).
//
// Conditions: a plain add of two operands of the same shape (no broadcasting) that nothing else
// reads and that is no graph output; the gather-grad has no second operand yet.
import { ir } from '../ir/build.ts';
import { rewriteGraph, users } from '../ir/graph.ts';
import type { Graph, Node } from '../ir/types.ts';
import { sameShape } from './fold-add.ts';

export function fuseGatherGradAdd(g: Graph): Graph {
  const consumers = users(g);
  const outputs = new Set<Node>(Object.values(g.outputs).map((v) => v.node));
  return rewriteGraph(g, (node, inputs) => {
    if (node.op !== 'moe_gather_grad' || node.inputs.length !== 2) return undefined;
    // Use counts come from the original graph, so test the original operand.
    const sum = node.inputs[0].node;
    if (sum.op !== 'binary' || sum.attrs.fn !== 'add' || outputs.has(sum) || (consumers.get(sum)?.length ?? 0) !== 1) return undefined;
    if (inputs[0].node.op !== 'binary') return undefined;
    const [a, b] = inputs[0].node.inputs;
    if (!sameShape(a, b)) return undefined;
    return [ir.moeGatherGrad(a, inputs[1], node.attrs.topK, b)];
  });
}
