// Text-in/text-out golden tests for every registered pass: each cases/<pass>/<case>.in.ir (built
// by fixtures.ts and itself kept as a golden) is parsed, verified, run through the pass, verified again and compared with <case>.out.ir
// (UPDATE_GOLDENS=1 re-blesses). Around each run the test also checks that the pass never
// mutates its input, keeps untouched nodes as the same objects, and — for the rewrite passes —
// preserves every output's value on random inputs (reference interpreter, exact equality).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stableJson } from '../../base/stable-json.ts';
import { topoOrder } from '../../compiler/ir/graph.ts';
import { interpretGraph, type Tensor } from '../../compiler/ir/interpret.ts';
import { parseGraph, printGraph, verifyGraph } from '../../compiler/ir/text.ts';
import type { Graph, Node } from '../../compiler/ir/types.ts';
import { numel } from '../../compiler/ir/types.ts';
import { PASSES, findPass } from '../../compiler/passes/registry.ts';
import { Rng } from '../../base/rng.ts';
import { expectGolden } from '../support/golden.ts';
import { FIXTURES } from './fixtures.ts';

const CASES = fileURLToPath(new URL('./cases', import.meta.url));
/** Passes that only rewrite (never add outputs): they must preserve every output value exactly. */
const VALUE_PRESERVING = new Set(['simplify', 'cse', 'fuse-expert-weight', 'fuse-cross-entropy', 'fuse-lm-head-xent', 'fuse-matmul-add', 'fuse-rmsnorm-grad-add', 'fuse-rope-pair', 'fuse-matmul-rope', 'fuse-attention-grad-rope', 'fuse-aux-loss', 'fuse-aux-loss-dispatch', 'fuse-loss-sum', 'fuse-aux-loss-sum', 'fuse-combine-add', 'fuse-combine-norm', 'fuse-embedding-norm', 'fuse-norm-matmul', 'fuse-router-logits', 'fuse-embedding-sort', 'fuse-gather-grad-add', 'fuse-grad-x-add', 'fuse-gather-grad-matmul', 'fuse-combine-router-grad', 'fuse-norm-grad-combine-grad', 'fuse-swiglu-gemm']);
/** Passes that only append to the graph: every input node must survive as the same object. */
const APPENDING = new Set(['autodiff', 'optimizer']);

/** op|attrs|operand keys: equal keys mean structurally identical subgraphs. */
function structuralKeys(g: Graph): Map<Node, string> {
  const keys = new Map<Node, string>();
  for (const n of topoOrder(g)) keys.set(n, `${n.op}|${stableJson(n.attrs)}|${n.inputs.map((v) => `(${keys.get(v.node)})#${v.index}`).join(',')}`);
  return keys;
}

/** Random feeds for every input and param; i32 inputs get small ids valid for every fixture. */
function randomFeeds(g: Graph, seed: string): { inputs: Record<string, Tensor>; params: Record<string, Float64Array> } {
  const rng = new Rng(seed);
  const inputs: Record<string, Tensor> = {};
  const params: Record<string, Float64Array> = {};
  for (const n of topoOrder(g)) {
    if (n.op === 'input') {
      const len = numel(n.types[0]);
      inputs[n.attrs.name] = n.attrs.dtype === 'i32' ? Int32Array.from({ length: len }, () => rng.nextInt(4)) : Float64Array.from({ length: len }, () => rng.normal());
    }
    if (n.op === 'param') params[n.attrs.name] = Float64Array.from({ length: numel(n.types[0]) }, () => rng.normal(0, 0.5));
  }
  return { inputs, params };
}

const fixtureNames = Object.keys(FIXTURES).sort();

describe('pass goldens', () => {
  it('every registered pass has fixtures, every fixture names a pass, and no input file is orphaned', () => {
    expect([...new Set(fixtureNames.map((f) => f.split('/')[0]))].sort()).toEqual(PASSES.map((p) => p.name).sort());
    const onDisk = readdirSync(CASES, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) => readdirSync(join(CASES, d.name)).filter((f) => f.endsWith('.in.ir')).map((f) => `${d.name}/${f.slice(0, -'.in.ir'.length)}`));
    for (const f of onDisk) expect(fixtureNames, `${f}.in.ir has no builder in fixtures.ts`).toContain(f);
  });

  for (const fixture of fixtureNames) {
    const [dir, name] = fixture.split('/');
    it(`${dir}: ${name}`, () => {
      const pass = findPass(dir)!;
      const inPath = join(CASES, dir, `${name}.in.ir`);
      expectGolden(inPath, printGraph(FIXTURES[fixture]()));
      expect(existsSync(inPath)).toBe(true);
      const g = parseGraph(readFileSync(inPath, 'utf8'), inPath);
      verifyGraph(g);
      const before = printGraph(g);
      const result = pass.run(g, {});
      verifyGraph(result);
      expect(printGraph(g)).toBe(before);
      expectGolden(join(CASES, dir, `${name}.out.ir`), printGraph(result));

      const resultNodes = new Set(topoOrder(result));
      if (APPENDING.has(dir)) {
        for (const n of topoOrder(g)) expect(resultNodes.has(n)).toBe(true);
        for (const [k, v] of Object.entries(g.outputs)) if (result.outputs[k]) expect(result.outputs[k]).toBe(v);
      } else if (dir === 'cse') {
        // Untouched = neither the node nor any ancestor is a later duplicate; those must survive as
        // the same objects, and the result must hold no two structurally identical nodes.
        const seen = new Set<string>();
        const tainted = new Set<Node>();
        const keys = structuralKeys(g);
        for (const n of topoOrder(g)) {
          const k = keys.get(n)!;
          if (seen.has(k) || n.inputs.some((v) => tainted.has(v.node))) tainted.add(n);
          seen.add(k);
        }
        const resultByKey = new Map([...structuralKeys(result)].map(([n, k]) => [k, n]));
        for (const n of topoOrder(g)) if (!tainted.has(n) && resultByKey.has(keys.get(n)!)) expect(resultByKey.get(keys.get(n)!)).toBe(n);
        expect(resultByKey.size).toBe(resultNodes.size);
      } else {
        // Any result node structurally equal to input nodes must be one of those very objects.
        const inputByKey = new Map<string, Set<Node>>();
        for (const [n, k] of structuralKeys(g)) inputByKey.set(k, (inputByKey.get(k) ?? new Set()).add(n));
        for (const [n, k] of structuralKeys(result)) {
          const originals = inputByKey.get(k);
          if (originals) expect(originals.has(n), `${n.op} node rebuilt although untouched`).toBe(true);
        }
      }

      if (VALUE_PRESERVING.has(dir)) {
        const feeds = randomFeeds(g, `${dir}/${name}`);
        const a = interpretGraph(g, feeds);
        const b = interpretGraph(result, feeds);
        expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
        for (const k of Object.keys(a)) expect(Array.from(b[k]), k).toEqual(Array.from(a[k]));
      }
    });
  }
});
