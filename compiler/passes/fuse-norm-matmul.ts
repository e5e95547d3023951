// Pass `fuse-norm-matmul`: an `rmsnorm` whose y is the A operand of a plain `matmul` becomes that
// matmul's prologue (`norm` attr, the norm weight as a third operand, outputs (y·B, y, rstd)). Where
// the product is skinny (the MoE router's logits, N = experts) its row kernel holds each token's row
// anyway, so it normalises the row right there: one dispatch fewer per fused norm (the pre-MoE norm
// of every layer; the others are fused into the combine or the embedding that writes their x).
//
// Conditions: the matmul reads output 0 of the rmsnorm as A, not transposed, and has no rope or norm
// yet; it is the only matmul reading y that way (several, as attention's q, k and v, share y as the
// planner's batched GEMM, which a norm in one of them would break up). y and rstd keep their other
// readers (the expert dispatch, the norm's backward, the router weight's gradient). Runs after fuse-combine-norm
// and fuse-embedding-norm, which take the norms they can. Lowerings that cannot normalise in the
// matmul kernel emit the rmsnorm kernel before it, so the pass is correct on every adapter.
import { ir } from '../ir/build.ts';
import { dependsOn, topoOrder } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, NodeOf, Value } from '../ir/types.ts';

export function fuseNormMatmul(g: Graph): Graph {
  // per rmsnorm, its plain matmul readers (y as A, not transposed)
  const readers = new Map<NodeOf<'rmsnorm'>, NodeOf<'matmul'>[]>();
  for (const n of topoOrder(g)) {
    if (n.op !== 'matmul') continue;
    const mm = n as NodeOf<'matmul'>;
    const [a] = mm.inputs;
    if (mm.attrs.transA || a.index !== 0 || a.node.op !== 'rmsnorm') continue;
    const norm = a.node as NodeOf<'rmsnorm'>;
    readers.set(norm, [...(readers.get(norm) ?? []), mm]);
  }
  const fusable = (mm: NodeOf<'matmul'>, norm: NodeOf<'rmsnorm'>) => !mm.attrs.rope && !mm.attrs.norm && !dependsOn(mm.inputs[1], norm);
  const groups: NodeGroup[] = [...readers].flatMap(([norm, [mm, ...others]]) =>
    others.length > 0 || !fusable(mm, norm)
      ? []
      : [
          {
            members: [norm, mm],
            build: (operand: (v: Value) => Value) => {
              const [x, w] = norm.inputs.map(operand);
              const [product, y, rstd] = ir.matmulNorm(x, operand(mm.inputs[1]), w, norm.attrs.eps, mm.attrs.transB);
              return [[y, rstd], [product]];
            },
          },
        ],
  );
  return mergeNodes(g, groups);
}
