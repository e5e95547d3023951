// Pass `fuse-expert-weight`: folds the proxy weight W_c + W_u(i) (op `expert_weight`) into the
// grouped expert GEMMs that consume it, so the sum happens in the GEMM's weight load and the proxy
// is never materialised. Runs after autodiff: the custom gradient rule of `expert_weight` has
// already been applied, and the backward data GEMM (grouped_matmul_grad_x) is fused the same way.
// Proxies of SD matrices under `project update` stay materialised: their expert_weight node is the
// only consumer of the bases U_k, V_k until the optimizer pass (which runs later) wires
// sd_project_update to them, so folding it dropped the bases and the optimizer failed.
import { ir } from '../ir/build.ts';
import { rewriteGraph } from '../ir/graph.ts';
import type { Graph } from '../ir/types.ts';

export function fuseExpertWeight(g: Graph): Graph {
  return rewriteGraph(g, (node, inputs) => {
    if ((node.op !== 'grouped_matmul' && node.op !== 'grouped_matmul_grad_x') || node.attrs.sharedWeight) return undefined;
    if (node.op === 'grouped_matmul_grad_x' && node.attrs.addend) return undefined; // its operands end in the addend (gradXOperands)
    const [first, w, counts] = inputs;
    if (w.node.op !== 'expert_weight' || w.node.attrs.project === 'update') return undefined;
    const [wc, wu] = w.node.inputs;
    const attrs = { experts: node.attrs.experts, sharedWeight: true };
    return node.op === 'grouped_matmul'
      ? [ir.groupedMatmul(first, [wc, wu], counts, attrs)]
      : [ir.groupedMatmulGradX(first, [wc, wu], counts, attrs)];
  });
}
