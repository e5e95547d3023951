// Pass `fuse-combine-norm`: an `rmsnorm` of a residual `moe_combine`'s result (the combine has its
// addend: fuse-combine-add ran first) becomes part of that combine (`norm` attr, the norm weight as
// a fifth operand, outputs (out, y, rstd)). The combine kernel holds each token's new residual row
// as it writes it, so it normalises the row right there: one dispatch and a read of the row fewer
// per fused norm (the next layer's attention norm, or the final norm before the LM head).
//
// Conditions: the combine has an addend and no norm yet; the rmsnorm reads the combine's result
// (output 0) as x; one rmsnorm per combine (the first in graph order). The combine's result keeps
// its other readers (the residual stream, the norm's backward). Lowerings that cannot normalise in
// the combine kernel emit the rmsnorm kernel after it, so the pass is correct on every adapter.
import { ir } from '../ir/build.ts';
import type { Graph, Node, NodeOf } from '../ir/types.ts';
import { fuseNormInto } from './fuse-norm-into.ts';

const residualCombine = (n: Node): n is NodeOf<'moe_combine'> => n.op === 'moe_combine' && n.inputs.length === 4 && !(n as NodeOf<'moe_combine'>).attrs.norm;

export function fuseCombineNorm(g: Graph): Graph {
  return fuseNormInto(g, residualCombine, (combine, operand, weight, eps) => {
    const [ys, permRow, weights, addend] = combine.inputs.map(operand);
    return ir.moeCombineNorm(ys, permRow, weights, addend, weight, combine.attrs.topK, eps);
  });
}
