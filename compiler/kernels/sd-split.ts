// SD-MoE gradient split in three dispatches (two on CPU adapters: the pair, below) (digest §2.4, eqs. 9–10), for E expert gradients
// G(e) [K,N] and orthonormal rank-r bases U [K,r], V [N,r]:
//   sd_split_a:    A(e) = Uᵀ G(e)                                  [E,r,N]
//   sd_split_b:    B(e) = (G(e) − U A(e)) V = (I − P_U) G(e) V     [E,K,r]
//   sd_split_out:  Gu(e) = G(e) − U A(e) − B(e) Vᵀ = (I−P_U) G(e) (I−P_V)     [E,K,N]
//                  Gc = Σ_e (U A(e) + B(e) Vᵀ)  (÷ E for the mean)           [K,N]
// `out` can also add either result into a live buffer instead of writing it (SdSplitOutMode):
// `project update` adds D(Δ_u) to W_u and Δ_c − D(Δ_c) to W_c with the same three kernels (twice) on
// GPUs, and with sd_project_fused (below) on CPU adapters.
// Variants (sdSplitVariant, from the shape and DeviceCaps, never a user flag):
//   scalar  any shape; A and out one invocation per column, B one per row.             GPUs, odd shapes
//   vec4    cols and rank multiples of 4: A and out 4 columns per invocation, B scalar. GPUs
//   rows    CPU adapters (lavapipe, SwiftShader) where the pair does not take the shape: A as vec4; B and out give each invocation a tile of
//           rows (lanes along k) and walk the columns 4 at a time, with the small operands U, V, A, B
//           bound as uniform buffers. On lavapipe a storage-buffer load at a per-lane address becomes a
//           branch per lane and component (exec mask, bounds check): that is most of the run time, and
//           the thousands of basic blocks a register-tiled kernel made of it are what took LLVM 10–110 s
//           to compile (docs/benchmarks.md); a uniform-buffer load is a branch-free gather. Needs the
//           uniform operands within 64 KiB (WebGPU's default maxUniformBufferBindingSize).
// The pair (sdSplitPair, from the shape and DeviceCaps): on CPU adapters, when the rows variant applies and C's parts
// and an invocation's B fit, the gradient split (SPLIT_MODE) takes two dispatches instead of three, using
// B = (I − P_U) G V = P − U C with P = G V and C = Uᵀ P = A V [r, r]: P needs no A, so
//   sd_split_ap:      workgroups [0, aGroups) compute A (as the vec4 A kernel), the rest P (as the rows B kernel
//                     without the U A term) and their rows' part of C (lane sums in workgroup memory, one barrier);
//   sd_split_out_pc:  the rows out kernel, forming its rows' B = P − U Σ(C's parts) once per invocation.
// Against the three rows kernels, interleaved pairs of 10 splits a pass on lavapipe (load 1.4–1.9): median pair ratio
// 0.84–0.87 at 4×64×128, 0.88–0.89 at 4×128×64 (rank 8). LLVM compiles them at the first dispatch in 1.4–1.7 s (ap) and
// 0.8–1.3 s (out_pc), against 0.35–0.6 s for each rows kernel. GPUs keep the three kernels (scalar or vec4), and so does
// `project update` (its modes and the fused CPU kernel are unchanged).
// It replaces a seven-dispatch chain (copy, two batched GEMMs per side, subtract, reduce) that also
// materialised G − Gu for every expert: the r-wide products are too thin for the tiled matmul to
// pay off, and on lavapipe every dispatch has a fixed cost of ~20–30 µs. Each kernel keeps its r
// accumulators (or U's row / V's row) in registers; G is read three times, Gu and Gc written once.
// The oracles compute exactly these definitions in float64, for arbitrary (not only orthonormal)
// inputs, so each kernel is checked on its own; test/kernels/sd-split.test.ts also checks the
// chain against the projector form (I−P_U) G (I−P_V) with orthonormal bases.
// `project update` on CPU adapters (sdProjectFused): all six of its kernels (A, B, out for Δ_c, then for
// Δ_u) in one dispatch, sd_project_fused, a workgroup per matrix (Δ_c and each Δ_u(e)) computing A in
// workgroup memory, one barrier, then B and the in-place update row by row; U and V as uniform buffers
// (storage ones made it twice as slow). GPUs keep the six dispatches (E + 1 workgroups would idle a GPU).
// Against the six rows kernels, interleaved pairs of 10 updates a pass on lavapipe (load 6–9): median pair
// ratio 0.32–0.38 at 4×64×128, 0.77–0.90 at 4×128×64, 0.63 at 8×128×128 (rank 8).
// With subgroups, the pair and the fused update hand out the operands every lane reads alike by subgroupBroadcast
// (sdSplitBroadcastLanes): same arithmetic, same bits, 0.55–0.79 of the per-lane kernels' time on lavapipe
// (`npm run bench -- row-variants`).
// The same one-workgroup-per-matrix kernel for the gradient split (Gu per expert, Gc from the stored A, B
// in a second dispatch, or Σ_e G(e) in an extra workgroup) was no faster than the three rows kernels on
// lavapipe (best of interleaved passes, 4×64×128: 406 against 374 µs, 4×128×64: 531 against 360 µs): with one thread per matrix
// the 2-core CPU runs at most two matrices at once, while the rows kernels split every phase more finely.
import { InternalError } from '../../base/errors.ts';
import { ceilDiv, f32Literal, laneSpread, spreadWorkgroups, type DeviceCaps, type KernelCase, type KernelProgram } from './types.ts';

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
 * needs cols and rank to be multiples of 4; `scalar` works for any shape. `rows` (CPU adapters):
 * B and out tile rows per invocation and read U, V, A, B from uniform buffers (see the header).
 */
export type SdSplitVariant = 'scalar' | 'vec4' | 'rows';

/** What the variant choice depends on (subgroups: the pair's broadcast loads, sdSplitBroadcastLanes). */
export type SdSplitCaps = Pick<DeviceCaps, 'cpuAdapter'> & Partial<Pick<DeviceCaps, 'subgroups' | 'subgroupMinSize'>>;

/** WebGPU's default maxUniformBufferBindingSize (the device does not ask for more). */
const UNIFORM_BYTES = 65536;
/** WebGPU's default maxComputeWorkgroupStorageSize: the pair's C parts and the fused kernel's A [r, N] live in workgroup memory. */
const WORKGROUP_BYTES = 16384;

/** Rows per invocation and invocations per workgroup of the `rows` variant (measured on lavapipe, docs/benchmarks.md). */
const ROW_TILE = { b: { tileRows: 4, wg: 16 }, out: { tileRows: 4, wg: 16 } } as const;
/** Rows per invocation and invocations per workgroup of the pair (sd_split_ap's P rows, sd_split_out_pc): more rows per lane
 *  than the three rows kernels. Swept on lavapipe at 4×64×128 and 4×128×64 (rank 8; both kernels, 20–40 interleaved rounds of
 *  10 splits, load ≈ 1–2, ad-hoc script): against ap (4, 16) / out (4, 16), ap (8, 8) with out (4, 8) took 0.86–0.92 of the
 *  time, out (8, 8) 0.87–0.92 (but E·tile = 128 at 8 experts, past PAIR_MAX_PRIVATE), 2 rows per lane 1.24–1.32, 1 row 1.8–1.9. */
const PAIR_TILE = { ap: { tileRows: 8, wg: 8 }, out: { tileRows: 4, wg: 8 } } as const;

/** The uniform operands of the `rows` variant fit one binding each. */
function uniformsFit(p: SdSplitParams): boolean {
  const { experts: E, rows: K, cols: N, rank: r } = p;
  return [K * r, N * r, E * r * N, E * K * r].every((n) => n * 4 <= UNIFORM_BYTES);
}

/** cols and rank multiples of 4: what every vec4-loading kernel here (vec4, rows, the pair, the fused update) needs. */
const quads = (p: Pick<SdSplitParams, 'cols' | 'rank'>): boolean => p.cols % 4 === 0 && p.rank % 4 === 0;

export function sdSplitVariant(p: SdSplitParams, caps?: SdSplitCaps): SdSplitVariant {
  if (!quads(p)) return 'scalar';
  return caps?.cpuAdapter === true && uniformsFit(p) ? 'rows' : 'vec4';
}

function variantOf(p: SdSplitParams, variant: SdSplitVariant | undefined): SdSplitVariant {
  const v = variant ?? sdSplitVariant(p);
  if (v !== 'scalar' && !quads(p)) throw new Error(`sd_split: the ${v} variant needs cols and rank multiples of 4 (cols ${p.cols}, rank ${p.rank})`);
  if (v === 'rows' && !uniformsFit(p)) throw new Error(`sd_split: the rows variant needs U, V, A and B within ${UNIFORM_BYTES} bytes each`);
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
  const v = variantOf(p, variant);
  const l = layout(v === 'rows' ? 'vec4' : v); // A reads G once per column quad already: rows uses the vec4 kernel
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
 * One invocation per (e, k): B[e, k, j] = Σ_n (G[e,k,n] − Σ_i U[k,i] A[e,i,n]) V[n, j]. Scalar for
 * `scalar` and `vec4`: a vec4 variant with storage bindings (4 columns of g per step) measured
 * 1.6–1.7× slower on lavapipe (docs/benchmarks.md); `rows` is the CPU adapters' tiled kernel.
 */
export function sdSplitBProgram(p: SdSplitParams, variant?: SdSplitVariant): KernelProgram {
  check(p);
  if (variantOf(p, variant) === 'rows') return sdSplitBRowsProgram(p);
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

/** Lanes for `rows` rows at `tileRows` each, at most `maxWg`: a workgroup wider than the matrix is tall would leave most lanes idle, so shrink it (SIMD-8 granules). */
function rowLanes(rows: number, tileRows: number, maxWg: number): number {
  return Math.min(maxWg, Math.max(8, Math.ceil(rows / tileRows / 8) * 8));
}

/** The row tile of the `rows` variant: invocations per workgroup, rows per invocation, and the params every rows template reads. */
function rowTile(p: SdSplitParams, t: { tileRows: number; wg: number }) {
  const wg = rowLanes(p.rows, t.tileRows, t.wg);
  const rowsPerGroup = wg * t.tileRows;
  const rowGroups = ceilDiv(p.rows, rowsPerGroup);
  if (rowGroups > 65535) throw new InternalError(`sd_split: ${p.rows} rows need more row tiles than one dispatch dimension holds`);
  return {
    wg,
    rowGroups,
    params: {
      rows: p.rows,
      lastRow: p.rows - 1,
      cols: p.cols,
      cols4: p.cols / 4,
      rank: p.rank,
      rank4: p.rank / 4,
      tileRows: t.tileRows,
      tile: t.tileRows * (p.rank / 4),
      rowsPerGroup,
      rowGroups,
    },
  };
}

function sdSplitBRowsProgram(p: SdSplitParams): KernelProgram {
  const t = rowTile(p, ROW_TILE.b);
  return {
    template: 'sd-split-b-rows',
    label: `sd_split_b_${shape(p)}_rows`,
    params: t.params,
    bindings: [
      { name: 'g', access: 'read', type: 'f32', length: p.experts * p.rows * p.cols, vec4: true },
      { name: 'u', access: 'uniform', type: 'f32', length: p.rows * p.rank },
      { name: 'v', access: 'uniform', type: 'f32', length: p.cols * p.rank },
      { name: 'a', access: 'uniform', type: 'f32', length: p.experts * p.rank * p.cols },
      { name: 'b', access: 'write', type: 'f32', length: p.experts * p.rows * p.rank, vec4: true },
    ],
    workgroupSize: [t.wg, 1, 1],
    dispatch: [t.rowGroups, p.experts, 1],
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
  const v = variantOf(p, variant);
  if (v === 'rows') return sdSplitOutRowsProgram(p, mode);
  const l = layout(v);
  const threads = (p.rows * p.cols) / l.width;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(threads, WORKGROUP));
  return {
    template: `sd-split-out${l.template}`,
    label: `sd_split_out_${shape(p)}_${p.aggregate}${modeLabel(mode)}${l.label}`,
    params: {
      threads,
      rows: p.rows,
      cols: p.cols,
      cols4: p.cols / 4,
      rank: p.rank,
      rank4: p.rank / 4,
      matrix: p.rows * p.cols,
      matrix4: (p.rows * p.cols) / 4,
      dispatchX,
      ...modeParams(p, mode),
    },
    bindings: [
      { name: 'g', access: 'read', type: 'f32', length: p.experts * p.rows * p.cols, vec4: l.vec4 },
      { name: 'u', access: 'read', type: 'f32', length: p.rows * p.rank, vec4: l.vec4 },
      { name: 'v', access: 'read', type: 'f32', length: p.cols * p.rank, vec4: l.vec4 },
      { name: 'a', access: 'read', type: 'f32', length: p.experts * p.rank * p.cols, vec4: l.vec4 },
      { name: 'b', access: 'read', type: 'f32', length: p.experts * p.rows * p.rank, vec4: l.vec4 },
      ...outBindings(p, mode, l.vec4),
    ],
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

/** gc and gu as the mode keeps them (`add` reads the live buffer too). */
function outBindings(p: SdSplitParams, mode: SdSplitOutMode, vec4: boolean): KernelProgram['bindings'] {
  const access = (x: 'write' | 'add'): 'write' | 'readwrite' => (x === 'add' ? 'readwrite' : 'write');
  return [
    ...(mode.common === 'none' ? [] : [{ name: 'gc', access: access(mode.common), type: 'f32' as const, length: p.rows * p.cols, vec4 }]),
    ...(mode.unique === 'none' ? [] : [{ name: 'gu', access: access(mode.unique), type: 'f32' as const, length: p.experts * p.rows * p.cols, vec4 }]),
  ];
}

function modeParams(p: SdSplitParams, mode: SdSplitOutMode) {
  return {
    experts: p.experts,
    commonScale: f32Literal(p.aggregate === 'mean' ? 1 / p.experts : 1),
    hasCommon: mode.common !== 'none',
    commonAdd: mode.common === 'add',
    hasUnique: mode.unique !== 'none',
    uniqueAdd: mode.unique === 'add',
  };
}

/** At least this many workgroups for out's rows variant (split over columns when the rows give fewer): lavapipe runs one per thread. */
const MIN_WORKGROUPS = 4;

function sdSplitOutRowsProgram(p: SdSplitParams, mode: SdSplitOutMode, tile: { tileRows: number; wg: number } = ROW_TILE.out): KernelProgram {
  const t = rowTile(p, tile);
  const cols4 = p.cols / 4;
  const colChunk4 = ceilDiv(cols4, Math.min(cols4, ceilDiv(MIN_WORKGROUPS, t.rowGroups)));
  const colGroups = ceilDiv(cols4, colChunk4);
  return {
    template: 'sd-split-out-rows',
    label: `sd_split_out_${shape(p)}_${p.aggregate}${modeLabel(mode)}_rows`,
    params: { ...t.params, ...modeParams(p, mode), colChunk4, colGroups },
    bindings: [
      { name: 'g', access: 'read', type: 'f32', length: p.experts * p.rows * p.cols, vec4: true },
      { name: 'u', access: 'uniform', type: 'f32', length: p.rows * p.rank },
      { name: 'v', access: 'uniform', type: 'f32', length: p.cols * p.rank },
      { name: 'a', access: 'uniform', type: 'f32', length: p.experts * p.rank * p.cols },
      { name: 'b', access: 'uniform', type: 'f32', length: p.experts * p.rows * p.rank },
      ...outBindings(p, mode, true),
    ],
    workgroupSize: [t.wg, 1, 1],
    dispatch: [t.rowGroups, colGroups, 1],
    features: [],
  };
}

/**
 * The gradient split in two dispatches instead of three (CPU adapters, SPLIT_MODE only): B = (G − U A) V
 * = P − U C with P = G V and C = A V = Uᵀ P (r×r), so P needs no A and shares a dispatch with A (sd_split_ap, whose
 * P workgroups also sum their rows' part of C), and out forms B itself (sd_split_out_pc). When the rows variant applies (cpuAdapter, cols and rank multiples of 4,
 * uniform operands within 64 KiB), the lanes' parts of C fit workgroup memory, C's row-group parts a uniform binding, and an invocation's B (E × tile vec4) a private array
 * of at most PAIR_MAX_PRIVATE vec4. GPUs keep the three kernels (scalar or vec4); `project update` is unaffected.
 */
export function sdSplitPair(p: SdSplitParams, caps?: SdSplitCaps): boolean {
  if (sdSplitVariant(p, caps) !== 'rows') return false;
  const [t, tb] = [rowTile(p, PAIR_TILE.out), rowTile(p, PAIR_TILE.ap)];
  return tb.wg * p.rank * p.rank * 4 <= WORKGROUP_BYTES && p.experts * tb.rowGroups * p.rank * p.rank * 4 <= UNIFORM_BYTES && p.experts * t.params.tile <= PAIR_MAX_PRIVATE;
}

/**
 * The private B array of sd_split_out_pc, in vec4 (its expert loops are unrolled: LLVM's compile time on lavapipe, paid at
 * the first dispatch, was 0.8–1.3 s at E·tile = 32–64 and 1.8 s at 128; beyond the cap the three kernels).
 */
const PAIR_MAX_PRIVATE = 64;

function checkPair(p: SdSplitParams): void {
  check(p);
  if (!sdSplitPair(p, { cpuAdapter: true })) throw new Error(`sd_split pair: needs cols and rank multiples of 4, uniform operands within ${UNIFORM_BYTES} bytes, lanes·r²·4 ≤ ${WORKGROUP_BYTES}, C's parts within ${UNIFORM_BYTES} bytes and E·tile ≤ ${PAIR_MAX_PRIVATE} (${shape(p)})`);
}

/** Floats of sd_split_ap's cpart output (C(e)'s row-group parts, [E, row groups, r, r]): the lowering's temporary. */
export function sdSplitCpartLength(p: SdSplitParams): number {
  return p.experts * rowTile(p, PAIR_TILE.ap).rowGroups * p.rank * p.rank;
}

/**
 * A batch of the pair's splits (the planner's split batches, compiler/codegen/batches.ts): `count` matrices of one shape,
 * each kernel one dispatch for all of them. G, A, P and C's parts are the members' back to back ([count·E, …]); U and V
 * (uAt, vAt) and the results (gcAt, guAt) sit at each member's offset, in f32 elements (multiples of 4) of their bound
 * buffers: the basis buffers and the gradient slab(s). `sharedOut`: Gc and Gu are slots of one buffer, bound once as
 * `gu` (a buffer may not be bound writable twice over overlapping ranges). One member at offset 0 is the plain pair.
 */
export interface SdSplitBatch {
  readonly count: number;
  readonly uAt: readonly number[];
  readonly vAt: readonly number[];
  readonly gcAt: readonly number[];
  readonly guAt: readonly number[];
  readonly sharedOut: boolean;
}

export const SPLIT_SINGLE: SdSplitBatch = { count: 1, uAt: [0], vAt: [0], gcAt: [0], guAt: [0], sharedOut: false };

/**
 * Whether `count` matrices of shape p fit one batch of the pair: the pair takes the shape, every uniform operand of the
 * batch (the U and V bindings of `basisBytes` each, A, P, C's parts) fits one binding, the workgroups one dispatch dimension,
 * and with broadcast loads a subgroup never spans two matrices in A's job (E·cols/4 a multiple of the lanes).
 */
export function sdSplitBatchFits(p: SdSplitParams, count: number, basisBytes: { u: number; v: number }, caps?: SdSplitCaps): boolean {
  if (!sdSplitPair(p, caps)) return false;
  const { experts: E, rows: K, cols: N, rank: r } = p;
  const t = rowTile(p, PAIR_TILE.ap);
  const lanes = sdSplitBroadcastLanes(caps);
  const groups = ceilDiv((count * E * N) / 4, t.wg) + t.rowGroups * count * E;
  return (
    [basisBytes.u, basisBytes.v, count * E * r * N * 4, count * E * K * r * 4, count * sdSplitCpartLength(p) * 4].every((b) => b <= UNIFORM_BYTES) &&
    groups <= 65535 &&
    (count === 1 || lanes === undefined || ((E * N) / 4) % lanes === 0)
  );
}

function checkBatch(p: SdSplitParams, b: SdSplitBatch, caps?: SdSplitCaps): void {
  const tables = [b.uAt, b.vAt, b.gcAt, b.guAt];
  if (!Number.isInteger(b.count) || b.count < 1 || tables.some((t) => t.length !== b.count)) throw new InternalError(`sd_split batch: ${b.count} members need one offset each in every table`);
  if (tables.some((t) => t.some((o) => !Number.isInteger(o) || o < 0 || o % 4 !== 0))) throw new InternalError('sd_split batch: offsets must be whole vec4s');
  const end = (t: readonly number[], size: number) => t.map((o) => [o, o + size] as const);
  const outs = b.sharedOut ? [...end(b.gcAt, p.rows * p.cols), ...end(b.guAt, p.experts * p.rows * p.cols)] : [];
  const spans = [outs, b.sharedOut ? [] : end(b.gcAt, p.rows * p.cols), b.sharedOut ? [] : end(b.guAt, p.experts * p.rows * p.cols)];
  for (const list of spans) {
    const sorted = [...list].sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < sorted.length; i++) if (sorted[i][0] < sorted[i - 1][1]) throw new InternalError('sd_split batch: results overlap');
  }
  const basis = { u: endOf(b.uAt, p.rows * p.rank) * 4, v: endOf(b.vAt, p.cols * p.rank) * 4 };
  if (b.count > 1 && !sdSplitBatchFits(p, b.count, basis, caps)) throw new InternalError(`sd_split batch: ${b.count} matrices of ${shape(p)} do not fit one dispatch`);
}

/** The batch's template params (offset tables in vec4s) and label suffix. */
function batchParams(b: SdSplitBatch) {
  const table = (t: readonly number[]) => t.map((o) => `${o / 4}u`).join(', ');
  return { count: b.count, uAt: table(b.uAt), vAt: table(b.vAt), gcAt: table(b.gcAt), guAt: table(b.guAt), gcArray: b.sharedOut ? 'gu' : 'gc' };
}

const batchLabel = (b: SdSplitBatch): string => (b === SPLIT_SINGLE ? '' : `_b${b.count}`);
const endOf = (t: readonly number[], size: number): number => Math.max(...t) + size;

/**
 * Lanes the pair spreads its shared operands over, or undefined: the adapter's smallest subgroup
 * (a subgroup is at least that wide, so every lane a broadcast reads from exists) when it has
 * subgroups of 4 or more. On lavapipe an operand every lane needs alike (V's rows, A's column quad,
 * U's rows in A's job) is an 8-lane gather per component even from a uniform buffer, unless its
 * address is a constant; one load per lane and `subgroupBroadcast` with constant lanes replaces
 * `lanes` such gathers. `npm run bench -- row-variants` (30 interleaved rounds, load ≈ 1), broadcast ÷
 * per-lane: sd_split_ap 0.79 / 0.79 / 0.73, sd_split_out_pc 0.78 / 0.79 / 0.77, sd_project_fused 0.60 / 0.58 / 0.55
 * at 4×64×128 / 4×128×64 / 8×128×128 (rank 8).
 */
export function sdSplitBroadcastLanes(caps?: SdSplitCaps): number | undefined {
  return caps?.subgroups === true && caps.subgroupMinSize !== undefined && caps.subgroupMinSize >= 4 ? caps.subgroupMinSize : undefined;
}


/** A column quad's rank vec4s (A's, V's rows) spread over the lanes (laneSpread), as the templates name them. */
function rankSpread(rank: number, lanes: number) {
  const { slots, picks } = laneSpread(rank, lanes);
  return { vLoads: slots, vPicks: picks };
}

/** The broadcast params of the pair's templates (`broadcast` false: per-lane loads, the kernels as they were). */
function broadcastParams(p: SdSplitParams, lanes: number | undefined) {
  if (lanes === undefined) return { broadcast: false };
  const rank4 = p.rank / 4;
  // A's job: one load of `lanes` vec4s holds U's rows aRows·kg .. aRows·kg + aRows − 1 when whole rows fit the lanes.
  const aRows = lanes % rank4 === 0 ? lanes / rank4 : 0;
  const aBroadcast = aRows > 0 && p.rows % aRows === 0;
  const aSteps = Array.from({ length: aBroadcast ? aRows : 0 }, (_, kk) => ({
    kk,
    quads: Array.from({ length: rank4 }, (_, q) => ({ q, lane: kk * rank4 + q, a0: 4 * q, a1: 4 * q + 1, a2: 4 * q + 2, a3: 4 * q + 3 })),
  }));
  return { broadcast: true, lanes, lanesLast: lanes - 1, rankLast: p.rank - 1, ...rankSpread(p.rank, lanes), aBroadcast, aRows, aRowsLast: aRows - 1, aGroupsK: aBroadcast ? p.rows / aRows : 0, aSteps };
}

/** sd_split_ap: A = Uᵀ G(e) in the first workgroups (as sd_split_a's vec4 kernel), P = G(e) V in the rest (as sd_split_b's rows kernel without the U A term). */
export function sdSplitApProgram(p: SdSplitParams, caps?: SdSplitCaps, batch: SdSplitBatch = SPLIT_SINGLE): KernelProgram {
  checkPair(p);
  checkBatch(p, batch, caps);
  const t = rowTile(p, PAIR_TILE.ap);
  const n = batch.count;
  const aThreads = (n * p.experts * p.cols) / 4;
  const aGroups = ceilDiv(aThreads, t.wg);
  const groups = aGroups + t.rowGroups * n * p.experts;
  if (groups > 65535) throw new InternalError(`sd_split_ap: ${groups} workgroups exceed one dispatch dimension`);
  const lanes = sdSplitBroadcastLanes(caps);
  return {
    template: 'sd-split-ap',
    label: `sd_split_ap_${shape(p)}${batchLabel(batch)}${lanes ? `_sg${lanes}` : ''}`,
    params: { ...t.params, experts: p.experts, aThreads, aGroups, groups, cQuads: (p.rank * p.rank) / 4, credQuads: (t.wg * p.rank * p.rank) / 4, ...broadcastParams(p, lanes), ...batchParams(batch) },
    bindings: [
      { name: 'g', access: 'read', type: 'f32', length: n * p.experts * p.rows * p.cols, vec4: true },
      { name: 'u', access: 'uniform', type: 'f32', length: endOf(batch.uAt, p.rows * p.rank) },
      { name: 'v', access: 'uniform', type: 'f32', length: endOf(batch.vAt, p.cols * p.rank) },
      { name: 'a', access: 'write', type: 'f32', length: n * p.experts * p.rank * p.cols, vec4: true },
      { name: 'p', access: 'write', type: 'f32', length: n * p.experts * p.rows * p.rank, vec4: true },
      { name: 'cpart', access: 'write', type: 'f32', length: n * sdSplitCpartLength(p), vec4: true },
    ],
    workgroupSize: [t.wg, 1, 1],
    dispatch: [groups, 1, 1],
    features: lanes ? ['subgroups'] : [],
  };
}

/** sd_split_out_pc: Gu and Gc (written) from G, A and P, forming C = A V and B = P − U C itself. */
export function sdSplitOutPcProgram(p: SdSplitParams, caps?: SdSplitCaps, batch: SdSplitBatch = SPLIT_SINGLE): KernelProgram {
  checkPair(p);
  checkBatch(p, batch, caps);
  const base = sdSplitOutRowsProgram(p, SPLIT_MODE, PAIR_TILE.out);
  const t = rowTile(p, PAIR_TILE.out);
  const cGroups = rowTile(p, PAIR_TILE.ap).rowGroups; // sd_split_ap's row groups, one part of C each
  const lanes = sdSplitBroadcastLanes(caps);
  const n = batch.count;
  const [gcLength, guLength] = [endOf(batch.gcAt, p.rows * p.cols), endOf(batch.guAt, p.experts * p.rows * p.cols)];
  // the members' operands back to back, U and V and the results at their offsets
  const sized = (b: KernelProgram['bindings'][number]): KernelProgram['bindings'] => {
    switch (b.name) {
      case 'g':
      case 'a':
        return [{ ...b, length: n * b.length }];
      case 'b':
        return [{ ...b, name: 'p', length: n * b.length }, { name: 'cpart', access: 'uniform', type: 'f32', length: n * sdSplitCpartLength(p) }];
      case 'u':
        return [{ ...b, length: endOf(batch.uAt, p.rows * p.rank) }];
      case 'v':
        return [{ ...b, length: endOf(batch.vAt, p.cols * p.rank) }];
      case 'gc':
        return batch.sharedOut ? [] : [{ ...b, length: gcLength }];
      case 'gu':
        return [{ ...b, length: batch.sharedOut ? Math.max(gcLength, guLength) : guLength }];
      default:
        throw new InternalError(`sd_split_out_pc: unexpected binding ${b.name}`);
    }
  };
  return {
    ...base,
    template: 'sd-split-out-pc',
    label: `sd_split_out_pc_${shape(p)}_${p.aggregate}${batchLabel(batch)}${lanes ? `_sg${lanes}` : ''}`,
    params: { ...base.params, bTile: p.experts * t.params.tile, cGroups, cQuads: (p.rank * p.rank) / 4, ...broadcastParams(p, lanes), ...batchParams(batch) },
    features: lanes ? ['subgroups'] : [],
    bindings: base.bindings.flatMap(sized),
    dispatch: [base.dispatch[0], base.dispatch[1], n],
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

export function sdSplitBCase(p: SdSplitParams, variant?: SdSplitVariant): KernelCase {
  return { program: sdSplitBProgram(p, variant), oracle: sdSplitBOracle(p), tolerance: tolerance(p.cols * p.rank) };
}

export function sdSplitOutCase(p: SdSplitParams, variant?: SdSplitVariant, mode: SdSplitOutMode = SPLIT_MODE): KernelCase {
  return { program: sdSplitOutProgram(p, variant, mode), oracle: sdSplitOutOracle(p, mode), tolerance: tolerance(2 * p.rank * p.experts) };
}

export function sdSplitApOracle(p: SdSplitParams) {
  return (inputs: Inputs): Record<string, Float32Array> => {
    const { experts: E, rows: K, cols: N, rank: r } = p;
    const { g, u, v } = inputs;
    const { rowGroups: groups, params: { rowsPerGroup } } = rowTile(p, PAIR_TILE.ap);
    const out = new Float32Array(E * K * r);
    const cpart = new Float64Array(E * groups * r * r);
    for (let e = 0; e < E; e++) {
      for (let k = 0; k < K; k++) {
        const acc = new Float64Array(r);
        for (let n = 0; n < N; n++) for (let j = 0; j < r; j++) acc[j] += g[(e * K + k) * N + n] * v[n * r + j];
        out.set(acc, (e * K + k) * r);
        // this row's part of C(e) = Uᵀ P(e), in its row group's slot
        const at = (e * groups + Math.floor(k / rowsPerGroup)) * r * r;
        for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) cpart[at + i * r + j] += u[k * r + i] * acc[j];
      }
    }
    return { ...sdSplitAOracle(p)(inputs), p: out, cpart: Float32Array.from(cpart) };
  };
}

/** B = P − U C, C(e) = Σ of its row-group parts cpart[e, ·], in float64 from arbitrary a, p and cpart, then Gu and Gc exactly as sd_split_out defines them. */
export function sdSplitOutPcOracle(p: SdSplitParams) {
  return (inputs: Inputs): Record<string, Float32Array> => {
    const { experts: E, rows: K, rank: r } = p;
    const { u, p: pm, cpart } = inputs;
    const groups = rowTile(p, PAIR_TILE.ap).rowGroups;
    const b = new Float64Array(E * K * r);
    for (let e = 0; e < E; e++) {
      const c = new Float64Array(r * r);
      for (let rg = 0; rg < groups; rg++) for (let m = 0; m < r * r; m++) c[m] += cpart[(e * groups + rg) * r * r + m];
      for (let k = 0; k < K; k++) {
        for (let j = 0; j < r; j++) {
          let s = pm[(e * K + k) * r + j];
          for (let i = 0; i < r; i++) s -= u[k * r + i] * c[i * r + j];
          b[(e * K + k) * r + j] = s;
        }
      }
    }
    return sdSplitOutOracle(p)({ ...inputs, b });
  };
}

/** A batch's oracle from a member's: each member's slices of the back-to-back operands and its U, V; results placed at its offsets. */
function batchOracle(
  p: SdSplitParams,
  b: SdSplitBatch,
  one: (inputs: Inputs) => Record<string, Float32Array>,
  stacked: Readonly<Record<string, number>>,
  program: KernelProgram,
): (inputs: Inputs) => Record<string, Float32Array> {
  if (b === SPLIT_SINGLE) return one;
  return (inputs: Inputs): Record<string, Float32Array> => {
    const out: Record<string, Float32Array> = {};
    for (const binding of program.bindings) if (binding.access === 'write') out[binding.name] = new Float32Array(binding.length);
    const slice = (a: ArrayLike<number>, from: number, size: number) => Float32Array.from({ length: size }, (_, i) => a[from + i]);
    for (let j = 0; j < b.count; j++) {
      const mine: Record<string, ArrayLike<number>> = {};
      for (const [name, size] of Object.entries(stacked)) if (inputs[name]) mine[name] = slice(inputs[name], j * size, size);
      mine.u = slice(inputs.u, b.uAt[j], p.rows * p.rank);
      mine.v = slice(inputs.v, b.vAt[j], p.cols * p.rank);
      for (const [name, values] of Object.entries(one(mine))) {
        if (name === 'gc') out[b.sharedOut ? 'gu' : 'gc'].set(values, b.gcAt[j]);
        else if (name === 'gu') out.gu.set(values, b.guAt[j]);
        else out[name].set(values, j * values.length);
      }
    }
    return out;
  };
}

/** Floats of one member in each back-to-back operand of the pair. */
function stackedSizes(p: SdSplitParams): Record<string, number> {
  const { experts: E, rows: K, cols: N, rank: r } = p;
  return { g: E * K * N, a: E * r * N, p: E * K * r, cpart: sdSplitCpartLength(p) };
}

export function sdSplitApCase(p: SdSplitParams, caps?: SdSplitCaps, batch: SdSplitBatch = SPLIT_SINGLE): KernelCase {
  const program = sdSplitApProgram(p, caps, batch);
  return { program, oracle: batchOracle(p, batch, sdSplitApOracle(p), stackedSizes(p), program), tolerance: tolerance(p.rows * p.cols) };
}

export function sdSplitOutPcCase(p: SdSplitParams, caps?: SdSplitCaps, batch: SdSplitBatch = SPLIT_SINGLE): KernelCase {
  const program = sdSplitOutPcProgram(p, caps, batch);
  // B's r·(row groups) terms of U C, then 2r·E terms per result
  return { program, oracle: batchOracle(p, batch, sdSplitOutPcOracle(p), stackedSizes(p), program), tolerance: tolerance(p.rank * p.rank * p.experts * rowTile(p, PAIR_TILE.ap).rowGroups) };
}

/** Rows per invocation in the fused kernel's phase 2 (unrolled: more costs LLVM compile time, fewer reload A and v more often). */
const FUSED_TILE_ROWS = 4;

/**
 * `project update` in one dispatch (sdProjectFusedProgram) on a CPU adapter, when cols and rank are
 * multiples of 4, A fits workgroup memory and U, V one uniform binding each; otherwise (and on GPUs,
 * where E + 1 workgroups would leave the device idle) the split's three kernels twice.
 */
export function sdProjectFused(p: SdSplitParams, caps?: SdSplitCaps): boolean {
  const { rows: K, cols: N, rank: r } = p;
  return caps?.cpuAdapter === true && quads(p) && r * N * 4 <= WORKGROUP_BYTES && [K * r, N * r].every((n) => n * 4 <= UNIFORM_BYTES);
}

/**
 * `project update` in one dispatch (templates/sd-project-fused.wgsl.hbs): workgroup 0 adds Δ_c's
 * common part to W_c (W_c += Δ_c − D(Δ_c)), workgroup 1 + e Δ_u(e)'s unique part to W_u(e)
 * (W_u(e) += D(Δ_u(e))). Only for CPU adapters (sdProjectFused). p.aggregate is not used.
 */
export function sdProjectFusedProgram(p: SdSplitParams, caps?: SdSplitCaps): KernelProgram {
  check(p);
  if (!sdProjectFused(p, { cpuAdapter: true })) {
    throw new Error(`sd_project_fused: needs cols and rank multiples of 4, rank·cols·4 ≤ ${WORKGROUP_BYTES} and U, V within ${UNIFORM_BYTES} bytes each (cols ${p.cols}, rank ${p.rank})`);
  }
  const { experts: E, rows: K, cols: N, rank: r } = p;
  const cols4 = N / 4;
  // Enough lanes (whole SIMD-8 chunks, at most 64) that FUSED_TILE_ROWS rows each cover the matrix.
  const wg = rowLanes(K, FUSED_TILE_ROWS, 64);
  const tileRows = ceilDiv(K, wg);
  const vec = (name: string, access: 'read' | 'readwrite', length: number) => ({ name, access, type: 'f32' as const, length, vec4: true });
  const uniform = (name: string, length: number) => ({ name, access: 'uniform' as const, type: 'f32' as const, length });
  const lanes = sdSplitBroadcastLanes(caps);
  return {
    template: 'sd-project-fused',
    label: `sd_project_fused_${shape(p)}${lanes ? `_sg${lanes}` : ''}`,
    params: {
      groups: E + 1,
      experts: E,
      rows: K,
      lastRow: K - 1,
      cols: N,
      cols4,
      lastCol4: cols4 - 1,
      rank: r,
      rank4: r / 4,
      matrix4: (K * N) / 4,
      aLength: r * cols4,
      colSteps: ceilDiv(cols4, wg),
      tileRows,
      tile: tileRows * (r / 4),
      ...broadcastParams(p, lanes),
    },
    bindings: [vec('dc', 'read', K * N), vec('du', 'read', E * K * N), uniform('u', K * r), uniform('v', N * r), vec('wc', 'readwrite', K * N), vec('wu', 'readwrite', E * K * N)],
    workgroupSize: [wg, 1, 1],
    dispatch: [E + 1, 1, 1],
    features: lanes ? ['subgroups'] : [],
  };
}

/** U A + B Vᵀ of the K×N matrix at m[offset ..] in float64, A and B as the split defines them: its component in the common space. */
function commonPart(p: SdSplitParams, m: ArrayLike<number>, offset: number, u: ArrayLike<number>, v: ArrayLike<number>): Float64Array {
  const { rows: K, cols: N, rank: r } = p;
  const a = new Float64Array(r * N);
  for (let k = 0; k < K; k++) for (let j = 0; j < r; j++) for (let n = 0; n < N; n++) a[j * N + n] += u[k * r + j] * m[offset + k * N + n];
  const part = new Float64Array(K * N);
  for (let k = 0; k < K; k++) {
    const b = new Float64Array(r);
    for (let n = 0; n < N; n++) {
      let ua = 0;
      for (let i = 0; i < r; i++) ua += u[k * r + i] * a[i * N + n];
      part[k * N + n] = ua;
      const res = m[offset + k * N + n] - ua;
      for (let j = 0; j < r; j++) b[j] += res * v[n * r + j];
    }
    for (let n = 0; n < N; n++) for (let j = 0; j < r; j++) part[k * N + n] += b[j] * v[n * r + j];
  }
  return part;
}

/** W_c + (Δ_c's common part), W_u(e) + Δ_u(e) − (its common part), in float64 from the definitions. */
export function sdProjectFusedOracle(p: SdSplitParams) {
  return ({ dc, du, u, v, wc, wu }: Inputs): Record<string, Float32Array> => {
    const KN = p.rows * p.cols;
    const pc = commonPart(p, dc, 0, u, v);
    const parts = Array.from({ length: p.experts }, (_, e) => commonPart(p, du, e * KN, u, v));
    return {
      wc: Float32Array.from({ length: KN }, (_, i) => wc[i] + pc[i]),
      wu: Float32Array.from({ length: p.experts * KN }, (_, i) => wu[i] + (du[i] - parts[Math.floor(i / KN)][i % KN])),
    };
  };
}

export function sdProjectFusedCase(p: SdSplitParams, caps?: SdSplitCaps): KernelCase {
  // part: K products (A), then N·r residual products (B) and 2r terms: the f32 error grows like √ of their product.
  return { program: sdProjectFusedProgram(p, caps), oracle: sdProjectFusedOracle(p), tolerance: tolerance(p.rows * p.cols * p.rank) };
}
