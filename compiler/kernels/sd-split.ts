// SD-MoE gradient split in three dispatches (digest §2.4, eqs. 9–10), for E expert gradients
// G(e) [K,N] and orthonormal rank-r bases U [K,r], V [N,r]:
//   sd_split_a:    A(e) = Uᵀ G(e)                                  [E,r,N]
//   sd_split_b:    B(e) = (G(e) − U A(e)) V = (I − P_U) G(e) V     [E,K,r]
//   sd_split_out:  Gu(e) = G(e) − U A(e) − B(e) Vᵀ = (I−P_U) G(e) (I−P_V)     [E,K,N]
//                  Gc = Σ_e (U A(e) + B(e) Vᵀ)  (÷ E for the mean)           [K,N]
// `out` can also add either result into a live buffer instead of writing it (SdSplitOutMode):
// `project update` adds D(Δ_u) to W_u and Δ_c − D(Δ_c) to W_c with the same three kernels.
// A and out have a scalar variant (any shape) and a vec4 one (cols and rank multiples of 4),
// chosen by sdSplitVariant; B is scalar. It replaces a seven-dispatch chain (copy, two batched GEMMs per side, subtract, reduce) that also
// materialised G − Gu for every expert: the r-wide products are too thin for the tiled matmul to
// pay off, and on lavapipe every dispatch has a fixed cost of ~20–30 µs. Each kernel keeps its r
// accumulators (or U's row / V's row) in registers; G is read three times, Gu and Gc written once.
// Row-tiled vec4 B and out (8 and 16 rows per invocation, reusing A's and V's loads) measured 2–3×
// faster per dispatch but took LLVM 10–110 s to compile on lavapipe at most shapes, so they were
// not kept (docs/benchmarks.md).
// The oracles compute exactly these definitions in float64, for arbitrary (not only orthonormal)
// inputs, so each kernel is checked on its own; test/kernels/sd-split.test.ts also checks the
// chain against the projector form (I−P_U) G (I−P_V) with orthonormal bases.
import { ceilDiv, f32Literal, spreadWorkgroups, type KernelCase, type KernelProgram } from './types.ts';

export interface SdSplitParams {
  readonly experts: number;
  /** Rows of each expert matrix (U's side). */
  readonly rows: number;
  /** Columns of each expert matrix (V's side). */
  readonly cols: number;
  readonly rank: number;
  readonly aggregate: 'sum' | 'mean';
}

const WORKGROUP = 64;

/**
 * `vec4` reads and writes 4 consecutive columns per load (every binding array<vec4<f32>>), which
 * needs cols and rank to be multiples of 4; `scalar` works for any shape. On lavapipe each
 * per-lane load is scalarised into ~10 instructions, so vec4 loads are most of the speed.
 */
export type SdSplitVariant = 'scalar' | 'vec4';

export function sdSplitVariant(p: SdSplitParams): SdSplitVariant {
  return p.cols % 4 === 0 && p.rank % 4 === 0 ? 'vec4' : 'scalar';
}

function variantOf(p: SdSplitParams, variant: SdSplitVariant | undefined): SdSplitVariant {
  const v = variant ?? sdSplitVariant(p);
  if (v === 'vec4' && sdSplitVariant(p) !== 'vec4') throw new Error(`sd_split: the vec4 variant needs cols and rank multiples of 4 (cols ${p.cols}, rank ${p.rank})`);
  return v;
}

/** The template suffix, label suffix, vec4 flag of the bindings, and the invocation width along n. */
function layout(v: SdSplitVariant): { template: string; label: string; vec4: boolean; width: number } {
  return v === 'vec4' ? { template: '-vec4', label: '_v4', vec4: true, width: 4 } : { template: '', label: '', vec4: false, width: 1 };
}

function check(p: SdSplitParams): void {
  for (const [k, v] of Object.entries({ experts: p.experts, rows: p.rows, cols: p.cols, rank: p.rank })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`sd_split: ${k} must be a positive integer, got ${v}`);
  }
}

const shape = (p: SdSplitParams): string => `e${p.experts}_${p.rows}x${p.cols}_r${p.rank}`;

/** One invocation per (e, n): A[e, j, n] = Σ_k U[k, j] G[e, k, n] for every j < r. */
export function sdSplitAProgram(p: SdSplitParams, variant?: SdSplitVariant): KernelProgram {
  check(p);
  const l = layout(variantOf(p, variant));
  const threads = (p.experts * p.cols) / l.width;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(threads, WORKGROUP));
  return {
    template: `sd-split-a${l.template}`,
    label: `sd_split_a_${shape(p)}${l.label}`,
    params: { threads, rows: p.rows, cols: p.cols, cols4: p.cols / 4, rank: p.rank, rank4: p.rank / 4, dispatchX },
    bindings: [
      { name: 'g', access: 'read', type: 'f32', length: p.experts * p.rows * p.cols, vec4: l.vec4 },
      { name: 'u', access: 'read', type: 'f32', length: p.rows * p.rank, vec4: l.vec4 },
      { name: 'a', access: 'write', type: 'f32', length: p.experts * p.rank * p.cols, vec4: l.vec4 },
    ],
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

/**
 * One invocation per (e, k): B[e, k, j] = Σ_n (G[e,k,n] − Σ_i U[k,i] A[e,i,n]) V[n, j]. Scalar only:
 * a vec4 variant (4 columns of g per step) measured 1.6–1.7× slower on lavapipe (lanes along k
 * read the same a and v addresses, so wider loads bought nothing; docs/benchmarks.md).
 */
export function sdSplitBProgram(p: SdSplitParams): KernelProgram {
  check(p);
  const threads = p.experts * p.rows;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(threads, WORKGROUP));
  return {
    template: 'sd-split-b',
    label: `sd_split_b_${shape(p)}`,
    params: { threads, rows: p.rows, cols: p.cols, rank: p.rank, dispatchX },
    bindings: [
      { name: 'g', access: 'read', type: 'f32', length: p.experts * p.rows * p.cols },
      { name: 'u', access: 'read', type: 'f32', length: p.rows * p.rank },
      { name: 'v', access: 'read', type: 'f32', length: p.cols * p.rank },
      { name: 'a', access: 'read', type: 'f32', length: p.experts * p.rank * p.cols },
      { name: 'b', access: 'write', type: 'f32', length: p.experts * p.rows * p.rank },
    ],
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

/**
 * What sd_split_out does with each result: `write` it (the gradient split), `add` it into the
 * bound buffer in place (`project update`: W_u += D(Δ_u), W_c += Δ_c − D(Δ_c)), or skip it (`none`,
 * no binding). At least one must be kept.
 */
export interface SdSplitOutMode {
  readonly common: 'write' | 'add' | 'none';
  readonly unique: 'write' | 'add' | 'none';
}

export const SPLIT_MODE: SdSplitOutMode = { common: 'write', unique: 'write' };

function modeLabel(m: SdSplitOutMode): string {
  if (m.common === 'write' && m.unique === 'write') return '';
  const part = (x: SdSplitOutMode['common'], tag: string) => (x === 'none' ? '' : `_${x}${tag}`);
  return `${part(m.common, 'c')}${part(m.unique, 'u')}`;
}

/** Gu and Gc per SdSplitOutMode: one invocation per (k, n) (or 4 columns n), looping over the experts. */
export function sdSplitOutProgram(p: SdSplitParams, variant?: SdSplitVariant, mode: SdSplitOutMode = SPLIT_MODE): KernelProgram {
  check(p);
  if (mode.common === 'none' && mode.unique === 'none') throw new Error('sd_split_out: the mode keeps neither result');
  const l = layout(variantOf(p, variant));
  const access = (x: 'write' | 'add'): 'write' | 'readwrite' => (x === 'add' ? 'readwrite' : 'write');
  const threads = (p.rows * p.cols) / l.width;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(threads, WORKGROUP));
  return {
    template: `sd-split-out${l.template}`,
    label: `sd_split_out_${shape(p)}_${p.aggregate}${modeLabel(mode)}${l.label}`,
    params: {
      threads,
      experts: p.experts,
      rows: p.rows,
      cols: p.cols,
      cols4: p.cols / 4,
      rank: p.rank,
      rank4: p.rank / 4,
      matrix: p.rows * p.cols,
      matrix4: (p.rows * p.cols) / 4,
      dispatchX,
      commonScale: f32Literal(p.aggregate === 'mean' ? 1 / p.experts : 1),
      hasCommon: mode.common !== 'none',
      commonAdd: mode.common === 'add',
      hasUnique: mode.unique !== 'none',
      uniqueAdd: mode.unique === 'add',
    },
    bindings: [
      { name: 'g', access: 'read', type: 'f32', length: p.experts * p.rows * p.cols, vec4: l.vec4 },
      { name: 'u', access: 'read', type: 'f32', length: p.rows * p.rank, vec4: l.vec4 },
      { name: 'v', access: 'read', type: 'f32', length: p.cols * p.rank, vec4: l.vec4 },
      { name: 'a', access: 'read', type: 'f32', length: p.experts * p.rank * p.cols, vec4: l.vec4 },
      { name: 'b', access: 'read', type: 'f32', length: p.experts * p.rows * p.rank, vec4: l.vec4 },
      ...(mode.common === 'none' ? [] : [{ name: 'gc', access: access(mode.common), type: 'f32' as const, length: p.rows * p.cols, vec4: l.vec4 }]),
      ...(mode.unique === 'none' ? [] : [{ name: 'gu', access: access(mode.unique), type: 'f32' as const, length: p.experts * p.rows * p.cols, vec4: l.vec4 }]),
    ],
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

type Inputs = Readonly<Record<string, ArrayLike<number>>>;

/** Σ_i U[k,i] A[e,i,n] in float64. */
function ua(p: SdSplitParams, u: ArrayLike<number>, a: ArrayLike<number>, e: number, k: number, n: number): number {
  let s = 0;
  for (let i = 0; i < p.rank; i++) s += u[k * p.rank + i] * a[(e * p.rank + i) * p.cols + n];
  return s;
}

export function sdSplitAOracle(p: SdSplitParams) {
  return ({ g, u }: Inputs): Record<string, Float32Array> => {
    const { experts: E, rows: K, cols: N, rank: r } = p;
    const a = new Float32Array(E * r * N);
    for (let e = 0; e < E; e++) {
      for (let j = 0; j < r; j++) {
        for (let n = 0; n < N; n++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += u[k * r + j] * g[(e * K + k) * N + n];
          a[(e * r + j) * N + n] = s;
        }
      }
    }
    return { a };
  };
}

export function sdSplitBOracle(p: SdSplitParams) {
  return ({ g, u, v, a }: Inputs): Record<string, Float32Array> => {
    const { experts: E, rows: K, cols: N, rank: r } = p;
    const b = new Float32Array(E * K * r);
    for (let e = 0; e < E; e++) {
      for (let k = 0; k < K; k++) {
        const acc = new Float64Array(r);
        for (let n = 0; n < N; n++) {
          const res = g[(e * K + k) * N + n] - ua(p, u, a, e, k, n);
          for (let j = 0; j < r; j++) acc[j] += res * v[n * r + j];
        }
        b.set(acc, (e * K + k) * r);
      }
    }
    return { b };
  };
}

export function sdSplitOutOracle(p: SdSplitParams, mode: SdSplitOutMode = SPLIT_MODE) {
  return ({ g, u, v, a, b, gc: gcIn, gu: guIn }: Inputs): Record<string, Float32Array> => {
    const { experts: E, rows: K, cols: N, rank: r } = p;
    const gu = new Float64Array(E * K * N);
    const gc = new Float64Array(K * N);
    for (let e = 0; e < E; e++) {
      for (let k = 0; k < K; k++) {
        for (let n = 0; n < N; n++) {
          let bv = 0;
          for (let j = 0; j < r; j++) bv += b[(e * K + k) * r + j] * v[n * r + j];
          const common = ua(p, u, a, e, k, n) + bv;
          gu[(e * K + k) * N + n] = g[(e * K + k) * N + n] - common;
          gc[k * N + n] += common;
        }
      }
    }
    const scale = p.aggregate === 'mean' ? 1 / E : 1;
    const out: Record<string, Float32Array> = {};
    if (mode.common !== 'none') out.gc = Float32Array.from(gc, (x, i) => x * scale + (mode.common === 'add' ? gcIn[i] : 0));
    if (mode.unique !== 'none') out.gu = Float32Array.from(gu, (x, i) => x + (mode.unique === 'add' ? guIn[i] : 0));
    return out;
  };
}

// f32 sums of K (or N, or r) products of values in [-1, 1): errors grow like √length.
const tolerance = (length: number) => ({ atol: 4e-6 * Math.sqrt(length) + 1e-6, rtol: 1e-5 });

export function sdSplitACase(p: SdSplitParams, variant?: SdSplitVariant): KernelCase {
  return { program: sdSplitAProgram(p, variant), oracle: sdSplitAOracle(p), tolerance: tolerance(p.rows) };
}

export function sdSplitBCase(p: SdSplitParams): KernelCase {
  return { program: sdSplitBProgram(p), oracle: sdSplitBOracle(p), tolerance: tolerance(p.cols * p.rank) };
}

export function sdSplitOutCase(p: SdSplitParams, variant?: SdSplitVariant, mode: SdSplitOutMode = SPLIT_MODE): KernelCase {
  return { program: sdSplitOutProgram(p, variant, mode), oracle: sdSplitOutOracle(p, mode), tolerance: tolerance(2 * p.rank * p.experts) };
}
