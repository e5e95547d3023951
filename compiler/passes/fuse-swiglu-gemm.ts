// Pass `fuse-swiglu-gemm`: SwiGLU experts' elementwise ops move into the grouped GEMMs next to them.
//   forward:   u = grouped_matmul(xs, W_up), h = swiglu(g, u)
//              → (u, h) = grouped_matmul_swiglu(xs, W_up, counts, g): the up GEMM's epilogue reads g
//                and writes h beside u (u stays a result: SwiGLU's backward reads it);
//   backward:  dh = grouped_matmul_grad_x(dY, W_down), (dg, du) = swiglu_grad(dh, g, u)
//              → (dg, du) = grouped_matmul_grad_x_swiglu(dY, W_down, counts, g, u): dh is never
//                materialised.
// Each removes an elementwise dispatch over [tokens·k, hidden] per MoE layer (issue 8: on lavapipe
// every dispatch has a fixed cost and the epilogue's extra loads ride on the GEMM's), and the
// backward one the dh buffer. Numerically the same arithmetic per element (the kernels' epilogue
// evaluates SwiGLU's formulas on the product as the SwiGLU kernels do).
//
// Conditions: the forward's u is output 0 of a plain grouped_matmul and g does not depend on it
// (the fused node must not read its own result); the backward's dh is a grouped_matmul_grad_x
// result that only this swiglu_grad reads and that is no graph output. A swiglu whose u is no
// grouped GEMM (a dense MLP), and GeGLU, are left alone.
import { ir } from '../ir/build.ts';
import { dependsOn, topoOrder, users } from '../ir/graph.ts';
import { mergeNodes, type NodeGroup } from '../ir/merge.ts';
import type { Graph, Node, NodeOf } from '../ir/types.ts';

export function fuseSwigluGemm(g: Graph): Graph {
  const consumers = users(g);
  const outputs = new Set<Node>(Object.values(g.outputs).map((v) => v.node));
  const taken = new Set<Node>();
  const groups: NodeGroup[] = [];
  for (const n of topoOrder(g)) {
    if (n.op === 'swiglu') {
      const [gate, up] = n.inputs;
      const gemm = up.node;
      if (gemm.op !== 'grouped_matmul' || up.index !== 0 || taken.has(gemm) || dependsOn(gate, gemm)) continue;
      const m = gemm as NodeOf<'grouped_matmul'>;
      taken.add(m).add(n);
      groups.push({
        members: [m, n],
        build: (operand) => {
          const ins = m.inputs.map(operand);
          const [u, h] = ir.groupedMatmulSwiglu(ins[0], ins.slice(1, -1), ins[ins.length - 1], operand(gate), m.attrs);
          return [[u], [h]];
        },
      });
    } else if (n.op === 'swiglu_grad') {
      const [dh, gate, up] = n.inputs;
      const gemm = dh.node;
      if (gemm.op !== 'grouped_matmul_grad_x' || taken.has(gemm) || outputs.has(gemm) || (consumers.get(gemm)?.length ?? 0) !== 1) continue;
      const m = gemm as NodeOf<'grouped_matmul_grad_x'>;
      taken.add(m).add(n);
      groups.push({
        members: [m, n],
        build: (operand) => {
          const ins = m.inputs.map(operand);
          const [dg, du] = ir.groupedMatmulGradXSwiglu(ins[0], ins.slice(1, -1), ins[ins.length - 1], operand(gate), operand(up), m.attrs);
          return [[undefined], [dg, du]];
        },
      });
    }
  }
  return mergeNodes(g, groups);
}
