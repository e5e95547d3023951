// The matcher shared by the passes that fold a plain add into the node producing one of its
// operands (fuse-rmsnorm-grad-add, fuse-combine-add, fuse-aux-loss-sum): each f32 add of two
// same-shape operands (no broadcasting) is tried with its second operand as the folded value, then
// its first; the producer must pass `fusable`, be unclaimed by an earlier add, and the other
// operand must not depend on it (else the merged node would read its own result).
import { dependsOn, topoOrder } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, Node, Value } from '../ir/types.ts';
import { typeOf } from '../ir/types.ts';

export const sameShape = (a: Value, b: Value): boolean => {
  const [sa, sb] = [typeOf(a).shape, typeOf(b).shape];
  return sa.length === sb.length && sa.every((d, i) => d === sb[i]);
};

/**
 * Merges each matched add with the producer of its folded operand `v`; `build(v, other)` makes the
 * group's replacement (as NodeGroup.build: per member [producer, add], its outputs still read).
 */
export function foldAdds(g: Graph, fusable: (v: Value, add: Node) => boolean, build: (v: Value, other: Value) => NodeGroup['build']): Graph {
  const taken = new Set<Node>();
  const groups: NodeGroup[] = [];
  for (const add of topoOrder(g)) {
    if (add.op !== 'binary' || add.attrs.fn !== 'add') continue;
    const [a, b] = add.inputs;
    if (!sameShape(a, b) || typeOf(a).dtype !== 'f32') continue;
    for (const [v, other] of [[b, a], [a, b]] as const) {
      if (taken.has(v.node) || !fusable(v, add) || dependsOn(other, v.node)) continue;
      taken.add(v.node);
      groups.push({ members: [v.node, add], build: build(v, other) });
      break;
    }
  }
  return mergeNodes(g, groups);
}
