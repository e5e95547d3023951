// Pass `simplify`: algebraic clean-ups that autodiff leaves behind. `x * ones` where the result
// has x's shape is x; `x + zeros` likewise; reshape to the same shape is dropped; adding a zero
// gradient is dropped. Each rule only removes work, never changes a value.
import { out } from '../ir/build.ts';
import { rewriteGraph } from '../ir/graph.ts';
import type { Graph, Value } from '../ir/types.ts';
import { typeOf } from '../ir/types.ts';

const isConst = (v: Value, value: number): boolean => v.node.op === 'const' && v.node.attrs.value === value;
const sameShape = (a: Value, b: Value): boolean => {
  const sa = typeOf(a).shape;
  const sb = typeOf(b).shape;
  return sa.length === sb.length && sa.every((d, i) => d === sb[i]);
};

export function simplify(g: Graph): Graph {
  return rewriteGraph(g, (node, inputs) => {
    const result = out(node);
    if (node.op === 'binary') {
      const [a, b] = inputs;
      const keepIf = (x: Value, other: Value, unit: number): readonly Value[] | undefined =>
        isConst(other, unit) && typeOf(x).shape.length === result.node.types[0].shape.length && typeOf(x).shape.every((d, i) => d === node.types[0].shape[i]) ? [x] : undefined;
      if (node.attrs.fn === 'mul') return keepIf(a, b, 1) ?? keepIf(b, a, 1);
      if (node.attrs.fn === 'add') return keepIf(a, b, 0) ?? keepIf(b, a, 0);
      if (node.attrs.fn === 'sub') return keepIf(a, b, 0);
    }
    if (node.op === 'reshape' && sameShape(inputs[0], result)) return [inputs[0]];
    return undefined;
  });
}
