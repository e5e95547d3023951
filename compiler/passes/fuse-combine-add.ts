// Pass `fuse-combine-add`: `x + moe_combine(ys, permRow, w)` becomes one `moe_combine` with x as its
// fourth operand, added in the combine kernel's epilogue (its `addend`). An MoE block's output is
// added to the residual stream this way: one elementwise dispatch over [tokens, dim] per MoE layer
// fewer, forward and evaluation alike.
//
// Conditions: a plain f32 add of same-shape operands; the combine has no addend yet, no other
// reader and is no graph output; x does not depend on the combine.
import { ir } from '../ir/build.ts';
import { dependsOn, topoOrder, users } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, Node, NodeOf, Value } from '../ir/types.ts';
import { typeOf } from '../ir/types.ts';

const sameShape = (a: Value, b: Value): boolean => {
  const [sa, sb] = [typeOf(a).shape, typeOf(b).shape];
  return sa.length === sb.length && sa.every((d, i) => d === sb[i]);
};

export function fuseCombineAdd(g: Graph): Graph {
  const consumers = users(g);
  const outputs = new Set(Object.values(g.outputs).map((v) => v.node));
  const fusable = (v: Value, add: Node): boolean =>
    v.node.op === 'moe_combine' &&
    v.node.inputs.length === 3 &&
    !outputs.has(v.node) &&
    (consumers.get(v.node) ?? []).length === 1 &&
    add.inputs.filter((u) => u.node === v.node).length === 1;
  const taken = new Set<Node>();
  const groups: NodeGroup[] = [];
  for (const add of topoOrder(g)) {
    if (add.op !== 'binary' || add.attrs.fn !== 'add') continue;
    const [a, b] = add.inputs;
    if (!sameShape(a, b) || typeOf(a).dtype !== 'f32') continue;
    for (const [y, x] of [[b, a], [a, b]] as const) {
      if (!fusable(y, add) || taken.has(y.node) || dependsOn(x, y.node)) continue;
      const combine = y.node as NodeOf<'moe_combine'>;
      taken.add(combine);
      groups.push({
        members: [combine, add],
        build: (operand) => {
          const [ys, permRow, w] = combine.inputs.map(operand);
          const sum = ir.moeCombine(ys, permRow, w, combine.attrs.topK, operand(x));
          return [[sum], [sum]];
        },
      });
      break;
    }
  }
  return mergeNodes(g, groups);
}
