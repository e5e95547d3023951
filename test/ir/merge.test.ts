// mergeNodes (compiler/ir/merge.ts): a group is scheduled after every operand of every member, so
// a merged node may read a value computed after its first member; untouched nodes stay the same
// objects; a group that would read its own result is an InternalError, not a cycle in the graph.
import { describe, expect, it } from 'vitest';
import { InternalError } from '../../base/errors.ts';
import { ir } from '../../compiler/ir/build.ts';
import { graph, topoOrder } from '../../compiler/ir/graph.ts';
import { interpretGraph } from '../../compiler/ir/interpret.ts';
import { mergeNodes } from '../../compiler/ir/merge.ts';
import { printGraph } from '../../compiler/ir/text.ts';

const rope = { theta: 100, headDim: 2, seqLen: 2, inverse: false };

describe('mergeNodes', () => {
  it('schedules a pair after its later operand and keeps untouched nodes', () => {
    const x = ir.input('x', 'f32', [4, 4]);
    const q = ir.rope(ir.unary('tanh', x), { ...rope, heads: 2 });
    const early = ir.unary('exp', q); // reads the first rope before the second one's operand exists
    const k = ir.rope(ir.matmul(early, ir.param('w', [4, 2], { kind: 'ones' })), { ...rope, heads: 1 });
    const g = graph('g', { a: early, b: k });
    // Not a valid fusion (k's operand depends on q), so the group must be refused.
    expect(() =>
      mergeNodes(g, [{ members: [q.node, k.node], build: (op) => ir.ropePair(op(q.node.inputs[0]), op(k.node.inputs[0]), { ...rope, heads: 2, pairHeads: 1 }).map((v) => [v]) }]),
    ).toThrow(InternalError);

    const k2 = ir.rope(ir.matmul(x, ir.param('w', [4, 2], { kind: 'ones' })), { ...rope, heads: 1 });
    const h = graph('h', { a: early, b: k2 });
    const merged = mergeNodes(h, [{ members: [q.node, k2.node], build: (op) => ir.ropePair(op(q.node.inputs[0]), op(k2.node.inputs[0]), { ...rope, heads: 2, pairHeads: 1 }).map((v) => [v]) }]);
    expect(printGraph(merged)).toMatch(/rope %\d+, %\d+ .*"pairHeads":1/);
    expect(topoOrder(merged).filter((n) => n.op === 'rope')).toHaveLength(1);
    const tanh = topoOrder(h).find((n) => n.op === 'unary' && n.attrs.fn === 'tanh');
    expect(topoOrder(merged)).toContain(tanh);
    const feeds = { inputs: { x: Float64Array.from({ length: 16 }, (_, i) => Math.sin(i)) }, params: { w: new Float64Array(8).fill(1) } };
    const [a, b] = [interpretGraph(h, feeds), interpretGraph(merged, feeds)];
    expect(Array.from(b.a)).toEqual(Array.from(a.a));
    expect(Array.from(b.b)).toEqual(Array.from(a.b));
  });

  it('returns the graph itself when there is nothing to merge, and refuses a node in two groups', () => {
    const x = ir.input('x', 'f32', [2, 2]);
    const y = ir.unary('exp', x);
    const g = graph('g', { y });
    expect(mergeNodes(g, [])).toBe(g);
    const group = { members: [y.node], build: () => [[y]] };
    expect(() => mergeNodes(g, [group, group])).toThrow(/two groups/);
  });
});
