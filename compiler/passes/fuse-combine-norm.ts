// Pass `fuse-combine-norm`: an `rmsnorm` of a residual `moe_combine`'s result (the combine has its
// addend: fuse-combine-add ran first) becomes part of that combine (`norm` attr, the norm weight as
// a fifth operand, outputs (out, y, rstd)). The combine kernel holds each token's new residual row
// as it writes it, so it normalises the row right there: one dispatch and a read of the row fewer
// per fused norm (the next layer's attention norm, or the final norm before the LM head).
//
// Conditions: the combine has an addend and no norm yet; the rmsnorm reads the combine's result
// (output 0) as x; one rmsnorm per combine (the first in graph order). The combine's result keeps
// its other readers (the residual stream, the norm's backward). Lowerings that cannot normalise in
// the combine kernel emit the rmsnorm kernel after it, so the pass is correct on every adapter.
import { ir } from '../ir/build.ts';
import { topoOrder } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, Node, NodeOf } from '../ir/types.ts';

export function fuseCombineNorm(g: Graph): Graph {
  const taken = new Set<Node>();
  const groups: NodeGroup[] = [];
  for (const n of topoOrder(g)) {
    if (n.op !== 'rmsnorm') continue;
    const norm = n as NodeOf<'rmsnorm'>;
    const [x, w] = norm.inputs;
    if (x.node.op !== 'moe_combine' || x.index !== 0 || taken.has(x.node)) continue;
    const combine = x.node as NodeOf<'moe_combine'>;
    if (combine.inputs.length !== 4 || combine.attrs.norm) continue;
    taken.add(combine);
    // mergeNodes maps the operands: a combine's addend may itself be an earlier fused combine's result.
    groups.push({
      members: [combine, norm],
      build: (operand) => {
        const [ys, permRow, weights, addend] = combine.inputs.map(operand);
        const [out, y, rstd] = ir.moeCombineNorm(ys, permRow, weights, addend, operand(w), combine.attrs.topK, norm.attrs.eps);
        return [[out], [y, rstd]];
      },
    });
  }
  return mergeNodes(g, groups);
}
