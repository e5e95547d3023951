// Replacing a group of nodes by one new node (the fusion passes' rebuild). `rewriteGraph` visits
// nodes in the original order, so a node built from several originals cannot take an operand that
// comes after the first of them; here each group is scheduled as a unit, after every operand of
// every member, and every other node after the groups it reads. Untouched nodes stay the same
// objects (withInputs), as with rewriteGraph.
//
// Invariant: an operand of a group must not depend on a member of the same group (the merged node
// would read its own result); callers check that with dependsOn, and a violation is an
// InternalError here (a cycle in the schedule).
import { InternalError } from '../../base/errors.ts';
import { out, withInputs } from './build.ts';
import { graph } from './graph.ts';
import type { Graph, Node, Value } from './types.ts';

export interface NodeGroup {
  /** Original nodes replaced together; each belongs to at most one group. */
  readonly members: readonly Node[];
  /**
   * Builds the replacement. `operand` maps an original value read by a member and produced
   * outside the group to its rewritten value. Returns, per member (same order), a value for each of
   * its outputs that is still read outside the group (others may be undefined).
   */
  readonly build: (operand: (v: Value) => Value) => readonly (readonly (Value | undefined)[])[];
}

export function mergeNodes(g: Graph, groups: readonly NodeGroup[]): Graph {
  if (groups.length === 0) return g;
  const groupOf = new Map<Node, NodeGroup>();
  for (const grp of groups) {
    for (const m of grp.members) {
      if (groupOf.has(m)) throw new InternalError(`mergeNodes: ${m.op} node is in two groups`);
      groupOf.set(m, grp);
    }
  }
  type Unit = Node | NodeGroup;
  const unitOf = (n: Node): Unit => groupOf.get(n) ?? n;
  const operandsOf = (u: Unit): Node[] => {
    if (!('members' in u)) return u.inputs.map((v) => v.node);
    const inside = new Set(u.members);
    return u.members.flatMap((m) => m.inputs.map((v) => v.node)).filter((n) => !inside.has(n));
  };

  // Post-order over units from the outputs (operands first), iterative like topoOrder.
  const order: Unit[] = [];
  const state = new Map<Unit, 1 | 2>();
  for (const key of Object.keys(g.outputs)) {
    const stack: [Unit, Node[], number][] = [];
    const push = (u: Unit): void => {
      state.set(u, 1);
      stack.push([u, operandsOf(u), 0]);
    };
    const root = unitOf(g.outputs[key].node);
    if (state.has(root)) continue;
    push(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top[2] < top[1].length) {
        const child = unitOf(top[1][top[2]++]);
        if (state.get(child) === 1) throw new InternalError('mergeNodes: a group reads its own result (cycle in the schedule)');
        if (!state.has(child)) push(child);
      } else {
        state.set(top[0], 2);
        order.push(top[0]);
        stack.pop();
      }
    }
  }

  const mapped = new Map<Node, readonly (Value | undefined)[]>();
  const operand = (v: Value): Value => {
    const r = mapped.get(v.node)?.[v.index];
    if (!r) throw new InternalError(`mergeNodes: ${v.node.op} output ${v.index} has no rewritten value`);
    return r;
  };
  for (const u of order) {
    if ('members' in u) {
      const built = u.build(operand);
      u.members.forEach((m, i) => mapped.set(m, built[i]));
    } else {
      const rebuilt = withInputs(u, u.inputs.map(operand));
      mapped.set(u, rebuilt.types.map((_, i) => out(rebuilt, i)));
    }
  }
  const outputs: Record<string, Value> = {};
  for (const [k, v] of Object.entries(g.outputs)) outputs[k] = operand(v);
  return graph(g.name, outputs, g.roles);
}
