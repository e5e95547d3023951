// Pass `fuse-matmul-add`: `x + A·B` becomes one `matmul_add` (A·B accumulated onto x in the
// matmul's epilogue), when the product has no other user and no broadcasting is involved. Residual
// connections and gradient accumulation are exactly this shape; each fusion removes an elementwise
// dispatch and, when x dies there, a whole activation buffer (the planner updates x in place).
import { ir } from '../ir/build.ts';
import { rewriteGraph, users } from '../ir/graph.ts';
import type { Graph, Node, Value } from '../ir/types.ts';
import { sameShape } from './fold-add.ts';

export function fuseMatmulAdd(g: Graph): Graph {
  const consumers = users(g);
  const outputs = new Set<Node>(Object.values(g.outputs).map((v) => v.node));
  // A product with a fused rope (fuse-matmul-rope) is not a plain A·B.
  const fusable = (v: Value): boolean => v.node.op === 'matmul' && !v.node.attrs.rope && (consumers.get(v.node)?.length ?? 0) === 1 && !outputs.has(v.node);
  return rewriteGraph(g, (node, inputs) => {
    if (node.op !== 'binary' || node.attrs.fn !== 'add') return undefined;
    // Use counts come from the original graph, so test the original operands.
    const [ox, oy] = node.inputs;
    const [x, y] = inputs;
    if (!sameShape(x, y)) return undefined;
    const [product, addend] = fusable(oy) ? [y, x] : fusable(ox) ? [x, y] : [undefined, undefined];
    if (!product || !addend) return undefined;
    const m = product.node as Extract<Node, { op: 'matmul' }>;
    return [ir.matmulAdd(m.inputs[0], m.inputs[1], addend, m.attrs.transA, m.attrs.transB)];
  });
}
