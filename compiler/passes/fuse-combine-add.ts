// Pass `fuse-combine-add`: `x + moe_combine(ys, permRow, w)` becomes one `moe_combine` with x as its
// fourth operand, added in the combine kernel's epilogue (its `addend`). An MoE block's output is
// added to the residual stream this way: one elementwise dispatch over [tokens, dim] per MoE layer
// fewer, forward and evaluation alike.
//
// Conditions: a plain f32 add of same-shape operands; the combine has no addend yet, no other
// reader and is no graph output; x does not depend on the combine (foldAdds).
import { ir } from '../ir/build.ts';
import { users } from '../ir/graph.ts';
import type { Graph, Node, NodeOf, Value } from '../ir/types.ts';
import { foldAdds } from './fold-add.ts';

export function fuseCombineAdd(g: Graph): Graph {
  const consumers = users(g);
  const outputs = new Set(Object.values(g.outputs).map((v) => v.node));
  const fusable = (v: Value, add: Node): boolean =>
    v.node.op === 'moe_combine' &&
    v.node.inputs.length === 3 &&
    !outputs.has(v.node) &&
    (consumers.get(v.node) ?? []).length === 1 &&
    add.inputs.filter((u) => u.node === v.node).length === 1;
  return foldAdds(g, fusable, (y, x) => (operand) => {
    const combine = y.node as NodeOf<'moe_combine'>;
    const [ys, permRow, w] = combine.inputs.map(operand);
    const sum = ir.moeCombine(ys, permRow, w, combine.attrs.topK, operand(x));
    return [[sum], [sum]];
  });
}
