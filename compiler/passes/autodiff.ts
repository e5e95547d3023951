// Pass `autodiff`: reverse-mode differentiation of the scalar output `loss` with respect to every
// trainable param (group other than `frozen`). Adds one output `grad.<param name>` with role
// { kind: 'grad', param } per param that the loss depends on (the optimizer pass finds them by that
// role); the forward outputs are kept as they are (same node objects).
import { gradientRule, type Grad } from '../autodiff/rules.ts';
import { ir, out } from '../ir/build.ts';
import { graph, topoOrder } from '../ir/graph.ts';
import { IrError } from '../ir/infer.ts';
import type { Graph, Node, OutputRole, Value } from '../ir/types.ts';
import { typeOf } from '../ir/types.ts';

export interface AutodiffOptions {
  /** Name of the scalar output to differentiate (default `loss`). */
  readonly loss?: string;
}

export function autodiff(g: Graph, opts: AutodiffOptions = {}): Graph {
  const lossName = opts.loss ?? 'loss';
  const loss = g.outputs[lossName];
  if (!loss) throw new IrError(`autodiff: graph has no output '${lossName}'`);
  if (typeOf(loss).shape.length !== 0) throw new IrError(`autodiff: '${lossName}' must be a scalar`);

  const grads = new Map<Node, Grad[]>();
  const accumulate = (v: Value, gv: Value): void => {
    const list = grads.get(v.node) ?? new Array<Grad>(v.node.types.length).fill(undefined);
    const prev = list[v.index];
    list[v.index] = prev ? ir.add(prev, gv) : gv;
    grads.set(v.node, list);
  };
  accumulate(loss, ir.constant(1, []));

  const order = topoOrder(g);
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i];
    const outGrads = grads.get(node);
    if (!outGrads || outGrads.every((x) => x === undefined)) continue;
    const inGrads = gradientRule(node, outGrads);
    node.inputs.forEach((v, j) => {
      const gv = inGrads[j];
      if (gv) accumulate(v, gv);
    });
  }

  const outputs: Record<string, Value> = { ...g.outputs };
  const roles: Record<string, OutputRole> = { ...g.roles };
  for (const node of order) {
    if (node.op !== 'param' || node.attrs.group === 'frozen') continue;
    const gv = grads.get(node)?.[0];
    if (!gv) continue;
    const name = `grad.${node.attrs.name}`;
    if (name in outputs) throw new IrError(`autodiff: the graph already has an output named ${name}`);
    outputs[name] = gv;
    roles[name] = { kind: 'grad', param: node.attrs.name };
  }
  return graph(g.name, outputs, roles);
}

/** The params of a graph in topological order (name → value). */
export function paramsOf(g: Graph): Map<string, Value> {
  const params = new Map<string, Value>();
  for (const n of topoOrder(g)) if (n.op === 'param') params.set(n.attrs.name, out(n));
  return params;
}
