// Pass `fuse-attention-grad-rope`: the inverse rope that rotates attention's dq and dk back (the
// backward of the forward's rope on q and k) moves into the attention_grad that produces them:
//   (dq, dk, dv) = attention_grad(dOut, q, k, v, out, lse); (dq', dk') = rope(dq, dk; inverse)
//   → (dq', dk', dv) = attention_grad(…; ropeTheta)
// The row kernel of CPU adapters holds each head's dq (and dk) row in registers when it stores it,
// so the rotation costs a few operations per element there and the rope dispatch (one per layer)
// with its read and write of dq and dk goes away (issue 8: on lavapipe every dispatch has a fixed
// cost); other lowerings rotate dq and dk in place after the kernels (codegen/lowerings.ts).
//
// Conditions: the rope is the two-operand inverse rope of fuse-rope-pair (so it runs after that
// pass) reading outputs 0 (dq) and 1 (dk) of one attention_grad, in either order (the pair takes
// whichever rope came first), with that attention's headDim, seqLen and heads (kvHeads for dk); dq
// and dk are read by nothing else and are no graph outputs. The value is the same: the fused node computes attention_grad's dq and dk and applies
// exactly that rotation (the interpreter does it literally; the kernels as the rope kernel does).
import { ir } from '../ir/build.ts';
import { topoOrder, users } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, Node, NodeOf } from '../ir/types.ts';

export function fuseAttentionGradRope(g: Graph): Graph {
  const consumers = users(g);
  const graphOutputs = Object.values(g.outputs);
  const groups: NodeGroup[] = [];
  for (const n of topoOrder(g)) {
    if (n.op !== 'rope' || !n.attrs.inverse || n.attrs.pairHeads === undefined) continue;
    const rope = n as NodeOf<'rope'>;
    const [x, x2] = rope.inputs;
    const grad = x.node;
    if (grad.op !== 'attention_grad' || x2.node !== grad || x.index + x2.index !== 1 || x.index > 1) continue;
    const attn = grad as NodeOf<'attention_grad'>;
    const a = attn.attrs;
    // x is dq (heads) and x2 dk (kvHeads), or the other way round.
    const dqFirst = x.index === 0;
    const [xHeads, x2Heads] = dqFirst ? [a.heads, a.kvHeads] : [a.kvHeads, a.heads];
    if (a.ropeTheta !== undefined || a.headDim !== rope.attrs.headDim || a.seqLen !== rope.attrs.seqLen || xHeads !== rope.attrs.heads || x2Heads !== rope.attrs.pairHeads) continue;
    // dq and dk (outputs 0 and 1) must reach nothing but this rope.
    const readsRotated = (m: Node) => m !== rope && m.inputs.some((v) => v.node === attn && v.index < 2);
    if ((consumers.get(attn) ?? []).some(readsRotated) || graphOutputs.some((v) => v.node === attn && v.index < 2)) continue;
    groups.push({
      members: [attn, rope],
      build: (operand) => {
        const [dOut, q, k, v, out, lse] = attn.inputs.map(operand);
        const [dq, dk, dv] = ir.attentionGrad(dOut, q, k, v, out, lse, { ...a, ropeTheta: rope.attrs.theta });
        return [[undefined, undefined, dv], dqFirst ? [dq, dk] : [dk, dq]];
      },
    });
  }
  return mergeNodes(g, groups);
}
