// Pass `fuse-rmsnorm-grad-add`: `acc + rmsnorm_grad(...)#0` becomes one `rmsnorm_grad` that takes
// acc as its fifth operand and writes dx + acc in the same row pass. In a pre-norm transformer's
// backward every norm's dx is added to the residual stream's gradient this way (four per demo
// step); each fusion removes an elementwise dispatch over [tokens, dim].
//
// Conditions: the add is a plain f32 add of two same-shape operands (no broadcasting); dx has no
// other reader and is no graph output; the rmsnorm_grad has no addend yet; and acc does not depend
// on the rmsnorm_grad (else the fused node would read its own result). dw (output 1) keeps its
// readers. Runs after fuse-matmul-add in the training pipeline, so an add that could become a
// matmul's epilogue (updated in place) stays that.
import { ir } from '../ir/build.ts';
import { dependsOn, topoOrder, users } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, Node, Value } from '../ir/types.ts';
import { typeOf } from '../ir/types.ts';

const sameShape = (a: Value, b: Value): boolean => {
  const [sa, sb] = [typeOf(a).shape, typeOf(b).shape];
  return sa.length === sb.length && sa.every((d, i) => d === sb[i]);
};

export function fuseRmsnormGradAdd(g: Graph): Graph {
  const consumers = users(g);
  const outputs = new Set(Object.values(g.outputs).filter((v) => v.index === 0).map((v) => v.node));
  /** dx of an addend-free rmsnorm_grad read only by `add`, once. */
  const fusable = (v: Value, add: Node): boolean =>
    v.node.op === 'rmsnorm_grad' &&
    v.index === 0 &&
    v.node.inputs.length === 4 &&
    !outputs.has(v.node) &&
    add.inputs.filter((u) => u.node === v.node && u.index === 0).length === 1 &&
    (consumers.get(v.node) ?? []).every((c) => c === add || c.inputs.every((u) => u.node !== v.node || u.index !== 0));
  const groups: NodeGroup[] = [];
  const taken = new Set<Node>();
  for (const add of topoOrder(g)) {
    if (add.op !== 'binary' || add.attrs.fn !== 'add') continue;
    const [a, b] = add.inputs;
    if (!sameShape(a, b) || typeOf(a).dtype !== 'f32') continue;
    for (const [dx, acc] of [[b, a], [a, b]] as const) {
      if (!fusable(dx, add) || taken.has(dx.node) || dependsOn(acc, dx.node)) continue;
      const norm = dx.node as Extract<Node, { op: 'rmsnorm_grad' }>;
      taken.add(norm);
      groups.push({
        members: [norm, add],
        build: (operand) => {
          const [sum, dw] = ir.rmsnormGrad(...(norm.inputs.map(operand) as [Value, Value, Value, Value]), norm.attrs.eps, operand(acc));
          return [[undefined, dw], [sum]];
        },
      });
      break;
    }
  }
  return mergeNodes(g, groups);
}
