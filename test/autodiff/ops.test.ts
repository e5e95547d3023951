// Every op's gradient rule against central finite differences: each case is a tiny graph whose
// loss is Σ(op outputs ⊙ fixed random probes), differentiated by the autodiff pass and evaluated
// by the float64 reference interpreter. Discontinuous ops (router top-k) get inputs with
// well-separated scores plus a guard that fails the check if a perturbation flips the selection.
import { describe, expect, it } from 'vitest';
import { ir } from '../../compiler/ir/build.ts';
import { IrError } from '../../compiler/ir/infer.ts';
import { interpretGraph, type Tensor } from '../../compiler/ir/interpret.ts';
import type { ElementwiseBinary, ElementwiseUnary, Graph, OpAttrs, Value } from '../../compiler/ir/types.ts';
import { autodiff } from '../../compiler/passes/autodiff.ts';
import { Rng } from '../../base/rng.ts';
import { checkGradients, probeLoss, randomFeeds, type MutableFeeds } from './fd.ts';

interface Case {
  readonly name: string;
  readonly build: (rng: Rng) => { g: Graph; fixed?: Partial<MutableFeeds>; positive?: string[]; guard?: (o: Record<string, Tensor>) => void };
}

const p = (name: string, shape: number[]) => ir.param(name, shape, { kind: 'normal', std: 1 });
const ids = (values: number[]) => Int32Array.from(values);

const unaryCases: Case[] = (['neg', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'silu', 'sigmoid', 'tanh'] as ElementwiseUnary[]).map((fn) => ({
  name: `unary ${fn}`,
  build: () => ({ g: probeLoss(fn, [ir.unary(fn, p('x', [3, 4]))]), positive: ['x'] }),
}));

const binaryShapes: [number[], number[]][] = [[[3, 4], [3, 4]], [[3, 4], [4]], [[3, 1], [1, 4]], [[2, 3, 4], [3, 1]], [[3, 4], []]];
const binaryCases: Case[] = (['add', 'sub', 'mul', 'div'] as ElementwiseBinary[]).flatMap((fn) =>
  binaryShapes.map(([sa, sb]) => ({
    name: `binary ${fn} [${sa}]·[${sb}]`,
    build: () => ({ g: probeLoss(fn, [ir.binary(fn, p('a', sa), p('b', sb))]), positive: fn === 'div' ? ['b'] : [] }),
  })),
);

const reduceCases: Case[] = (['sum', 'mean'] as const).flatMap((fn) =>
  [0, 1, 2].flatMap((axis) =>
    [false, true].map((keepDims) => ({
      name: `reduce ${fn} axis ${axis}${keepDims ? ' keepDims' : ''}`,
      build: () => ({ g: probeLoss('reduce', [ir.reduce(fn, p('x', [2, 3, 4]), axis, keepDims)]) }),
    })),
  ),
);

const matmulCases: Case[] = [false, true].flatMap((transA) =>
  [false, true].map((transB) => ({
    name: `matmul transA=${transA} transB=${transB}`,
    build: () => ({ g: probeLoss('mm', [ir.matmul(p('a', transA ? [4, 3] : [3, 4]), p('b', transB ? [5, 4] : [4, 5]), transA, transB)]) }),
  })),
);

/** Routing fixture: T=5 tokens, E=4 experts, top-2, every expert used except expert 3. */
const ROUTE = { T: 5, E: 4, K: 2, idx: [0, 1, 1, 2, 2, 0, 1, 0, 2, 1] };

function dispatched(D: number): { permRow: Value; counts: Value; fixed: Partial<MutableFeeds> } {
  const x = ir.input('tokens_x', 'f32', [ROUTE.T, D]);
  const idx = ir.input('idx', 'i32', [ROUTE.T, ROUTE.K]);
  const [, permRow, counts] = ir.moeDispatch(x, idx, { experts: ROUTE.E, topK: ROUTE.K });
  return { permRow, counts, fixed: { inputs: { idx: ids(ROUTE.idx) } } };
}

/** Logits whose scores are far apart in every row, so ±h never changes the top-k selection. */
function separatedLogits(rng: Rng, T: number, E: number): Float64Array {
  const out = new Float64Array(T * E);
  for (let t = 0; t < T; t++) rng.shuffle(Array.from({ length: E }, (_, e) => e)).forEach((rank, e) => (out[t * E + e] = rank * 0.9 - 1 + rng.normal(0, 0.05)));
  return out;
}

const routerCases: Case[] = (['softmax', 'sigmoid'] as const).flatMap((score) =>
  [true, false].map((normalize) => ({
    name: `router ${score} normalize=${normalize}`,
    build: (rng: Rng) => {
      const attrs: OpAttrs['router'] = { score, topK: 2, normalize, scale: 1.7 };
      const [idx, w, probs] = ir.router(p('logits', [5, 4]), attrs);
      const base = separatedLogits(rng, 5, 4);
      let reference: string | undefined;
      return {
        g: probeLoss('router', [w, probs], { idx }),
        fixed: { params: { logits: base } },
        guard: (o) => {
          const sel = Array.from(o.idx).join();
          reference ??= sel;
          if (sel !== reference) throw new Error('finite-difference step changed the top-k selection');
        },
      };
    },
  })),
);

const moeCases: Case[] = [
  {
    name: 'moe_dispatch',
    build: () => {
      const x = p('x', [ROUTE.T, 3]);
      const [xs] = ir.moeDispatch(x, ir.input('idx', 'i32', [ROUTE.T, ROUTE.K]), { experts: ROUTE.E, topK: ROUTE.K });
      return { g: probeLoss('dispatch', [xs]), fixed: { inputs: { idx: ids(ROUTE.idx) } } };
    },
  },
  {
    name: 'grouped_matmul',
    build: () => {
      const { counts, fixed } = dispatched(3);
      const y = ir.groupedMatmul(p('xs', [ROUTE.T * ROUTE.K, 3]), [p('w', [ROUTE.E, 3, 2])], counts, { experts: ROUTE.E, sharedWeight: false });
      return { g: probeLoss('gmm', [y]), fixed };
    },
  },
  {
    name: 'grouped_matmul sharedWeight',
    build: () => {
      const { counts, fixed } = dispatched(3);
      const y = ir.groupedMatmul(p('xs', [ROUTE.T * ROUTE.K, 3]), [p('wc', [3, 2]), p('wu', [ROUTE.E, 3, 2])], counts, { experts: ROUTE.E, sharedWeight: true });
      return { g: probeLoss('gmm_shared', [y]), fixed };
    },
  },
  {
    name: 'moe_combine',
    build: () => {
      const { permRow, fixed } = dispatched(3);
      const y = ir.moeCombine(p('ys', [ROUTE.T * ROUTE.K, 3]), permRow, p('w', [ROUTE.T, ROUTE.K]), ROUTE.K);
      return { g: probeLoss('combine', [y]), fixed };
    },
  },
  {
    name: 'moe_combine with an addend',
    build: () => {
      const { permRow, fixed } = dispatched(3);
      const y = ir.moeCombine(p('ys', [ROUTE.T * ROUTE.K, 3]), permRow, p('w', [ROUTE.T, ROUTE.K]), ROUTE.K, p('x', [ROUTE.T, 3]));
      return { g: probeLoss('combine_add', [y]), fixed };
    },
  },
  {
    name: 'dispatch → grouped_matmul → combine',
    build: () => {
      const x = p('x', [ROUTE.T, 3]);
      const [xs, permRow, counts] = ir.moeDispatch(x, ir.input('idx', 'i32', [ROUTE.T, ROUTE.K]), { experts: ROUTE.E, topK: ROUTE.K });
      const ys = ir.groupedMatmul(xs, [p('w', [ROUTE.E, 3, 3])], counts, { experts: ROUTE.E, sharedWeight: false });
      return { g: probeLoss('moe', [ir.moeCombine(ys, permRow, p('cw', [ROUTE.T, ROUTE.K]), ROUTE.K)]), fixed: { inputs: { idx: ids(ROUTE.idx) } } };
    },
  },
  ...(['load_balance', 'z_loss'] as const).map((kind) => ({
    name: `aux_loss ${kind}`,
    build: () => {
      const loss = ir.auxLoss(p('x', [ROUTE.T, ROUTE.E]), ir.input('idx', 'i32', [ROUTE.T, ROUTE.K]), { kind, coef: 0.3, experts: ROUTE.E, topK: ROUTE.K });
      return { g: probeLoss('aux', [loss]), fixed: { inputs: { idx: ids(ROUTE.idx) } } };
    },
  })),
];

const layerCases: Case[] = [
  { name: 'reshape', build: () => ({ g: probeLoss('reshape', [ir.reshape(p('x', [2, 3, 4]), [6, 4])]) }) },
  {
    name: 'embedding (repeated ids)',
    build: () => ({ g: probeLoss('emb', [ir.embedding(p('table', [7, 3]), ir.input('ids', 'i32', [5]))]), fixed: { inputs: { ids: ids([2, 6, 2, 0, 2]) } } }),
  },
  { name: 'rmsnorm', build: () => ({ g: probeLoss('rmsnorm', [ir.rmsnorm(p('x', [4, 6]), p('w', [6]), 1e-5)]) }) },
  ...[false, true].map((inverse) => ({
    name: `rope inverse=${inverse}`,
    build: () => ({ g: probeLoss('rope', [ir.rope(p('x', [6, 8]), { theta: 100, heads: 2, headDim: 4, seqLen: 3, inverse })]) }),
  })),
  ...[false, true].map((inverse) => ({
    name: `rope pair (q and k alike) inverse=${inverse}`,
    build: () => ({ g: probeLoss('rope_pair', ir.ropePair(p('x', [6, 8]), p('x2', [6, 4]), { theta: 100, heads: 2, headDim: 4, seqLen: 3, inverse, pairHeads: 1 })) }),
  })),
  {
    name: 'rope pair with only the second result used',
    build: () => ({ g: probeLoss('rope_pair_2', [ir.ropePair(p('x', [6, 8]), p('x2', [6, 4]), { theta: 100, heads: 2, headDim: 4, seqLen: 3, inverse: false, pairHeads: 1 })[1]]) }),
  },
  ...[1, 2].map((kvHeads) => ({
    name: `attention heads=2 kvHeads=${kvHeads}`,
    build: () => {
      const a = { heads: 2, kvHeads, headDim: 4, seqLen: 3 };
      const [o] = ir.attention(p('q', [6, 8]), p('k', [6, 4 * kvHeads]), p('v', [6, 4 * kvHeads]), a);
      return { g: probeLoss('attn', [o]) };
    },
  })),
  {
    name: 'fan-out (one param feeding several ops, gradients accumulate)',
    build: () => {
      const x = p('x', [3, 3]);
      return { g: probeLoss('fanout', [ir.add(ir.mul(x, x), ir.matmul(x, x, true, false)), ir.unary('tanh', x)]) };
    },
  },
  { name: 'swiglu', build: () => ({ g: probeLoss('swiglu', [ir.swiglu(p('g', [3, 4]), p('u', [3, 4]))]) }) },
  { name: 'layernorm', build: () => ({ g: probeLoss('layernorm', [ir.layernorm(p('x', [4, 6]), p('w', [6]), p('b', [6]), 1e-5)[0]]) }) },
  { name: 'geglu', build: () => ({ g: probeLoss('geglu', [ir.geglu(p('g', [3, 4]), p('u', [3, 4]))]) }) },
  ...(['gelu', 'relu', 'silu'] as const).map((fn) => ({
    name: `activation ${fn}`,
    build: () => ({ g: probeLoss(fn, [ir.activation(fn, p('x', [3, 4]))]) }),
  })),
  {
    name: 'cross_entropy mean (with ignored rows)',
    build: () => ({ g: probeLoss('ce', [ir.crossEntropy(p('logits', [5, 7]), ir.input('targets', 'i32', [5]))[1]]), fixed: { inputs: { targets: ids([3, -1, 0, 6, -1]) } } }),
  },
  {
    name: 'expert_weight (plain sum rule)',
    build: () => ({ g: probeLoss('ew', [ir.expertWeight(p('wc', [3, 2]), p('wu', [4, 3, 2]), { experts: 4, spectral: false, aggregate: 'sum' })]) }),
  },
];

const CASES: Case[] = [...unaryCases, ...binaryCases, ...reduceCases, ...matmulCases, ...layerCases, ...routerCases, ...moeCases];

describe('gradient rules vs finite differences', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const rng = new Rng(`ops:${c.name}`);
      const { g, fixed, positive = [], guard } = c.build(rng);
      const feeds = randomFeeds(g, rng, fixed);
      for (const name of positive) feeds.params[name] = feeds.params[name].map((v) => Math.abs(v) + 0.5);
      const report = checkGradients(g, feeds, { guard });
      expect(report.params.length).toBeGreaterThan(0);
      expect(report.checked).toBeGreaterThan(0);
      expect(report.mismatches).toEqual([]);
    });
  }

  it('per-row cross-entropy losses are not differentiable (only their mean is)', () => {
    const [rows] = ir.crossEntropy(p('logits', [3, 4]), ir.input('targets', 'i32', [3]));
    expect(() => autodiff(probeLoss('ce_rows', [rows]))).toThrow(/differentiate the mean/);
  });

  it('ops without a gradient rule fail autodiff with a named error', () => {
    for (const build of [
      () => ir.unary('relu', p('x', [3])),
      () => ir.binary('max', p('x', [3]), p('y', [3])),
      () => ir.reduce('max', p('x', [3]), 0, true),
    ]) {
      const g = probeLoss('nograd', [build()]);
      expect(() => autodiff(g)).toThrow(IrError);
      expect(() => autodiff(g)).toThrow(/no gradient rule/);
    }
  });

  it('the probes make the loss depend on every output element', () => {
    const g = probeLoss('swiglu', [ir.swiglu(p('g', [3, 4]), p('u', [3, 4]))]);
    const feeds = randomFeeds(g, new Rng(1));
    const grads = interpretGraph(autodiff(g), feeds);
    expect(Array.from(grads['grad.g']).every((v) => v !== 0)).toBe(true);
  });
});
