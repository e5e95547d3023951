// Pass `fuse-rope-pair`: two single-operand `rope` nodes with the same rotation (theta, headDim,
// seqLen, direction) over the same tokens become one two-operand rope (x and x2, one dispatch).
// Attention rotates q and k alike, and its backward rotates dq and dk back alike: two dispatches
// per layer each way become one, and on a CPU adapter the row kernel's cos/sin serve both tensors.
//
// Pairing is greedy in graph order: each unpaired rope takes the next compatible one whose operand
// does not depend on it (the fused node must not read its own result). The pair is scheduled after
// both operands (mergeNodes), so the earlier rope's readers wait for the later operand: with q and
// k projected from the same normed input that is a few matmuls.
import { ir } from '../ir/build.ts';
import { dependsOn, topoOrder } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, Node, NodeOf } from '../ir/types.ts';
import { typeOf } from '../ir/types.ts';

const sameRotation = (a: NodeOf<'rope'>, b: NodeOf<'rope'>): boolean =>
  a.attrs.theta === b.attrs.theta &&
  a.attrs.headDim === b.attrs.headDim &&
  a.attrs.seqLen === b.attrs.seqLen &&
  a.attrs.inverse === b.attrs.inverse &&
  typeOf(a.inputs[0]).shape[0] === typeOf(b.inputs[0]).shape[0];

export function fuseRopePair(g: Graph): Graph {
  const ropes = topoOrder(g).filter((n): n is NodeOf<'rope'> => n.op === 'rope' && n.attrs.pairHeads === undefined);
  const taken = new Set<Node>();
  const groups: NodeGroup[] = [];
  for (const [i, first] of ropes.entries()) {
    if (taken.has(first)) continue;
    const second = ropes.slice(i + 1).find((r) => !taken.has(r) && sameRotation(first, r) && !dependsOn(r.inputs[0], first));
    if (!second) continue;
    taken.add(first).add(second);
    groups.push({
      members: [first, second],
      build: (operand) => {
        const [a, b] = ir.ropePair(operand(first.inputs[0]), operand(second.inputs[0]), { ...first.attrs, pairHeads: second.attrs.heads });
        return [[a], [b]];
      },
    });
  }
  return mergeNodes(g, groups);
}
