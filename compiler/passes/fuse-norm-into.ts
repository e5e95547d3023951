// What fuse-combine-norm and fuse-embedding-norm share: every `rmsnorm` whose x is output 0 of a
// producer node the pass accepts (one norm per producer, the first in graph order) is merged with
// that producer into one node built by the pass, outputs (out, y, rstd). mergeNodes maps the
// operands, so a producer may read an earlier merged node's result (a combine's addend may be the
// previous fused combine's residual).
import { topoOrder } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, Node, NodeOf, Value } from '../ir/types.ts';

export function fuseNormInto<P extends Node>(
  g: Graph,
  accepts: (producer: Node) => producer is P,
  build: (producer: P, operand: (v: Value) => Value, weight: Value, eps: number) => readonly [Value, Value, Value],
): Graph {
  const taken = new Set<Node>();
  const groups: NodeGroup[] = [];
  for (const n of topoOrder(g)) {
    if (n.op !== 'rmsnorm') continue;
    const norm = n as NodeOf<'rmsnorm'>;
    const [x, w] = norm.inputs;
    const producer = x.node;
    if (x.index !== 0 || taken.has(producer) || !accepts(producer)) continue;
    taken.add(producer);
    groups.push({
      members: [producer, norm],
      build: (operand) => {
        const [out, y, rstd] = build(producer, operand, operand(w), norm.attrs.eps);
        return [[out], [y, rstd]];
      },
    });
  }
  return mergeNodes(g, groups);
}
