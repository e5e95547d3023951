// IR core: factories reject ill-typed graphs, the textual form round-trips exactly, the verifier
// catches inconsistent graphs, and parse errors are located.
import { describe, expect, it } from 'vitest';
import { ir } from '../../compiler/ir/build.ts';
import { graph, outputsWithRole, topoOrder } from '../../compiler/ir/graph.ts';
import { IrError } from '../../compiler/ir/infer.ts';
import { parseGraph, printGraph, verifyGraph } from '../../compiler/ir/text.ts';
import { mlpLoss, moeBlockLoss } from './small-graphs.ts';

describe('IR', () => {
  it('infers result types and rejects mismatched operands', () => {
    const a = ir.input('a', 'f32', [3, 4]);
    const b = ir.input('b', 'f32', [5, 4]);
    expect(ir.matmul(a, b, false, true).node.types[0].shape).toEqual([3, 5]);
    expect(() => ir.matmul(a, b)).toThrow(IrError);
    expect(() => ir.add(a, ir.input('c', 'f32', [2, 4]))).toThrow(/do not broadcast/);
  });

  it('builds frozen nodes', () => {
    const a = ir.input('a', 'f32', [3]);
    expect(Object.isFrozen(a.node)).toBe(true);
    expect(Object.isFrozen(a.node.attrs)).toBe(true);
  });

  for (const [name, build] of [['mlp', mlpLoss], ['moe', () => moeBlockLoss(false)], ['moe-sd', () => moeBlockLoss(true)]] as const) {
    it(`round-trips ${name} through its textual form`, () => {
      const g = build();
      const text = printGraph(g);
      const back = parseGraph(text);
      verifyGraph(back);
      expect(printGraph(back)).toBe(text);
      expect(topoOrder(back).length).toBe(topoOrder(g).length);
    });
  }

  it('reports parse errors with a location', () => {
    const text = printGraph(mlpLoss()).replace('f32[3,5]', 'f32[3,6]');
    expect(() => parseGraph(text, 'bad.ir')).toThrow(/bad\.ir:\d+: declared type/);
    expect(() => parseGraph('graph g {\n  %0 = matmul %7, %8 {} : f32[1,1]\n}', 'x.ir')).toThrow(/x\.ir:2: %7 is used before/);
  });

  it('output roles round-trip, are checked against their param, and bad ones are located', () => {
    const w = ir.param('w', [2, 3], { kind: 'ones' });
    const x = ir.input('x', 'f32', [4, 2]);
    const y = ir.matmul(x, w);
    const dw = ir.matmul(x, y, true, false);
    const g = graph('g', { y, dw, stale: y }, { dw: { kind: 'grad', param: 'w' }, gone: { kind: 'grad', param: 'w' } });
    expect(g.roles).toEqual({ dw: { kind: 'grad', param: 'w' } }); // a role of no output is dropped
    const text = printGraph(g);
    expect(text).toContain('return dw = %3 {"kind":"grad","param":"w"}');
    const back = parseGraph(text);
    verifyGraph(back);
    expect(outputsWithRole(back, 'grad').map(([k, r]) => [k, r.param])).toEqual([['dw', 'w']]);
    expect(printGraph(back)).toBe(text);
    expect(() => parseGraph(text.replace('"param":"w"}', '"param":"w","x":1}'), 'r.ir')).toThrow(/r\.ir:\d+: unknown output role/);
    expect(() => parseGraph(text.replace('{"kind":"grad"', '{"kind":"update"'), 'r.ir')).toThrow(/r\.ir:\d+: unknown output role/);
    expect(() => verifyGraph(graph('g', { y, dw }, { dw: { kind: 'grad', param: 'x' } }))).toThrow(/gradient of 'x', which is no param/);
    expect(() => verifyGraph(graph('g', { y, dw: y }, { dw: { kind: 'grad', param: 'w' } }))).toThrow(/gradient of type f32\[4,3\] for param 'w' of type f32\[2,3\]/);
  });

  it('verifier rejects duplicate param names', () => {
    const p1 = ir.param('w', [2], { kind: 'ones' });
    const p2 = ir.param('w', [2], { kind: 'zeros' });
    expect(() => verifyGraph({ name: 'g', outputs: { a: p1, b: p2 } })).toThrow(/two param nodes named 'w'/);
  });
});
