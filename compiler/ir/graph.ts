// Graph construction and traversal. A graph is its named outputs; its nodes are everything
// reachable from them, in a deterministic topological order (operands before users, ties broken
// by first visit from the outputs in name order), which is also the printing and execution order.
import type { Graph, Node, OutputRole, Value } from './types.ts';
import { out, withInputs } from './build.ts';

/** `roles`: of some outputs; a role whose output is not (or no longer) there is dropped, so a pass that
 *  removes outputs and passes its input's roles on cannot leave one dangling. */
export function graph(name: string, outputs: Record<string, Value>, roles: Readonly<Record<string, OutputRole>> = {}): Graph {
  const kept = Object.entries(roles).filter(([k]) => k in outputs);
  return Object.freeze({ name, outputs: Object.freeze({ ...outputs }), ...(kept.length > 0 ? { roles: Object.freeze(Object.fromEntries(kept)) } : {}) });
}

/** The outputs with role `kind`, as [output name, role, value]. */
export function outputsWithRole<K extends OutputRole['kind']>(g: Graph, kind: K): [string, Extract<OutputRole, { kind: K }>, Value][] {
  return Object.entries(g.roles ?? {})
    .filter((e): e is [string, Extract<OutputRole, { kind: K }>] => e[1].kind === kind)
    .map(([k, role]) => [k, role, g.outputs[k]]);
}

/** Nodes reachable from the outputs, operands first. Iterative, so deep graphs cannot overflow. */
export function topoOrder(g: Graph): Node[] {
  const order: Node[] = [];
  const state = new Map<Node, 1 | 2>();
  for (const key of Object.keys(g.outputs)) {
    const stack: [Node, number][] = [[g.outputs[key].node, 0]];
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const [node, i] = top;
      if (i === 0) {
        if (state.get(node) === 2) { stack.pop(); continue; }
        state.set(node, 1);
      }
      if (i < node.inputs.length) {
        top[1] = i + 1;
        const child = node.inputs[i].node;
        if (state.get(child) === 1) throw new Error(`cycle through ${child.op}`);
        if (!state.has(child)) stack.push([child, 0]);
      } else {
        state.set(node, 2);
        order.push(node);
        stack.pop();
      }
    }
  }
  return order;
}

/** Users of every node (node → consumers, in topological order). */
export function users(g: Graph): Map<Node, Node[]> {
  const map = new Map<Node, Node[]>();
  for (const n of topoOrder(g)) {
    map.set(n, map.get(n) ?? []);
    for (const v of n.inputs) {
      const list = map.get(v.node) ?? [];
      if (!list.includes(n)) list.push(n);
      map.set(v.node, list);
    }
  }
  return map;
}

/**
 * Rebuilds a graph bottom-up: `rewrite` sees each node with its operands already rewritten and
 * returns a replacement for each of its outputs (or undefined to keep it). Untouched nodes stay
 * the same objects, which is what makes passes cheap and their diffs small.
 */
export function rewriteGraph(g: Graph, rewrite: (node: Node, inputs: readonly Value[]) => readonly Value[] | undefined): Graph {
  const mapped = new Map<Node, readonly Value[]>();
  for (const node of topoOrder(g)) {
    const inputs = node.inputs.map((v) => mapped.get(v.node)![v.index]);
    const replaced = rewrite(node, inputs);
    if (replaced) {
      mapped.set(node, replaced);
    } else {
      const rebuilt = withInputs(node, inputs);
      mapped.set(node, rebuilt.types.map((_, i) => out(rebuilt, i)));
    }
  }
  let changed = false;
  const outputs: Record<string, Value> = {};
  for (const [k, v] of Object.entries(g.outputs)) {
    outputs[k] = mapped.get(v.node)![v.index];
    if (outputs[k].node !== v.node || outputs[k].index !== v.index) changed = true;
  }
  return changed ? graph(g.name, outputs, g.roles) : g;
}

/** Whether `v` is computed from `target` (directly or not): a fusion that makes `target` read `v`
 *  would create a cycle. */
export function dependsOn(v: Value, target: Node): boolean {
  const seen = new Set<Node>();
  const stack = [v.node];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (n === target) return true;
    if (seen.has(n)) continue;
    seen.add(n);
    for (const i of n.inputs) stack.push(i.node);
  }
  return false;
}
