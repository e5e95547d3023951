// Pass `cse`: common-subexpression elimination. Two nodes with the same op, attrs and operands
// compute the same thing; later ones are replaced by the first. Params and inputs are unique by
// name and never merged. Untouched nodes stay the same objects.
import { stableJson } from '../../base/stable-json.ts';
import { out, withInputs } from '../ir/build.ts';
import { rewriteGraph } from '../ir/graph.ts';
import type { Graph, Node } from '../ir/types.ts';

export function cse(g: Graph): Graph {
  const ids = new Map<Node, number>();
  const idOf = (n: Node): number => {
    let id = ids.get(n);
    if (id === undefined) ids.set(n, (id = ids.size));
    return id;
  };
  const seen = new Map<string, Node>();
  return rewriteGraph(g, (node, inputs) => {
    if (node.op === 'param' || node.op === 'input') return undefined;
    const key = `${node.op}|${stableJson(node.attrs)}|${inputs.map((v) => `${idOf(v.node)}#${v.index}`).join(',')}`;
    const canonical = seen.get(key) ?? withInputs(node, inputs);
    seen.set(key, canonical);
    return canonical.types.map((_, i) => out(canonical, i));
  });
}
