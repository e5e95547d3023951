// Grouped expert GEMMs over expert-sorted rows (the output of moe-permute), one dispatch for all
// experts, with no count read back to the CPU:
//   forward / dX:  C[rows of e, :] = A[rows of e, :] · B_e        (B_e = W[e] or W[e]ᵀ by layout)
//   dW:            dW[e] = A[rows of e, :]ᵀ · G[rows of e, :]     (one dispatch over E × tiles)
//
// Invariants:
// - Expert row ranges come from the device-side per-expert `counts` [E]: expert e owns rows
//   [Σ_{e'<e} c, Σ_{e'≤e} c), clamped to the buffer's worst-case extent, so any counts (even
//   random ones in the numeric checker) describe disjoint ranges.
// - Row tiles never straddle experts: the dispatch covers the worst case ceil(rows/TM) + E tiles
//   (spread over x and z, so rows are not capped by the 65535-workgroup dimension limit) and each
//   workgroup maps its tile index to (expert, first row) by a scan of counts (O(E) reads, small next
//   to a tile's TM·inner·TN work), then exits early, uniformly, when the tile lies past the last
//   expert. Rows past the kept total are never written.
// - SD-MoE seam (`sharedWeight`): the weight operand is W_c + W_u[e], summed in the tile load, so the
//   proxy matrix is never materialised. The dW kernel always produces the plain per-expert gradient
//   G^(e); the spectral split of G into W_c and W_u parts is a later kernel's job.
// - `epilogue` (fuse-swiglu-gemm): SwiGLU on each result element as it is stored, in both variants
//   (one `put` per element or vec4): the up GEMM writes h = silu(g) ⊙ u beside u, the down GEMM's
//   dX writes SwiGLU's (dg, du) instead of dh. Extra operands have c's layout; padding rows stay
//   unwritten like c's.
// - `gatherTokens`: A row r is read as x[src_token[r]] straight from the un-permuted activations
//   (fuses the moe gather into the GEMM's load; padding rows read as zero).
// - Two variants, chosen from the device caps exactly as the dense matmul chooses (never a flag):
//   `subgroup` (lavapipe and other CPU-like adapters, where per-lane loads are what costs): a
//   workgroup is one subgroup, each lane owns a 16×4 accumulator block, loads its own B vectors
//   (vec4 where the row length allows) and shares its A vectors with every lane through
//   subgroupBroadcast, on the broadcast plan of compiler/kernels/matmul.ts; the reduction length is
//   hidden from the shader compiler so lavapipe does not unroll it. `portable` (no caps, or no
//   suitable subgroups): each invocation owns a 4×4 block, tiles 32×64 staged through workgroup
//   memory with a reduction step of 16.
//   On CPU adapters (labels `_sg_cpu`, `_sg_cpu_v4`) the subgroup variant has every lane find its
//   tile's expert and rows itself instead of lane 0 and a barrier (cpuLayout), and stores a lane's
//   4 output columns as one vec4 when the output row length is a multiple of 4 (forward/dX always,
//   dW in the [in, out] layout; vec4Store); GPUs keep the lane-0 scan and the scalar stores.
// Measured on lavapipe at the demo's shapes (1024 routed rows, 4 experts, 64×128 and 128×64; issue 8):
// the subgroup variant runs at the dense matmul kernel's own rate for the same M×N×K (~16-21 GFLOP/s
// best, interleaved), so CPU adapters get it unchanged, with 32 rows per lane (sgRows; measured
// at low load). Tried and dropped: 8 rows per lane, workgroups walking 2-8 row
// sub-tiles × 2-4 column tiles in loops (no gain beyond noise, and 15-60 s first-use compiles under
// load against ~9-15 s), and one lane per column with uniform A loads instead of broadcasts (40×
// slower).
import { InternalError } from '../../base/errors.ts';
import { matmulVariant, rowsSuffix, subgroupBroadcastPlan, subgroupTuningFor, SUBGROUP_TUNING, type MatmulCaps } from './matmul.ts';
import { MOE_MAX_EXPERTS } from './router.ts';
import { swigluBackwardReference, swigluReference } from './swiglu.ts';
import type { Dim3 } from '../codegen/kernel.ts';
import { ceilDiv, spreadWorkgroups, type KernelBinding, type KernelCase, type KernelProgram } from './types.ts';

export const GROUPED_MAX_EXPERTS = MOE_MAX_EXPERTS;

/** `io`: W[e] stored [inner, out] (row-major); `oi`: stored [out, inner]. */
export type WeightLayout = 'io' | 'oi';

export interface GroupedMatmulParams {
  /** Worst-case rows (T·k): the extent of A's and C's row dimension. */
  readonly rows: number;
  readonly experts: number;
  /** Reduction dimension. */
  readonly inner: number;
  /** Output columns. */
  readonly out: number;
  readonly weightLayout: WeightLayout;
  /** Weight operand is w_common [inner·out] + w[e] (SD-MoE proxy matrix). */
  readonly sharedWeight: boolean;
  /** When set, A is x [gatherTokens, inner] read through src_token [rows]. */
  readonly gatherTokens?: number;
  /** SwiGLU in the epilogue (fuse-swiglu-gemm), elementwise on each result element, both variants:
   *  `swiglu` writes c (= the product u) and h = silu(g) ⊙ u from g; `swiglu_grad` takes the product
   *  as dh and writes c = dg = dh ⊙ u ⊙ σ(g)(1 + g(1 − σ(g))) and du = dh ⊙ silu(g) from g, u. The
   *  extra operands have c's shape and layout (vec4 with c); rows past the kept total stay unwritten. */
  readonly epilogue?: 'swiglu' | 'swiglu_grad';
  /** Plain epilogue only: add the product to c's own contents (`accumulate`, c read_write: the planner
   *  handed over the addend's buffer) or to a binding d [rows, out] (`addend`), as c = c + v / d + v
   *  (fuse-grad-x-add). Rows past the kept total stay unwritten, as ever. */
  readonly sum?: 'accumulate' | 'addend';
}

export interface GroupedMatmulDwParams {
  readonly rows: number;
  readonly experts: number;
  /** Columns of A (rows of dW[e] in `io` layout). */
  readonly inDim: number;
  /** Columns of G. */
  readonly outDim: number;
  /** Layout dW is written in (match the weight's own layout). */
  readonly weightLayout: WeightLayout;
  readonly gatherTokens?: number;
}

const TILE_M = 32;
const TILE_N = 64;
const TILE_K = 16;
const WG: readonly [number, number, number] = [16, 8, 1];
const THREADS = WG[0] * WG[1];

function check(rows: number, experts: number, dims: readonly number[], what: string): void {
  // `check` refuses more experts with a location; reaching this is a compiler bug.
  if (experts < 1 || experts > GROUPED_MAX_EXPERTS) throw new InternalError(`${what}: ${experts} experts; supported 1..${GROUPED_MAX_EXPERTS}`);
  if (rows < 1 || dims.some((d) => d < 1)) throw new InternalError(`${what}: every dimension must be at least 1`);
}

/** Worst-case row tiles spread over x and z, column tiles in y. */
function rowTileDispatch(rowTiles: number, colTiles: number): { dispatch: Dim3; dispatchX: number } {
  const { dispatch, dispatchX } = spreadWorkgroups(rowTiles);
  return { dispatch: [dispatch[0], colTiles, dispatch[1]], dispatchX };
}

function countsBinding(rows: number, experts: number): KernelBinding {
  // Random counts that sum to about 1.5× the rows, so the clamp at the worst-case extent is exercised.
  return { name: 'counts', access: 'read', type: 'u32', length: experts, fill: { kind: 'int', lo: 0, hi: Math.max(1, Math.ceil((3 * rows) / experts)) } };
}

function gatherBindings(rows: number, width: number, gatherTokens: number | undefined, name: string): KernelBinding[] {
  if (gatherTokens === undefined) return [{ name, access: 'read', type: 'f32', length: rows * width }];
  return [
    { name, access: 'read', type: 'f32', length: gatherTokens * width },
    { name: 'src_token', access: 'read', type: 'i32', length: rows, fill: { kind: 'int', lo: -1, hi: gatherTokens } },
  ];
}

/**
 * Rows per lane of the subgroup variant: the dense matmul's choice for this adapter
 * (subgroupTuningFor: 32 on CPU adapters, 16 elsewhere). `npm run bench -- gemm-rows` measures the
 * grouped GEMMs at the demo's shapes too (1024 routed rows, 4 experts; 30 interleaved rounds, load
 * ≈ 1), median per-round time 32 ÷ 16 rows: forward io 64×128 0.87, io 128×64 0.87, dX oi 128×64
 * 0.93, oi 64×128 0.84, dW io 64×128 0.83; cold compile ≈ 0.9–1.0 s per kernel against 0.4–0.6 s.
 * (An earlier trial under load 6–10 could not see it through the noise.)
 */
function sgRows(caps: MatmulCaps | undefined): number {
  return (caps ? subgroupTuningFor(caps) : SUBGROUP_TUNING).rows;
}

/** The subgroup width to build for, or undefined for the portable variant. */
function subgroupLanes(caps: MatmulCaps | undefined): number | undefined {
  return caps && matmulVariant(caps) === 'subgroup' ? caps.subgroupMinSize : undefined;
}

/**
 * CPU adapters (lavapipe) get the subgroup variant without its workgroup variable and barrier: every
 * lane scans the counts for the tile's expert and row range itself (the workgroup is a single
 * subgroup, which runs as one SIMD program, so that costs what lane 0's scan did). Measured at the
 * demo's shapes in interleaved pairs (load ~10, 24 pairs): median pair ratios 0.93-0.97 for every
 * forward/dX and dW shape. GPUs keep the lane-0 scan and workgroupUniformLoad.
 */
function cpuLayout(caps: MatmulCaps | undefined): boolean {
  return caps?.cpuAdapter === true;
}

/** Label suffix of the CPU-adapter layout: `_cpu`, plus `_v4` with the vec4 output store. */
function cpuSuffix(caps: MatmulCaps | undefined, vec4: boolean): string {
  return cpuLayout(caps) ? `_cpu${vec4 ? '_v4' : ''}` : '';
}

/**
 * Whether the subgroup variant writes a lane's 4 output columns as one vec4 store: on CPU adapters
 * when the output row length is a multiple of 4 (then every row, and every expert's dW block,
 * starts on a vec4 boundary and the 4 columns are all inside the row or all past it). lavapipe
 * turns each per-lane store into a branch per lane; measured at the demo's shapes (1024 rows, 4
 * experts, 64×128 and 128×64, interleaved pairs, load 6–9): best µs 3–12 % lower for every shape,
 * median of pair ratios 0.89–1.03 (forward / dX) and 0.70–0.94 (dW), and shorter cold compiles.
 * GPUs keep the scalar stores they were given before.
 */
function vec4Store(caps: MatmulCaps | undefined, rowLength: number): boolean {
  return cpuLayout(caps) && rowLength % 4 === 0;
}

function subgroupPlanParams(lanes: number, rows: number, transA: boolean) {
  const slots = rows / lanes;
  return {
    lanes,
    tileRows: rows,
    tileN: 4 * lanes,
    rowGroups: rows / 4,
    aSlots: Array.from({ length: slots }, (_, slot) => ({ slot, first: lanes * slot })),
    accs: Array.from({ length: rows }, (_, row) => ({ row })),
    broadcasts: subgroupBroadcastPlan(lanes, rows, transA),
  };
}

/** c and the epilogue's operands: all [rows, out], stored like c. */
const EPILOGUE_OPERANDS = new Set(['c', 'g', 'u', 'h', 'du', 'd']);

function epilogueBindings(p: GroupedMatmulParams): KernelBinding[] {
  const n = p.rows * p.out;
  if (p.sum && p.epilogue) throw new InternalError('grouped matmul: a sum epilogue goes with the plain product only');
  if (p.sum === 'addend') return [{ name: 'd', access: 'read', type: 'f32', length: n }];
  // g and u as the forward's activations: any float (the checker's default range).
  if (p.epilogue === 'swiglu') return [{ name: 'g', access: 'read', type: 'f32', length: n }, { name: 'h', access: 'write', type: 'f32', length: n }];
  if (p.epilogue === 'swiglu_grad') return [{ name: 'g', access: 'read', type: 'f32', length: n }, { name: 'u', access: 'read', type: 'f32', length: n }, { name: 'du', access: 'write', type: 'f32', length: n }];
  return [];
}

const tileParams = { tileM: TILE_M, tileN: TILE_N, tileK: TILE_K, threads: THREADS, aLoads: (TILE_M * TILE_K) / THREADS, bLoads: (TILE_K * TILE_N) / THREADS };

/** `rows`: rows per lane of the subgroup variant (default: this adapter's; bench/gemm-rows.ts compares). */
export function groupedMatmulProgram(p: GroupedMatmulParams, caps?: MatmulCaps, rows = sgRows(caps)): KernelProgram {
  check(p.rows, p.experts, [p.inner, p.out], 'grouped matmul');
  const lanes = subgroupLanes(caps);
  const weightSize = p.inner * p.out;
  const bindings: KernelBinding[] = [
    ...gatherBindings(p.rows, p.inner, p.gatherTokens, 'a'),
    countsBinding(p.rows, p.experts),
    { name: 'w', access: 'read', type: 'f32', length: p.experts * weightSize },
    ...(p.sharedWeight ? [{ name: 'w_common', access: 'read' as const, type: 'f32' as const, length: weightSize }] : []),
    { name: 'c', access: p.sum === 'accumulate' ? 'readwrite' : 'write', type: 'f32', length: p.rows * p.out },
    ...epilogueBindings(p),
  ];
  const epilogue = { swiglu: p.epilogue === 'swiglu', swigluGrad: p.epilogue === 'swiglu_grad', accumulate: p.sum === 'accumulate', addend: p.sum === 'addend' };
  const tags = [p.weightLayout, p.sharedWeight ? 'shared' : '', p.gatherTokens !== undefined ? `gather${p.gatherTokens}` : '', p.epilogue?.replace('_', '') ?? '', p.sum === 'accumulate' ? 'acc' : p.sum === 'addend' ? 'add' : ''].filter(Boolean).join('_');
  if (lanes !== undefined) {
    const gather = p.gatherTokens !== undefined;
    const aVec4 = p.inner % 4 === 0;
    // A weight vector runs along the stored row: out for [inner, out], inner for [out, inner].
    const bVec4 = p.weightLayout === 'io' ? p.out % 4 === 0 : p.inner % 4 === 0;
    const cVec4 = vec4Store(caps, p.out);
    const vec = (b: KernelBinding): KernelBinding => ((b.name === 'a' && aVec4) || ((b.name === 'w' || b.name === 'w_common') && bVec4) || (EPILOGUE_OPERANDS.has(b.name) && cVec4) ? { ...b, vec4: true } : b);
    const tiles = rowTileDispatch(ceilDiv(p.rows, rows) + p.experts, ceilDiv(p.out, 4 * lanes));
    return {
      template: 'grouped_matmul_sg',
      label: `grouped_matmul_${tags}_r${p.rows}_e${p.experts}_${p.inner}x${p.out}_sg${cpuSuffix(caps, cVec4)}${rowsSuffix(rows)}`,
      params: {
        ...subgroupPlanParams(lanes, rows, false),
        rows: p.rows,
        experts: p.experts,
        inner: p.inner,
        out: p.out,
        layoutIO: p.weightLayout === 'io',
        sharedWeight: p.sharedWeight,
        gather,
        aVec4,
        bVec4,
        cVec4,
        scanAllLanes: cpuLayout(caps),
        innerVec: p.inner / 4,
        outVec: p.out / 4,
        kMasked: p.inner % 4 !== 0,
        dispatchX: tiles.dispatchX,
        ...epilogue,
      },
      bindings: bindings.map(vec),
      workgroupSize: [lanes, 1, 1],
      dispatch: tiles.dispatch,
      features: ['subgroups'],
    };
  }
  const tiles = rowTileDispatch(ceilDiv(p.rows, TILE_M) + p.experts, ceilDiv(p.out, TILE_N));
  return {
    template: 'grouped_matmul',
    label: `grouped_matmul_${tags}_r${p.rows}_e${p.experts}_${p.inner}x${p.out}`,
    params: {
      ...tileParams,
      rows: p.rows,
      experts: p.experts,
      inner: p.inner,
      out: p.out,
      layoutIO: p.weightLayout === 'io',
      sharedWeight: p.sharedWeight,
      gather: p.gatherTokens !== undefined,
      kTiles: ceilDiv(p.inner, TILE_K),
      dispatchX: tiles.dispatchX,
      ...epilogue,
    },
    bindings,
    workgroupSize: WG,
    dispatch: tiles.dispatch,
    features: [],
  };
}

/** dW[e] = A[rows of e]ᵀ · G[rows of e]: tiles of dW are 32 (inDim) × 64 (outDim). */
export function groupedMatmulDwProgram(p: GroupedMatmulDwParams, caps?: MatmulCaps, rows = sgRows(caps)): KernelProgram {
  check(p.rows, p.experts, [p.inDim, p.outDim], 'grouped matmul dW');
  const lanes = subgroupLanes(caps);
  const bindings: KernelBinding[] = [
    ...gatherBindings(p.rows, p.inDim, p.gatherTokens, 'a'),
    { name: 'g', access: 'read', type: 'f32', length: p.rows * p.outDim },
    countsBinding(p.rows, p.experts),
    { name: 'dw', access: 'write', type: 'f32', length: p.experts * p.inDim * p.outDim },
  ];
  const tags = [p.weightLayout, p.gatherTokens !== undefined ? `gather${p.gatherTokens}` : ''].filter(Boolean).join('_');
  if (lanes !== undefined) {
    const aVec4 = p.inDim % 4 === 0;
    const gVec4 = p.outDim % 4 === 0;
    // Only the [in, out] layout stores a lane's 4 columns contiguously ([out, in] writes them IN apart).
    const dwVec4 = p.weightLayout === 'io' && vec4Store(caps, p.outDim);
    const vec = (b: KernelBinding): KernelBinding => ((b.name === 'a' && aVec4) || (b.name === 'g' && gVec4) || (b.name === 'dw' && dwVec4) ? { ...b, vec4: true } : b);
    return {
      template: 'grouped_matmul_dw_sg',
      label: `grouped_matmul_dw_${tags}_r${p.rows}_e${p.experts}_${p.inDim}x${p.outDim}_sg${cpuSuffix(caps, dwVec4)}${rowsSuffix(rows)}`,
      params: {
        ...subgroupPlanParams(lanes, rows, true),
        rows: p.rows,
        experts: p.experts,
        inDim: p.inDim,
        outDim: p.outDim,
        layoutIO: p.weightLayout === 'io',
        gather: p.gatherTokens !== undefined,
        aVec4,
        gVec4,
        dwVec4,
        scanAllLanes: cpuLayout(caps),
        inVec: p.inDim / 4,
        outVec: p.outDim / 4,
      },
      bindings: bindings.map(vec),
      workgroupSize: [lanes, 1, 1],
      dispatch: [ceilDiv(p.outDim, 4 * lanes), ceilDiv(p.inDim, rows), p.experts],
      features: ['subgroups'],
    };
  }
  return {
    template: 'grouped_matmul_dw',
    label: `grouped_matmul_dw_${tags}_r${p.rows}_e${p.experts}_${p.inDim}x${p.outDim}`,
    params: {
      ...tileParams,
      aLoads: (TILE_K * TILE_M) / THREADS,
      rows: p.rows,
      experts: p.experts,
      inDim: p.inDim,
      outDim: p.outDim,
      layoutIO: p.weightLayout === 'io',
      gather: p.gatherTokens !== undefined,
    },
    bindings,
    workgroupSize: WG,
    dispatch: [ceilDiv(p.outDim, TILE_N), ceilDiv(p.inDim, TILE_M), p.experts],
    features: [],
  };
}

type Inputs = Readonly<Record<string, ArrayLike<number>>>;

/** [start, end) rows of each expert, clamped to the worst-case extent (mirrors the kernel). */
export function expertRowRanges(counts: ArrayLike<number>, experts: number, rows: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let start = 0;
  for (let e = 0; e < experts; e++) {
    ranges.push([Math.min(start, rows), Math.min(start + counts[e], rows)]);
    start += counts[e];
  }
  return ranges;
}

/** A's row r, honouring the gather indirection. */
function rowReader(inputs: Inputs, width: number, gather: boolean) {
  return (r: number, i: number): number => {
    if (!gather) return inputs.a[r * width + i];
    const t = inputs.src_token[r];
    return t < 0 ? 0 : inputs.a[t * width + i];
  };
}

export function groupedMatmulOracle(p: GroupedMatmulParams) {
  return (inputs: Inputs): Record<string, Float32Array> => {
    const { inner: K, out: N } = p;
    const a = rowReader(inputs, K, p.gatherTokens !== undefined);
    const weight = (e: number, k: number, n: number): number => {
      const local = p.weightLayout === 'io' ? k * N + n : n * K + k;
      return inputs.w[e * K * N + local] + (p.sharedWeight ? inputs.w_common[local] : 0);
    };
    // The product in float64 (rows past the kept total stay 0, as the kernel leaves them unwritten),
    // then the epilogue through SwiGLU's own references.
    const product = new Float64Array(p.rows * N);
    expertRowRanges(inputs.counts, p.experts, p.rows).forEach(([start, end], e) => {
      for (let r = start; r < end; r++) {
        for (let n = 0; n < N; n++) {
          let acc = 0;
          for (let k = 0; k < K; k++) acc += a(r, k) * weight(e, k, n);
          product[r * N + n] = acc;
        }
      }
    });
    const rowsOf = { tokens: p.rows, hidden: N, packed: false };
    if (p.epilogue === 'swiglu') return { c: Float32Array.from(product), h: Float32Array.from(swigluReference(rowsOf, { g: inputs.g, u: product }).h) };
    if (p.epilogue === 'swiglu_grad') {
      const { dg, du } = swigluBackwardReference(rowsOf, { dh: product, g: inputs.g, u: inputs.u });
      return { c: Float32Array.from(dg), du: Float32Array.from(du) };
    }
    if (p.sum) {
      // c + v or d + v on the rows the experts own; accumulate leaves the other rows as they were
      const c = p.sum === 'accumulate' ? Float32Array.from(inputs.c) : new Float32Array(p.rows * N);
      const base = p.sum === 'accumulate' ? inputs.c : inputs.d;
      expertRowRanges(inputs.counts, p.experts, p.rows).forEach(([start, end]) => {
        for (let i = start * N; i < end * N; i++) c[i] = Math.fround(base[i] + Math.fround(product[i]));
      });
      return { c };
    }
    return { c: Float32Array.from(product) };
  };
}

export function groupedMatmulDwOracle(p: GroupedMatmulDwParams) {
  return (inputs: Inputs): Record<string, Float32Array> => {
    const { inDim: I, outDim: O } = p;
    const dw = new Float32Array(p.experts * I * O);
    const a = rowReader(inputs, I, p.gatherTokens !== undefined);
    expertRowRanges(inputs.counts, p.experts, p.rows).forEach(([start, end], e) => {
      for (let i = 0; i < I; i++) {
        for (let o = 0; o < O; o++) {
          let acc = 0;
          for (let r = start; r < end; r++) acc += a(r, i) * inputs.g[r * O + o];
          dw[e * I * O + (p.weightLayout === 'io' ? i * O + o : o * I + i)] = acc;
        }
      }
    });
    return { dw };
  };
}

/** The dX GEMM of a forward GEMM: dA = dC · B_eᵀ is the same grouped GEMM with the layout flipped. */
export function groupedMatmulBackwardParams(p: GroupedMatmulParams, epilogue?: 'swiglu_grad'): GroupedMatmulParams {
  return { rows: p.rows, experts: p.experts, inner: p.out, out: p.inner, weightLayout: p.weightLayout === 'io' ? 'oi' : 'io', sharedWeight: p.sharedWeight, ...(epilogue ? { epilogue } : {}) };
}

const tolerance = { atol: 2e-4, rtol: 2e-4 };

/** Without caps the portable variant is built; pass the device caps to get the fast one. */
export function groupedMatmulCase(p: GroupedMatmulParams, caps?: MatmulCaps): KernelCase {
  return { program: groupedMatmulProgram(p, caps), oracle: groupedMatmulOracle(p), tolerance };
}

export function groupedMatmulDwCase(p: GroupedMatmulDwParams, caps?: MatmulCaps): KernelCase {
  return { program: groupedMatmulDwProgram(p, caps), oracle: groupedMatmulDwOracle(p), tolerance };
}
