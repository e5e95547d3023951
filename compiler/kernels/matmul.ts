// Matmul kernels: C[b] = alpha · op(A[b]) · op(B[b]) (+ C[b] when accumulating), op = identity or
// transpose, batched with per-operand batch strides (stride 0 broadcasts one matrix, e.g. a weight,
// over the batch). Every size, stride, flag and alpha is baked into the shader as a constant, so
// each distinct shape is its own cached pipeline and the template contains no runtime shape logic.
//
// Three variants, chosen from the device's capabilities and the shape (never a user flag):
// - `subgroup` (templates/matmul-subgroup.wgsl.hbs): for CPU-like adapters (lavapipe) where every
//   per-lane buffer load is expensive and shared memory does not help. A workgroup is exactly one
//   subgroup of `lanes` invocations; each lane owns a ROWS×4 accumulator block (4 consecutive
//   columns as a vec4). Per step of 4 along K, each lane loads its own 4 B vectors and ROWS/lanes
//   A vectors; every A vector is then shared with all lanes through `subgroupBroadcast` with a
//   constant lane index, so each loaded value feeds many FMAs. The broadcast schedule is unrolled
//   here in TypeScript (`broadcasts`) and rendered verbatim by the logic-free template.
//   When N and the batch stride of c are multiples of 4, K ≤ 128 and c is not accumulated, a
//   lane's 4 columns are one vec4 store (lavapipe, load ~8: 512×64×4 115 → 98 µs, 512×64×64
//   229 → 197; long K gains nothing and one shape lost, see subgroupProgram).
// - `portable` (templates/matmul-portable.wgsl.hbs): no optional features; each invocation owns a
//   4×4 register tile and reads scalars.
// - `rows` (templates/matmul-rows.wgsl.hbs): CPU adapters (DeviceCaps.cpuAdapter, lavapipe) for
//   N ≤ 8 only: an invocation owns one row of C and up to 16 columns; with `norm`
//   (fuse-norm-matmul, matmulNormInKernel) it RMS-normalises its row of A first.
// Which adapter gets which (matmulVariantFor): a CPU adapter takes `rows` for N ≤ 8; otherwise an
// adapter with subgroups of 4, 8 or 16 lanes (lavapipe, many GPUs) takes `subgroup`, any other
// adapter `portable`. A real GPU is never given `rows`.
// Invariants: loads are clamped into the matrix (never out of bounds), results of clamped rows and
// columns are discarded by guarded stores, and when K is not a multiple of 4 the B values of
// k ≥ K are zeroed so the clamped A values past K contribute nothing. vec4 loads are used only
// when the stored row length and the batch stride are multiples of 4 (decided here, per operand);
// the subgroup template then declares that binding as array<vec4<f32>> itself (binding lengths
// stay in f32 elements and are multiples of 4, so the buffer is a whole number of vec4s).
// A workgroup of exactly subgroupMinSize invocations is always a single subgroup, which is what
// makes the constant-lane broadcasts valid on any adapter that reports subgroups.
// Tried on lavapipe and dropped (docs/benchmarks.md, issue 8): b as uniform-buffer parts read at
// lane-uniform addresses (4-6x slower: lavapipe gathers per lane unless the offset is a constant).
import { f32Literal, type DeviceCaps, type KernelCase, type KernelProgram } from './types.ts';
import { MAX_WORKGROUPS_PER_DIM } from '../codegen/kernel.ts';
import { InternalError } from '../../base/errors.ts';
import { ropeAtol, ropeReference, ropeTurnsPerPosition4 } from './rope.ts';
import { rmsnormReference, rowNormInKernel, rowNormParams, type RowNorm } from './rmsnorm.ts';

export interface MatmulParams {
  /** Rows of op(A) and C. */
  readonly M: number;
  /** Columns of op(B) and C. */
  readonly N: number;
  /** Columns of op(A) = rows of op(B). */
  readonly K: number;
  /** Number of independent products (default 1). */
  readonly batch?: number;
  /** A is stored K×M and used transposed. */
  readonly transA?: boolean;
  /** B is stored N×K and used transposed. */
  readonly transB?: boolean;
  /** Elements between consecutive batch entries of A (default M·K; 0 broadcasts A). */
  readonly aBatchStride?: number;
  /** Elements between consecutive batch entries of B (default K·N; 0 broadcasts B). */
  readonly bBatchStride?: number;
  /** Elements between consecutive batch entries of C (default M·N; at least M·N). */
  readonly cBatchStride?: number;
  /** Scale applied to the product (default 1). */
  readonly alpha?: number;
  /** C += alpha·op(A)·op(B) instead of C = … (gradient accumulation). */
  readonly accumulate?: boolean;
  /**
   * C = D + alpha·op(A)·op(B) with D a separate read binding `d` shaped like C: a matmul_add whose
   * addend lives on (the residual stream) without first copying it into C. The same sums in the same
   * order as copy-then-accumulate, so the same bits.
   */
  readonly addend?: boolean;
  /**
   * The forward rope on the product (fuse-matmul-rope): C's rows are token rows (position = row mod
   * seqLen), each head of headDim columns rotated (rotate_half), in the first `entries` batch entries
   * (default all; a q/k/v batch ropes q and k). Only where matmulRopeInKernel says so.
   */
  readonly rope?: { readonly theta: number; readonly headDim: number; readonly seqLen: number; readonly entries?: number };
  /**
   * A's rows RMS-normalised first (fuse-norm-matmul): binding norm_w [K] in, norm_y [M, K] and rstd [M]
   * out, as the rmsnorm lane kernel computes them from `a` (the same sums in the same order, so the same
   * bits), and the product taken of norm_y. Only where matmulNormInKernel says so.
   */
  readonly norm?: RowNorm;
}

export type MatmulVariant = 'subgroup' | 'portable' | 'rows';

/** The capabilities the variant choice reads; a full DeviceCaps fits (cpuAdapter absent = false). */
export type MatmulCaps = Pick<DeviceCaps, 'subgroups' | 'subgroupMinSize'> & Partial<Pick<DeviceCaps, 'cpuAdapter'>>;

/** Shape knobs of the subgroup variant (bench/ explores them; defaults are the measured best). */
export interface SubgroupTuning {
  /** Rows of C each lane accumulates (its block is rows×4); a multiple of the lane count and of 4. */
  readonly rows: number;
  /** Subgroups per workgroup, stacked along M. Above 1 this assumes subgroups are formed from
   *  consecutive invocation indices of exactly `lanes` each (true on lavapipe; measured no gain). */
  readonly subgroupsPerWorkgroup: number;
}
/** Measured best on lavapipe (docs/benchmarks.md lists the alternatives tried). */
export const SUBGROUP_TUNING: SubgroupTuning = { rows: 16, subgroupsPerWorkgroup: 1 };
/**
 * CPU adapters: 32 rows per lane. `npm run bench -- gemm-rows` (30 interleaved rounds, load ≈ 1;
 * docs/results/issue8/gemm-rows.md), median per-round time 32 ÷ 16 rows: the demo's LM head nn
 * 512×1024×64 0.82, tn 64×1024×512 0.90, nt 512×64×1024 0.82; its projections nn 512×64×64 0.93, nt
 * accumulating 0.84, tn 64×64×512 0.89; qwen_tiny's LM head nn 1024×2048×128 0.90. (Ad-hoc runs
 * before it: 0.83–0.97 at other qwen_tiny shapes, 1.005 at 1024³, once 1.12 for tn 64×64×512.)
 * Costs ≈ 0.5 s more of cold compile per kernel (1.0 vs 0.5 s). Earlier trials under load 1.4–7
 * saw only noise.
 */
export const SUBGROUP_TUNING_CPU: SubgroupTuning = { rows: 32, subgroupsPerWorkgroup: 1 };

/** Label suffix of a subgroup kernel built with `rows` per lane (none for the default tuning). */
export function rowsSuffix(rows: number): string {
  return rows === SUBGROUP_TUNING.rows ? '' : `_r${rows}`;
}

/** The subgroup variant's tuning for this adapter. */
export function subgroupTuningFor(caps: MatmulCaps): SubgroupTuning {
  return caps.cpuAdapter === true && SUBGROUP_TUNING_CPU.rows % caps.subgroupMinSize === 0 ? SUBGROUP_TUNING_CPU : SUBGROUP_TUNING;
}
/** Subgroup widths the subgroup variant is written for (a workgroup must be one whole subgroup). */
const SUBGROUP_LANES = [4, 8, 16] as const;
/** Register tile of one invocation of the portable variant, and its workgroup (along N, along M). */
const PORTABLE_TILE = 4;
const PORTABLE_WG: readonly [number, number] = [8, 8];
/** The subgroup variant's vec4 store of c is used up to this K (see subgroupProgram). */
const VEC4_STORE_MAX_K = 128;
/** Rows variant: invocations (rows of C) per workgroup, and the most vec4 column blocks one owns. */
const ROWS_WG = 32;
const ROWS_MAX_VEC4 = 4;
/** Size class the rows variant takes on CPU adapters: at most two vec4s of columns, where the
 *  subgroup variant's 4·lanes-column tile would idle most lanes (router logits: N = 4 on the demo,
 *  8 on qwen_tiny). Measured on lavapipe, rows vs subgroup: nn 512×4×64 74 vs 115 µs, tn 64×4×512
 *  82 vs 90; with b by broadcast, rows ÷ subgroup is 0.75 / 0.95 at nn 1024×8×128 and tn 128×8×1024
 *  (`npm run bench -- row-variants`, the qwen_tiny router pairs; 0.88 / 0.85 ad hoc) but 1.28 at
 *  nn 512×16×64 (ad hoc, 30 rounds); wider tiles lose badly (nt 512×64×4 336 vs 131, nn 512×64×64 3629 vs 246): each
 *  invocation loads its own row of a, and every value loaded feeds only its own N columns. */
export const ROWS_MAX_N = 8;

interface Resolved {
  M: number;
  N: number;
  K: number;
  batch: number;
  transA: boolean;
  transB: boolean;
  aStride: number;
  bStride: number;
  cStride: number;
  alpha: number;
  accumulate: boolean;
  addend: boolean;
}

function resolve(p: MatmulParams): Resolved {
  const batch = p.batch ?? 1;
  for (const [name, v] of [['M', p.M], ['N', p.N], ['K', p.K], ['batch', batch]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`matmul: ${name} must be a positive integer, got ${v}`);
  }
  const r: Resolved = {
    M: p.M,
    N: p.N,
    K: p.K,
    batch,
    transA: p.transA ?? false,
    transB: p.transB ?? false,
    aStride: batch === 1 ? 0 : p.aBatchStride ?? p.M * p.K,
    bStride: batch === 1 ? 0 : p.bBatchStride ?? p.K * p.N,
    cStride: batch === 1 ? 0 : p.cBatchStride ?? p.M * p.N,
    alpha: p.alpha ?? 1,
    accumulate: p.accumulate ?? false,
    addend: p.addend ?? false,
  };
  if (r.accumulate && r.addend) throw new Error('matmul: accumulate and addend are exclusive (C += … or C = D + …)');
  for (const [name, v] of [['aBatchStride', r.aStride], ['bBatchStride', r.bStride], ['cBatchStride', r.cStride]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`matmul: ${name} must be a non-negative integer, got ${v}`);
  }
  // Batch entries of C written by different workgroups must not overlap.
  if (batch > 1 && r.cStride < r.M * r.N) throw new Error(`matmul: cBatchStride ${r.cStride} is smaller than M·N = ${r.M * r.N}`);
  return r;
}

/** Elements a binding must hold: the last batch entry's offset plus one matrix. */
const extent = (stride: number, batch: number, matrix: number): number => stride * (batch - 1) + matrix;

/** The dense variant for this adapter at large sizes: `subgroup` or `portable` (shape-independent). */
export function matmulVariant(caps: MatmulCaps): MatmulVariant {
  return caps.subgroups && (SUBGROUP_LANES as readonly number[]).includes(caps.subgroupMinSize) ? 'subgroup' : 'portable';
}

/**
 * The variant for this adapter and shape: on a CPU adapter, skinny products (N ≤ ROWS_MAX_N, e.g.
 * a router's 4 logits) take `rows`; everything else matmulVariant's choice.
 */
export function matmulVariantFor(caps: MatmulCaps, p: Pick<MatmulParams, 'N'>): MatmulVariant {
  if (caps.cpuAdapter === true && p.N <= ROWS_MAX_N) return 'rows';
  return matmulVariant(caps);
}

const VARIANT_SUFFIX: Record<MatmulVariant, string> = { subgroup: 'sg', portable: 'rt', rows: 'rw' };

function label(r: Resolved, variant: MatmulVariant, rows = SUBGROUP_TUNING.rows): string {
  const mode = `${r.transA ? 't' : 'n'}${r.transB ? 't' : 'n'}`;
  const strides = r.batch > 1 && (r.aStride !== r.M * r.K || r.bStride !== r.K * r.N || r.cStride !== r.M * r.N) ? `_s${r.aStride}-${r.bStride}-${r.cStride}` : '';
  const extras = `${r.alpha !== 1 ? `_alpha${r.alpha}` : ''}${r.accumulate ? '_acc' : ''}${r.addend ? '_add' : ''}`;
  return `matmul_${mode}_b${r.batch}_${r.M}x${r.N}x${r.K}${strides}${extras}_${VARIANT_SUFFIX[variant]}${rowsSuffix(rows)}`;
}

function bindings(r: Resolved, vec4 = { a: false, b: false, c: false }): KernelProgram['bindings'] {
  return [
    { name: 'a', access: 'read', type: 'f32', length: extent(r.aStride, r.batch, r.M * r.K), ...(vec4.a ? { vec4: true } : {}) },
    { name: 'b', access: 'read', type: 'f32', length: extent(r.bStride, r.batch, r.K * r.N), ...(vec4.b ? { vec4: true } : {}) },
    ...(r.addend ? [{ name: 'd', access: 'read' as const, type: 'f32' as const, length: extent(r.cStride, r.batch, r.M * r.N), ...(vec4.c ? { vec4: true } : {}) }] : []),
    { name: 'c', access: r.accumulate ? 'readwrite' : 'write', type: 'f32', length: extent(r.cStride, r.batch, r.M * r.N), ...(vec4.c ? { vec4: true } : {}) },
  ];
}

function checkDispatch(dispatch: readonly [number, number, number], what: string): void {
  if (dispatch.some((d) => d > MAX_WORKGROUPS_PER_DIM)) {
    throw new Error(`matmul: ${what} needs ${dispatch.join('×')} workgroups, over the ${MAX_WORKGROUPS_PER_DIM} per-dimension limit`);
  }
}

/** Parameters shared by both templates: shapes, strides and the epilogue. */
function commonParams(r: Resolved) {
  return {
    M: r.M,
    N: r.N,
    K: r.K,
    transA: r.transA,
    transB: r.transB,
    aStride: r.aStride,
    bStride: r.bStride,
    cStride: r.cStride,
    // Stored (row-major) shapes: A is M×K or K×M, B is K×N or N×K.
    aRows: r.transA ? r.K : r.M,
    aCols: r.transA ? r.M : r.K,
    bRows: r.transB ? r.N : r.K,
    bCols: r.transB ? r.K : r.N,
    scaled: r.alpha !== 1,
    alpha: f32Literal(r.alpha),
    accumulate: r.accumulate,
    addend: r.addend,
  };
}

const COMPONENTS = ['x', 'y', 'z', 'w'] as const;

interface BroadcastVector {
  /** WGSL name of the broadcast value within its group. */
  readonly name: string;
  readonly slot: number;
  readonly lane: number;
}
interface BroadcastTerm {
  readonly acc: number;
  readonly vector: string;
  readonly comp: (typeof COMPONENTS)[number];
  readonly bk: number;
}
interface BroadcastGroup {
  readonly vectors: readonly BroadcastVector[];
  readonly terms: readonly BroadcastTerm[];
}

/**
 * The unrolled FMA schedule of one K-step of 4 in the subgroup variant. Lane `l` holds A vectors
 * `a<slot>` for vector index `idx = l + lanes·slot`; broadcasting (slot, lane) gives every lane
 * that vector, and each of its 4 components multiplies one of the lane's B vectors `b<bk>` into
 * accumulator `acc<acc>`. Terms are grouped by accumulator, so each one is loaded and stored once
 * per group when the compiler keeps accumulators in memory (64 of them exceed the registers).
 *  - A stored M×K: vector idx is row idx over k..k+3; one vector per group, component i pairs with b<i>.
 *  - A stored K×M: vector idx holds rows 4q..4q+3 at k + kk (kk = idx / (ROWS/4), q = idx % (ROWS/4));
 *    a group broadcasts the 4 vectors of one q (kk = 0..3) and updates its 4 rows.
 */
export function subgroupBroadcastPlan(lanes: number, rows: number, transA: boolean): BroadcastGroup[] {
  const at = (idx: number, name: string): BroadcastVector => ({ name, slot: Math.floor(idx / lanes), lane: idx % lanes });
  const plan: BroadcastGroup[] = [];
  if (!transA) {
    for (let row = 0; row < rows; row++) {
      plan.push({ vectors: [at(row, 'v0')], terms: COMPONENTS.map((comp, i) => ({ acc: row, vector: 'v0', comp, bk: i })) });
    }
    return plan;
  }
  const groups = rows / 4;
  for (let q = 0; q < groups; q++) {
    const vectors = [0, 1, 2, 3].map((kk) => at(kk * groups + q, `v${kk}`));
    const terms = COMPONENTS.flatMap((comp, i) => vectors.map((v, kk) => ({ acc: 4 * q + i, vector: v.name, comp, bk: kk })));
    plan.push({ vectors, terms });
  }
  return plan;
}

function subgroupProgram(r: Resolved, lanes: number, tuning: SubgroupTuning, rope?: MatmulParams['rope']): KernelProgram {
  const { rows, subgroupsPerWorkgroup } = tuning;
  if (rows % lanes !== 0 || rows % 4 !== 0) throw new Error(`matmul: ${rows} rows per lane do not split over ${lanes} lanes`);
  const tileN = 4 * lanes;
  const common = commonParams(r);
  // A vector runs along the stored row; it may be a single vec4 load only when every row and
  // every batch entry starts on a 4-element boundary.
  const aVec4 = common.aCols % 4 === 0 && r.aStride % 4 === 0;
  const bVec4 = common.bCols % 4 === 0 && r.bStride % 4 === 0;
  // A lane's 4 columns are one vec4 store when rows and batch entries of c start on 4-element
  // boundaries (then they are all inside the matrix or all outside it).
  // Not when accumulating: 16 inlined vec4 read-modify-writes doubled lavapipe's compile time
  // (the scalar epilogue keeps its loop hidden from the compiler). Not for long K either, where
  // the epilogue is a sliver of the work: there it measured slower (tn 64×1024×512: 3.5-3.7 ms
  // scalar vs 4.7-5.8 ms vec4 in interleaved pairs on lavapipe).
  const cVec4 = !r.accumulate && !r.addend && r.K <= VEC4_STORE_MAX_K && r.N % 4 === 0 && r.cStride % 4 === 0;
  // M tiles along x (fastest): consecutive workgroups share a K×tileN panel of B, the larger
  // operand per tile; N tiles fastest was 1.8x slower at 2048² (each workgroup streamed B).
  const dispatch: [number, number, number] = [Math.ceil(r.M / (rows * subgroupsPerWorkgroup)), Math.ceil(r.N / tileN), r.batch];
  checkDispatch(dispatch, label(r, 'subgroup', rows));
  const slots = rows / lanes;
  const entries = rope ? (rope.entries ?? r.batch) : 0;
  if (rope && !(Number.isInteger(entries) && entries >= 1 && entries <= r.batch)) throw new InternalError(`matmul: rope entries ${entries} outside 1..${r.batch}`);
  const ropeParams = rope
    ? { rope: true, ropeEntries: entries, ropeHeadDim: rope.headDim, ropeHalf: rope.headDim / 2, ropeHalf4: rope.headDim / 8, ropeXor: rope.headDim / 8, ropeSeqLen: rope.seqLen, ropeTurns4: ropeTurnsPerPosition4(rope.headDim, rope.theta) }
    : {};
  return {
    template: 'matmul-subgroup',
    label: `${label(r, 'subgroup', rows)}${rope ? `_rope${entries < r.batch ? entries : ''}` : ''}`,
    params: {
      ...common,
      lanes,
      rows,
      tileN,
      subgroupsPerWorkgroup,
      aVec4,
      bVec4,
      cVec4,
      aColsVec: common.aCols / 4,
      bColsVec: common.bCols / 4,
      aStrideVec: r.aStride / 4,
      bStrideVec: r.bStride / 4,
      kMasked: r.K % 4 !== 0,
      // Per-lane A vector `slot` starts at vector index lane + lanes·slot (see the plan).
      aSlots: Array.from({ length: slots }, (_, slot) => ({ slot, first: lanes * slot })),
      rowGroups: rows / 4,
      accs: Array.from({ length: rows }, (_, row) => ({ row })),
      broadcasts: subgroupBroadcastPlan(lanes, rows, r.transA),
      ...ropeParams,
    },
    bindings: bindings(r, { a: aVec4, b: bVec4, c: cVec4 }),
    workgroupSize: [lanes * subgroupsPerWorkgroup, 1, 1],
    dispatch,
    features: ['subgroups'],
  };
}

function portableProgram(r: Resolved): KernelProgram {
  const [wgN, wgM] = PORTABLE_WG;
  const dispatch: [number, number, number] = [Math.ceil(r.N / (wgN * PORTABLE_TILE)), Math.ceil(r.M / (wgM * PORTABLE_TILE)), r.batch];
  checkDispatch(dispatch, label(r, 'portable'));
  return {
    template: 'matmul-portable',
    label: label(r, 'portable'),
    params: { ...commonParams(r), tile: PORTABLE_TILE, tileRows: Array.from({ length: PORTABLE_TILE }, (_, row) => ({ row })) },
    bindings: bindings(r),
    workgroupSize: [wgN, wgM, 1],
    dispatch,
    features: [],
  };
}

/**
 * `rows` with subgroups: b's vectors (the same for every lane) loaded by lane 0 alone and handed out by subgroupBroadcast,
 * label suffix `_sg`. On lavapipe a per-lane load costs a check and a load per active lane even at one address:
 * 0.76 / 0.73 of the per-lane kernel at the router's 512×4×64 and 64×4×512 (`npm run bench -- row-variants`).
 */
function rowsProgram(r: Resolved, caps: MatmulCaps, norm?: RowNorm): KernelProgram {
  const common = commonParams(r);
  const broadcastB = caps.subgroups;
  // a is read along its stored rows only when not transposed (then a row of op(a) is contiguous);
  // transposed, neighbouring invocations read neighbouring scalars.
  const aVec4 = !r.transA && common.aCols % 4 === 0 && r.aStride % 4 === 0;
  const bVec4 = common.bCols % 4 === 0 && r.bStride % 4 === 0;
  const cVec4 = r.N % 4 === 0 && r.cStride % 4 === 0;
  const blocks = Math.min(ROWS_MAX_VEC4, Math.ceil(r.N / 4));
  const tileN = 4 * blocks;
  const dispatch: [number, number, number] = [Math.ceil(r.M / ROWS_WG), Math.ceil(r.N / tileN), r.batch];
  checkDispatch(dispatch, label(r, 'rows'));
  // fuse-norm-matmul: the norm's y and rstd are written once per row, by the row's one column tile
  const normBindings: KernelProgram['bindings'] = norm
    ? [
        { name: 'norm_w', access: 'read', type: 'f32', length: r.K, vec4: true },
        { name: 'norm_y', access: 'write', type: 'f32', length: r.M * r.K, vec4: true },
        { name: 'rstd', access: 'write', type: 'f32', length: r.M },
      ]
    : [];
  return {
    template: 'matmul-rows',
    label: `${label(r, 'rows')}${norm ? '_norm' : ''}${broadcastB ? '_sg' : ''}`,
    params: {
      ...common,
      ...rowNormParams(norm, r.K),
      broadcastB,
      tileN,
      aVec4,
      bVec4,
      cVec4,
      aColsVec: common.aCols / 4,
      bColsVec: common.bCols / 4,
      aStrideVec: r.aStride / 4,
      bStrideVec: r.bStride / 4,
      kMasked: r.K % 4 !== 0,
      accs: Array.from({ length: blocks }, (_, v) => ({ v, first: 4 * v })),
    },
    bindings: [...bindings(r, { a: aVec4, b: bVec4, c: cVec4 }), ...normBindings],
    workgroupSize: [ROWS_WG, 1, 1],
    dispatch,
    features: broadcastB ? ['subgroups'] : [],
  };
}

/**
 * Whether the product can be roped in the GEMM's epilogue (fuse-matmul-rope): the subgroup variant,
 * C neither scaled nor accumulated, each lane's 4 columns in one half of a head (hd/2 a multiple of 4)
 * and the rotation partner, hd/2 columns away, in the lane hd/8 away in the same tile (hd divides
 * the tile's 4·lanes columns). Elsewhere the lowering rotates the product in place afterwards.
 */
export function matmulRopeInKernel(p: Pick<MatmulParams, 'N' | 'alpha' | 'accumulate'> & { readonly rope: { readonly headDim: number } }, caps: MatmulCaps): boolean {
  const hd = p.rope.headDim;
  return matmulVariantFor(caps, p) === 'subgroup' && (p.alpha ?? 1) === 1 && !p.accumulate && (hd / 2) % 4 === 0 && (4 * caps.subgroupMinSize) % hd === 0 && p.N % hd === 0;
}

/**
 * Whether A's rmsnorm can run in the GEMM's prologue (fuse-norm-matmul): the rows variant with one
 * column tile (each row's y and rstd written once), one plain product (no batch, transpose of A,
 * scale, accumulation, addend or rope), A's rows as vec4s in the lane rmsnorm's layout
 * (rowNormInKernel: the same sums, the same bits). Elsewhere the lowering runs the rmsnorm kernel first.
 */
export function matmulNormInKernel(p: MatmulParams, caps: MatmulCaps): boolean {
  const r = resolve(p);
  return (
    matmulVariantFor(caps, p) === 'rows' &&
    r.batch === 1 &&
    !r.transA &&
    r.alpha === 1 &&
    !r.accumulate &&
    !r.addend &&
    !p.rope &&
    r.N <= 4 * ROWS_MAX_VEC4 &&
    r.K % 4 === 0 &&
    rowNormInKernel({ ...caps, cpuAdapter: caps.cpuAdapter === true }, r.K)
  );
}

/** The matmul program for this device and shape (matmulVariantFor unless a variant is forced). */
export function matmulProgram(
  p: MatmulParams,
  caps: MatmulCaps,
  variant: MatmulVariant = matmulVariantFor(caps, p),
  tuning: SubgroupTuning = subgroupTuningFor(caps),
): KernelProgram {
  const r = resolve(p);
  if (p.norm && (variant !== 'rows' || !matmulNormInKernel(p, caps))) {
    throw new InternalError(`matmul: ${label(r, variant)} cannot normalise A in its prologue; run the rmsnorm first`);
  }
  if (p.rope && (variant !== 'subgroup' || !matmulRopeInKernel({ ...p, rope: p.rope }, caps))) {
    throw new InternalError(`matmul: ${label(r, variant)} cannot rope its product in the epilogue (hd ${p.rope.headDim}); rotate it after`);
  }
  if (variant === 'rows') return rowsProgram(r, caps, p.norm);
  if (variant === 'subgroup') {
    if (matmulVariant(caps) !== 'subgroup') throw new Error(`matmul: the subgroup variant needs subgroups of ${SUBGROUP_LANES.join('/')} lanes`);
    return subgroupProgram(r, caps.subgroupMinSize, tuning, p.rope);
  }
  return portableProgram(r);
}

/** Plain CPU reference in float64: the textbook triple loop per batch entry. */
export function matmulOracle(p: MatmulParams) {
  const r = resolve(p);
  return (inputs: Readonly<Record<string, ArrayLike<number>>>): Record<string, Float32Array> => {
    const c = new Float32Array(extent(r.cStride, r.batch, r.M * r.N));
    if (r.accumulate) c.set(Array.from(inputs.c).slice(0, c.length));
    if (r.addend) c.set(Array.from(inputs.d).slice(0, c.length));
    // fuse-norm-matmul: the rmsnorm reference of a's rows, rounded to f32 as norm_y stores them, is op(a)
    const normed = p.norm ? rmsnormReference({ rows: r.M, dim: r.K, eps: p.norm.eps }, { x: inputs.a, w: inputs.norm_w }) : undefined;
    const normY = normed ? Float32Array.from(normed.y) : undefined;
    const a = normY ?? inputs.a;
    const b = inputs.b;
    for (let bi = 0; bi < r.batch; bi++) {
      const aBase = bi * r.aStride;
      const bBase = bi * r.bStride;
      const cBase = bi * r.cStride;
      for (let m = 0; m < r.M; m++) {
        for (let n = 0; n < r.N; n++) {
          let sum = 0;
          for (let k = 0; k < r.K; k++) {
            const av = a[aBase + (r.transA ? k * r.M + m : m * r.K + k)];
            const bv = b[bBase + (r.transB ? n * r.K + k : k * r.N + n)];
            sum += av * bv;
          }
          const i = cBase + m * r.N + n;
          c[i] = (r.accumulate || r.addend ? c[i] : 0) + r.alpha * sum;
        }
      }
      if (p.rope && bi < (p.rope.entries ?? r.batch)) {
        // the rope kernel's reference on this entry's product (as f32, as the rope kernel reads it)
        const { theta, headDim, seqLen } = p.rope;
        const x = c.subarray(cBase, cBase + r.M * r.N);
        c.set(ropeReference({ tokens: r.M, seqLen, heads: r.N / headDim, headDim, theta, inverse: false }, { x }).out, cBase);
      }
    }
    return normed && normY ? { c, norm_y: normY, rstd: Float32Array.from(normed.rstd) } : { c };
  };
}

/**
 * Tolerance for inputs in [-1, 1): f32 rounding in a K-term dot product of random-sign terms grows
 * like sqrt(K), so atol scales with sqrt(K)·|alpha|; rtol covers the accumulated C.
 */
export function matmulTolerance(p: MatmulParams): { atol: number; rtol: number } {
  // a roped product adds the rotation's error, as the rope kernel's
  const rope = p.rope ? ropeAtol(p.rope.seqLen) : 0;
  return { atol: 2e-6 * Math.sqrt(p.K) * Math.max(1, Math.abs(p.alpha ?? 1)) + 1e-6 + rope, rtol: 1e-5 };
}

export function matmulCase(p: MatmulParams, caps: MatmulCaps, variant?: MatmulVariant): KernelCase {
  return { program: matmulProgram(p, caps, variant), oracle: matmulOracle(p), tolerance: matmulTolerance(p) };
}
