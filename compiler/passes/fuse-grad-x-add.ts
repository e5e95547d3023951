// Pass `fuse-grad-x-add`: an un-permute summing two grouped data gradients of the same routed rows,
// `moe_gather_grad(a, permRow, b)` (fuse-gather-grad-add: SwiGLU experts' gate and up GEMMs' input
// gradients), becomes `moe_gather_grad(b', permRow)` with b' = the GEMM of b adding a to its product
// (`addend` attr, a last): the sum a + b is formed once per row in the GEMM's epilogue (in place
// over a's buffer when a dies there) instead of being read as two rows per slot by the un-permute.
// On CPU adapters the un-permute is a per-row kernel whose cost is its per-lane loads: half of them go.
// The same sums (b's product added to a, as the un-permute added a + b), so the same bits.
//
// Conditions: the un-permute has its second operand; both are plain grouped_matmul_grad_x results
// (no addend, no SwiGLU epilogue) over the same counts and shape; b is read by the un-permute alone
// and is no graph output (it is replaced by the sum).
import { ir } from '../ir/build.ts';
import { rewriteGraph, users } from '../ir/graph.ts';
import type { Graph, Node, NodeOf } from '../ir/types.ts';
import { gatherGradOperands, gradXOperands, sameValue } from '../ir/types.ts';
import { sameShape } from './fold-add.ts';

export function fuseGradXAdd(g: Graph): Graph {
  const consumers = users(g);
  const outputs = new Set<Node>(Object.values(g.outputs).map((v) => v.node));
  return rewriteGraph(g, (node, inputs) => {
    if (node.op !== 'moe_gather_grad') return undefined;
    const gather = node as NodeOf<'moe_gather_grad'>;
    // Use counts come from the original graph, so test the original operands.
    const { dXs: a, dXs2: b } = gatherGradOperands(gather.attrs, gather.inputs);
    if (!b) return undefined;
    const plain = (n: Node): n is NodeOf<'grouped_matmul_grad_x'> => n.op === 'grouped_matmul_grad_x' && !(n as NodeOf<'grouped_matmul_grad_x'>).attrs.addend;
    if (!plain(a.node) || !plain(b.node) || a.node === b.node || !sameShape(a, b)) return undefined;
    if (!sameValue(gradXOperands(a.node.attrs, a.node.inputs).counts, gradXOperands(b.node.attrs, b.node.inputs).counts)) return undefined;
    if (outputs.has(b.node) || (consumers.get(b.node)?.length ?? 0) !== 1) return undefined;
    const now = gatherGradOperands(gather.attrs, inputs);
    const bNew = now.dXs2!.node as NodeOf<'grouped_matmul_grad_x'>;
    const sum = ir.groupedMatmulGradXAdd(bNew.inputs, bNew.attrs, now.dXs);
    return [ir.moeGatherGradOperands([sum, now.permRow, ...(now.project ? [now.project.a, now.project.b] : [])], gather.attrs)];
  });
}
