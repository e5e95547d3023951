// Pass `fuse-router-logits`: a `router` whose logits are a plain `matmul` x·W (the MoE gate) becomes
// one router computing its own logits (`project` attr; operands x, W, then the optional bias;
// outputs idx, weights, probs, logits). A matmul that carries a fused rmsnorm of x
// (fuse-norm-matmul) brings it along (`project.norm`, the norm weight as third operand, outputs
// y and rstd after the logits). On CPU adapters the serial router kernel owns a token per
// invocation, as the rows matmul does: it normalises the row, takes its product with W, routes it,
// all in one dispatch, where the pre-MoE norm, the gate GEMM and the router took three (two since
// fuse-norm-matmul).
//
// Conditions: the router reads output 0 of the matmul as its logits; the matmul is neither
// transposed nor roped; its product keeps any other readers (a z-loss reads the logits) through the
// router's logits output. Runs after fuse-norm-matmul. Lowerings that cannot route in the product's
// kernel emit the matmul (with its norm) and then the router, so the pass is correct everywhere.
import { ir } from '../ir/build.ts';
import { dependsOn, topoOrder } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, NodeOf, Value } from '../ir/types.ts';
import { routerOperands } from '../ir/types.ts';

export function fuseRouterLogits(g: Graph): Graph {
  const groups: NodeGroup[] = [];
  const taken = new Set<NodeOf<'matmul'>>();
  for (const n of topoOrder(g)) {
    if (n.op !== 'router') continue;
    const router = n as NodeOf<'router'>;
    if (router.attrs.project) continue;
    const { logits, bias } = routerOperands(router.attrs, router.inputs);
    if (!logits || logits.index !== 0 || logits.node.op !== 'matmul') continue;
    const mm = logits.node as NodeOf<'matmul'>;
    if (mm.attrs.transA || mm.attrs.transB || mm.attrs.rope || taken.has(mm) || (bias && dependsOn(bias, mm))) continue;
    taken.add(mm);
    const norm = mm.attrs.norm;
    groups.push({
      members: [mm, router],
      build: (operand: (v: Value) => Value) => {
        const [x, weight, normWeight] = mm.inputs.map(operand);
        const outs = ir.routerProject(x, weight, router.attrs, norm ? { value: normWeight, eps: norm.eps } : undefined, bias && operand(bias));
        const [idx, weights, probs, product, y, rstd] = outs;
        return [norm ? [product, y, rstd] : [product], [idx, weights, probs]];
      },
    });
  }
  return mergeNodes(g, groups);
}
