// Pass `fuse-rmsnorm-grad-add`: `acc + rmsnorm_grad(...)#0` becomes one `rmsnorm_grad` that takes
// acc as its fifth operand and writes dx + acc in the same row pass. In a pre-norm transformer's
// backward every norm's dx is added to the residual stream's gradient this way (four per demo
// step); each fusion removes an elementwise dispatch over [tokens, dim].
//
// Conditions: the add is a plain f32 add of two same-shape operands (no broadcasting); dx has no
// other reader and is no graph output; the rmsnorm_grad has no addend yet; and acc does not depend
// on the rmsnorm_grad (foldAdds). dw (output 1) keeps its readers. Runs after fuse-matmul-add in the training pipeline, so an add that could become a
// matmul's epilogue (updated in place) stays that.
import { ir } from '../ir/build.ts';
import { users } from '../ir/graph.ts';
import type { Graph, Node, NodeOf, Value } from '../ir/types.ts';
import { foldAdds } from './fold-add.ts';

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
  return foldAdds(g, fusable, (dx, acc) => (operand) => {
    const norm = dx.node as NodeOf<'rmsnorm_grad'>;
    const [sum, dw] = ir.rmsnormGrad(...(norm.inputs.map(operand) as [Value, Value, Value, Value]), norm.attrs.eps, operand(acc));
    return [[undefined, dw], [sum]];
  });
}
