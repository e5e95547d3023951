// Pass `fuse-norm-grad-combine-grad`: `moe_combine_grad(rmsnorm_grad(dy, x, w, rstd[, acc])#0, ...)` becomes one
// `moe_combine_grad` with `normGrad` (dy first, x, w, rstd[, acc] appended; dx and dw its last two results): in a
// pre-norm transformer the gradient reaching an MoE layer's output is the next norm's dx plus the residual
// gradient, a row per token, and the combine backward reads it a row per token. On CPU adapters one invocation
// then computes a token's dx row and hands each vec4 of it to the token's expert rows and dots as it stores it:
// one dispatch fewer per MoE layer, and dx is not read back (templates/moe_combine_backward_norm_rows).
// Lowerings that cannot (GPUs, rows past the lane layout) run the two kernels in order, so the pass is correct on
// every adapter.
//
// Conditions: the combine backward reads output 0 (dx) of the rmsnorm_grad as its d_out and has no normGrad yet;
// none of its other operands depends on the rmsnorm_grad (the merged node would read its own result); each
// rmsnorm_grad goes into one combine backward, the first in graph order. dx and dw keep their other readers.
// Runs after fuse-rmsnorm-grad-add (the residual gradient is then the norm's addend) and fuse-combine-router-grad
// (the router's operands come before the norm's).
import { ir } from '../ir/build.ts';
import { dependsOn, topoOrder } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, Node, NodeOf } from '../ir/types.ts';

export function fuseNormGradCombineGrad(g: Graph): Graph {
  const taken = new Set<Node>();
  const groups: NodeGroup[] = [];
  for (const n of topoOrder(g)) {
    if (n.op !== 'moe_combine_grad') continue;
    const cg = n as NodeOf<'moe_combine_grad'>;
    const dOut = cg.inputs[0];
    const norm = dOut.node;
    if (cg.attrs.normGrad || norm.op !== 'rmsnorm_grad' || dOut.index !== 0 || taken.has(norm)) continue;
    if (cg.inputs.slice(1).some((v) => dependsOn(v, norm))) continue;
    const ng = norm as NodeOf<'rmsnorm_grad'>;
    taken.add(norm);
    groups.push({
      members: [ng, cg],
      build: (operand) => {
        const [dy, x, w, rstd, addend] = ng.inputs.map(operand);
        const outs = ir.moeCombineGradNormGrad(cg, cg.inputs.slice(1).map(operand), { dy, x, w, rstd, addend, eps: ng.attrs.eps });
        return [outs.slice(-2), outs.slice(0, -2)];
      },
    });
  }
  return mergeNodes(g, groups);
}
