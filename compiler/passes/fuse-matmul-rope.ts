// Pass `fuse-matmul-rope`: the forward rope of q and k moves into the matmuls that project them:
//   q = matmul(x, Wq); k = matmul(x, Wk); (q', k') = rope(q, k)   →   q' = matmul(x, Wq; rope), k' = …
// The subgroup GEMM of CPU adapters holds each output row's four columns in a lane and the rotation
// partner (column ± hd/2) in the lane hd/8 away, so the rotation is a shuffle and a few operations per
// element in its epilogue, and the rope dispatch (one per layer) with its read and write of q and k goes
// away (issue 8: on lavapipe every dispatch has a fixed cost); other lowerings rotate in place after
// the product (codegen/lowerings.ts). The backward (fuse-attention-grad-rope) is the mirror image.
//
// Conditions: a forward rope (one operand, or the pair of fuse-rope-pair, so this runs after that
// pass) each of whose operands is the only use of a plain matmul (no rope yet, no graph output) whose
// product has heads·headDim columns; rows are token rows as for the rope itself. Runs after autodiff
// (a roped matmul has no gradient rule). The value is the same: the fused node computes the product
// and applies exactly that rotation (the interpreter does it literally; the kernels as the rope
// kernel does).
import { ir } from '../ir/build.ts';
import { topoOrder, users } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, Node, NodeOf, Value } from '../ir/types.ts';

export function fuseMatmulRope(g: Graph): Graph {
  const consumers = users(g);
  const graphOutputs = new Set(Object.values(g.outputs).map((v) => v.node));
  const taken = new Set<Node>();
  const groups: NodeGroup[] = [];
  const fusable = (v: Value, rope: Node): v is Value & { node: NodeOf<'matmul'> } =>
    v.node.op === 'matmul' && !v.node.attrs.rope && !taken.has(v.node) && !graphOutputs.has(v.node) && (consumers.get(v.node) ?? []).every((m) => m === rope);
  for (const n of topoOrder(g)) {
    if (n.op !== 'rope' || n.attrs.inverse) continue;
    const rope = n as NodeOf<'rope'>;
    if (!rope.inputs.every((v) => fusable(v, rope))) continue;
    const matmuls = rope.inputs.map((v) => v.node as NodeOf<'matmul'>);
    // a pair whose two operands are one product is not a q/k pair
    if (matmuls.length === 2 && matmuls[0] === matmuls[1]) continue;
    for (const m of matmuls) taken.add(m);
    const attrs = { theta: rope.attrs.theta, headDim: rope.attrs.headDim, seqLen: rope.attrs.seqLen };
    groups.push({
      members: [...matmuls, rope],
      build: (operand) => {
        const rotated = matmuls.map((m) => ir.matmulRope(operand(m.inputs[0]), operand(m.inputs[1]), m.attrs.transA, m.attrs.transB, attrs));
        return [...matmuls.map(() => [undefined]), rotated];
      },
    });
  }
  return mergeNodes(g, groups);
}
