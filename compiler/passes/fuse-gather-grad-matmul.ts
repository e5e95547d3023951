// Pass `fuse-gather-grad-matmul`: `matmul_add(a, b, moe_gather_grad(...), transB)` with a [T,E] and
// b [D,E] becomes `moe_gather_grad(..., a, b)` with `project`: the un-permute adds the router logits'
// input gradient dl · W_rᵀ in the same row pass. That product has K = E (4 or 8 experts): its GEMM
// was a dispatch of its own per MoE layer that read and rewrote the whole [T, D] result to add four
// FMAs per element. Lowerings without the rows un-permute run that matmul after it, accumulating
// into its result as before, so the pass is correct on every adapter.
//
// Conditions: a plain matmul_add (no transA, transB) whose addend is an un-permute without a product
// that nothing else reads and that is no graph output; a rank 2 [T,E] and b [D,E] to match it.
import { ir } from '../ir/build.ts';
import { rewriteGraph, users } from '../ir/graph.ts';
import type { Graph, Node, NodeOf } from '../ir/types.ts';
import { typeOf } from '../ir/types.ts';

export function fuseGatherGradMatmul(g: Graph): Graph {
  const consumers = users(g);
  const outputs = new Set<Node>(Object.values(g.outputs).map((v) => v.node));
  return rewriteGraph(g, (node, inputs) => {
    if (node.op !== 'matmul_add') return undefined;
    const mm = node as NodeOf<'matmul_add'>;
    if (mm.attrs.transA || !mm.attrs.transB) return undefined;
    // Use counts come from the original graph, so test the original addend.
    const gather = mm.inputs[2].node;
    if (gather.op !== 'moe_gather_grad' || (gather as NodeOf<'moe_gather_grad'>).attrs.project || outputs.has(gather) || (consumers.get(gather)?.length ?? 0) !== 1) return undefined;
    const [a, b] = [typeOf(mm.inputs[0]), typeOf(mm.inputs[1])];
    const out = typeOf(mm.inputs[2]);
    if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[0] !== out.shape[0] || b.shape[0] !== out.shape[1] || b.shape[1] !== a.shape[1]) return undefined;
    const fused = inputs[2].node as NodeOf<'moe_gather_grad'>;
    return [ir.moeGatherGradOperands([...fused.inputs, inputs[0], inputs[1]], { ...fused.attrs, project: true })];
  });
}
