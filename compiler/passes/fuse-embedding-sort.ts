// Pass `fuse-embedding-sort`: the backward's sort of the token ids (embedding_grad sorts them to sum
// each vocabulary row's gradients in token order, without atomics) moves into the forward lookup of
// the same ids (`sort` attr; outputs sortedTokens, rowStart appended; the embedding_grad takes them as
// its third and fourth operands). The ids are an input, known before the step runs anything, and the
// sort is a serial one-invocation kernel on CPU adapters: as the lookup's extra workgroup it runs
// beside the row copies on the other thread instead of as a dispatch of its own in the backward.
//
// Conditions: the embedding_grad sorts for itself (two operands) and an embedding without a sort
// reads the very same ids value (each lookup sorts for at most one gradient: the first in graph
// order). Lowerings without the rows lookup emit the sort kernel after the lookup, so the pass is
// correct on every adapter.
import { ir } from '../ir/build.ts';
import { rewriteGraph, topoOrder } from '../ir/graph.ts';
import type { Graph, Node, NodeOf, Value } from '../ir/types.ts';
import { sameValue } from '../ir/types.ts';

export function fuseEmbeddingSort(g: Graph): Graph {
  const order = topoOrder(g);
  const lookupFor = new Map<Node, NodeOf<'embedding'>>(); // embedding_grad → the lookup that sorts for it
  const taken = new Set<Node>();
  for (const n of order) {
    if (n.op !== 'embedding_grad' || n.inputs.length !== 2) continue;
    const lookup = order.find((e): e is NodeOf<'embedding'> => e.op === 'embedding' && !(e as NodeOf<'embedding'>).attrs.sort && !taken.has(e) && sameValue(e.inputs[1], n.inputs[1]));
    if (!lookup) continue;
    taken.add(lookup);
    lookupFor.set(n, lookup);
  }
  if (lookupFor.size === 0) return g;
  const sortedBy = new Map<Node, readonly [Value, Value]>(); // original lookup → its new sort outputs
  return rewriteGraph(g, (node, inputs) => {
    if (taken.has(node)) {
      const lookup = node as NodeOf<'embedding'>;
      const outs = ir.embeddingSorting(inputs, lookup.attrs);
      sortedBy.set(node, [outs[outs.length - 2], outs[outs.length - 1]]);
      return outs.slice(0, lookup.types.length);
    }
    const lookup = lookupFor.get(node);
    if (!lookup) return undefined;
    const grad = node as NodeOf<'embedding_grad'>;
    return [ir.embeddingGrad(inputs[0], inputs[1], grad.attrs.vocab, sortedBy.get(lookup))];
  });
}
