// Pass `fuse-embedding-norm`: an `rmsnorm` of an `embedding` lookup's rows (the first layer's norm
// of the residual stream) becomes part of that lookup (`norm` attr, the norm weight as a third
// operand, outputs (out, y, rstd)). The lookup kernel holds each token's row as it copies it, so it
// normalises the row right there: one dispatch and a read of the rows fewer.
//
// Conditions: the rmsnorm reads the lookup's result as x; one rmsnorm per lookup (the first in
// graph order); the lookup keeps its other readers (the residual stream, the norm's backward).
// Lowerings that cannot normalise in the lookup kernel emit the rmsnorm kernel after it, so the
// pass is correct on every adapter.
import { ir } from '../ir/build.ts';
import type { Graph, Node, NodeOf } from '../ir/types.ts';
import { fuseNormInto } from './fuse-norm-into.ts';

const plainLookup = (n: Node): n is NodeOf<'embedding'> => n.op === 'embedding' && !(n as NodeOf<'embedding'>).attrs.norm;

export function fuseEmbeddingNorm(g: Graph): Graph {
  return fuseNormInto(g, plainLookup, (lookup, operand, weight, eps) => ir.embeddingNorm(operand(lookup.inputs[0]), operand(lookup.inputs[1]), weight, eps));
}
