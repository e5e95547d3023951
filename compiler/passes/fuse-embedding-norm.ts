// Pass `fuse-embedding-norm`: an `rmsnorm` of an `embedding` lookup's rows (the first layer's norm
// of the residual stream) becomes part of that lookup (`norm` attr, the norm weight as a third
// operand, outputs (out, y, rstd)). The lookup kernel holds each token's row as it copies it, so it
// normalises the row right there: one dispatch and a read of the rows fewer.
//
// Conditions: the rmsnorm reads the lookup's result as x; one rmsnorm per lookup (the first in
// graph order); the lookup keeps its other readers (the residual stream, the norm's backward).
// Lowerings that cannot normalise in the lookup kernel emit the rmsnorm kernel after it, so the
// pass is correct on every adapter.
import { ir } from '../ir/build.ts';
import { topoOrder } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, Node, NodeOf } from '../ir/types.ts';

export function fuseEmbeddingNorm(g: Graph): Graph {
  const taken = new Set<Node>();
  const groups: NodeGroup[] = [];
  for (const n of topoOrder(g)) {
    if (n.op !== 'rmsnorm') continue;
    const norm = n as NodeOf<'rmsnorm'>;
    const [x, w] = norm.inputs;
    if (x.node.op !== 'embedding' || taken.has(x.node)) continue;
    const lookup = x.node as NodeOf<'embedding'>;
    if (lookup.attrs.norm) continue;
    taken.add(lookup);
    groups.push({
      members: [lookup, norm],
      build: (operand) => {
        const [out, y, rstd] = ir.embeddingNorm(operand(lookup.inputs[0]), operand(lookup.inputs[1]), operand(w), norm.attrs.eps);
        return [[out], [y, rstd]];
      },
    });
  }
  return mergeNodes(g, groups);
}
