// Pass `fuse-combine-router-grad`: `router_grad(moe_combine_grad(...)#1, probs, idx, dProbs)` becomes
// one `moe_combine_grad` with `router` (operands probs, idx, dProbs appended, dLogits its third
// result): the combine backward computes each token's top-k weight gradients (the dots of d_out with
// the expert rows) and the router's backward needs exactly those k numbers and the token's probs.
// On CPU adapters one invocation then owns a token's k dots and its router backward, and a
// single-token-per-invocation dispatch of its own per MoE layer goes. Lowerings without the rows
// combine backward run router_backward after it, so the pass is correct on every adapter.
//
// Conditions: the router_grad reads output 1 (dWeights) of a combine backward that has no router
// yet, and none of its other operands depends on that combine backward (each combine backward
// takes at most one router_grad: the first in graph order).
import { ir } from '../ir/build.ts';
import { dependsOn, topoOrder } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, Node, NodeOf } from '../ir/types.ts';

export function fuseCombineRouterGrad(g: Graph): Graph {
  const taken = new Set<Node>();
  const groups: NodeGroup[] = [];
  for (const n of topoOrder(g)) {
    if (n.op !== 'router_grad') continue;
    const rg = n as NodeOf<'router_grad'>;
    const dW = rg.inputs[0];
    const combine = dW.node;
    if (combine.op !== 'moe_combine_grad' || dW.index !== 1 || taken.has(combine)) continue;
    const cg = combine as NodeOf<'moe_combine_grad'>;
    if (cg.attrs.router || cg.attrs.topK !== rg.attrs.topK) continue;
    if (rg.inputs.slice(1).some((v) => dependsOn(v, combine))) continue;
    taken.add(combine);
    groups.push({
      members: [combine, rg],
      build: (operand) => {
        const [dYs, dWeights, dLogits] = ir.moeCombineGradRouter(cg.inputs.map(operand), cg.attrs.topK, operand(rg.inputs[1]), operand(rg.inputs[2]), operand(rg.inputs[3]), rg.attrs);
        return [[dYs, dWeights], [dLogits]];
      },
    });
  }
  return mergeNodes(g, groups);
}
