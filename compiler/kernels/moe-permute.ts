// Dropless (or capacity-limited) MoE token permutation, entirely on the device, in work that grows
// with the routed rows N = T·k and not with E·N: topk_idx [T, k] → expert-sorted rows in three
// dispatches, then a gather kernel (or the grouped GEMM's fused gather) copies the token rows.
// Nothing is read back to the CPU; later kernels size their dispatch for the worst case (N rows)
// and stop at the device-side counts.
//   count    N/S blocks of S consecutive assignments, one invocation each: the block's histogram
//            into column b of block_counts [E, B] (expert-major), S + E work per block;
//   scan     one workgroup: per expert, exclusive prefix over its blocks (in place: block_counts
//            becomes each block's first rank within the expert), the kept count min(n_e, C) and
//            the exclusive prefix of kept counts over experts (offsets [E+1]);
//   scatter  one invocation per block walks its assignments in order, takes the next rank of the
//            expert from its column (in place), and writes perm_row / src_token / src_slot.
// S is max(64, E) so the E·B intermediate stays about the size of N; total work O(N + E).
//
// Invariants:
// - Stable: within an expert, rows follow the assignment order a = t·k + j (blocks are ordered
//   runs of a, ranks are prefix sums over blocks, and one invocation walks its block in order).
//   Integer counting only, so the result is exact and independent of scheduling.
// - Capacity C (optional): an expert keeps its first C assignments in (t, j) order; the rest get
//   perm_row = -1 and are simply absent from the combine. counts/offsets describe kept rows only.
// - Rows past the kept total (up to the worst case N) get src_token = src_slot = -1 so every
//   row-indexed consumer can tell padding from data without knowing the total; block b pads the
//   rows [b·S, (b+1)·S) past the total.
// - Expert ids outside [0, E) are treated as dropped (perm_row = -1).
//
// One SwiGLU MoE layer with these kernels (router GEMM and SwiGLU elementwise are other families):
//   forward  router · permute (3) · grouped gate‖up (gather fused) · [swiglu] · grouped down
//            · combine · aux-loss                                               = 8 (+1 swiglu)
//   backward combine-bwd · grouped dX down · dW down · [swiglu-bwd] · grouped dX gate‖up
//            · dW gate‖up (gather fused) · combine-sum (un-permute dX) · router-bwd = 7 (+1)
// The moe gather kernel is only needed when a consumer wants xs materialised.
//
// Permutation variants (moePermuteVariant, from the adapter and the size): CPU adapters (lavapipe,
// SwiftShader) with at most SERIAL_PERMUTE_MAX_ASSIGNMENTS assignments run the whole permutation
// in one single-invocation dispatch (moe_permute_serial: count, prefix, stable placement and
// padding, O(N + E) on one thread; same outputs, exactly). There three dispatches and the scan's
// barriers cost more than the work: at 512 tokens top-2 the serial kernel took ~60 µs against
// ~165 µs for the three stages, while at 4096 tokens top-8 it took ~1.3 ms against ~0.45 ms.
// GPUs, and larger routings, use count, scan and scatter.
//
// Gather variants (chosen from the adapter by moeGatherVariant, never by a flag): `rows` (CPU
// adapters: lavapipe, SwiftShader) gives each invocation a whole row, copied in vec4 units when the
// width allows (a workgroup there is a serial loop over SIMD-8 chunks, so fewer, fatter
// invocations win); `parallel` (GPUs) one invocation per element.
import type { RowKernelCaps } from '../../base/caps.ts';
import { InternalError } from '../../base/errors.ts';
import { Rng } from '../../base/rng.ts';
import { auxLossOracle } from './aux-loss.ts';
import { ceilDiv, f32Literal, rowUnits, spreadWorkgroups, type KernelCase, type KernelProgram } from './types.ts';
import { MOE_MAX_EXPERTS } from './router.ts';

export const PERMUTE_MAX_EXPERTS = MOE_MAX_EXPERTS;

export interface MoePermuteParams {
  readonly tokens: number;
  readonly experts: number;
  readonly topK: number;
  /** Capacity factor: each expert keeps at most ceil(factor · T·k / E) rows. Absent = dropless. */
  readonly capacityFactor?: number;
}

export interface MoeGatherParams {
  readonly tokens: number;
  readonly topK: number;
  /** Row width D of x [T, D]. */
  readonly dim: number;
}

/** Largest routing (T·k assignments) a CPU adapter permutes in one serial invocation (see header;
 *  measured break-even on lavapipe about 5000). */
export const SERIAL_PERMUTE_MAX_ASSIGNMENTS = 4096;

export type MoePermuteVariant = 'serial' | 'blocks';

export function moePermuteVariant(p: MoePermuteParams, caps: RowKernelCaps): MoePermuteVariant {
  return caps.cpuAdapter && p.tokens * p.topK <= SERIAL_PERMUTE_MAX_ASSIGNMENTS ? 'serial' : 'blocks';
}

/** Invocations per workgroup of the per-block kernels. */
const BLOCK_WORKGROUP = 64;
const SCAN_WORKGROUP = 256;
const GATHER_WORKGROUP = 256;
/** Rows per workgroup of the gather's `rows` variant. */
const GATHER_ROWS_WORKGROUP = 64;

export type MoeGatherVariant = 'rows' | 'parallel';

export function moeGatherVariant(caps: RowKernelCaps): MoeGatherVariant {
  return caps.cpuAdapter ? 'rows' : 'parallel';
}

/** Rows an expert may keep: T·k when dropless. */
export function expertCapacity(p: MoePermuteParams): number {
  const assignments = p.tokens * p.topK;
  if (p.capacityFactor === undefined) return assignments;
  if (!(p.capacityFactor > 0)) throw new InternalError(`moe permute: capacity factor must be positive, got ${p.capacityFactor}`);
  return Math.min(assignments, Math.ceil((p.capacityFactor * assignments) / p.experts));
}

/** Block size S and block count B of the counting layout (see header). */
export function permuteBlocks(p: MoePermuteParams): { size: number; blocks: number } {
  const size = Math.max(64, p.experts);
  return { size, blocks: ceilDiv(p.tokens * p.topK, size) };
}

function validate(p: MoePermuteParams): void {
  if (p.experts < 1 || p.experts > PERMUTE_MAX_EXPERTS) throw new InternalError(`moe permute: ${p.experts} experts; supported 1..${PERMUTE_MAX_EXPERTS}`);
  if (p.tokens < 1 || p.topK < 1) throw new InternalError('moe permute: needs at least one token and top-k ≥ 1');
}

function tag(p: MoePermuteParams): string {
  return `${p.tokens}x${p.topK}_e${p.experts}${p.capacityFactor === undefined ? '' : `_cap${expertCapacity(p)}`}`;
}

function blockParams(p: MoePermuteParams) {
  const { size, blocks } = permuteBlocks(p);
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(blocks, BLOCK_WORKGROUP));
  return { dispatch, params: { experts: p.experts, topK: p.topK, assignments: p.tokens * p.topK, capacity: expertCapacity(p), blockSize: size, blocks, dispatchX } };
}

export function moePermuteCountProgram(p: MoePermuteParams): KernelProgram {
  validate(p);
  const n = p.tokens * p.topK;
  const { dispatch, params } = blockParams(p);
  return {
    template: 'moe_permute_count',
    label: `moe_permute_count_${tag(p)}`,
    params,
    bindings: [
      { name: 'topk_idx', access: 'read', type: 'i32', length: n, fill: { kind: 'int', lo: -1, hi: p.experts + 1 } },
      { name: 'block_counts', access: 'write', type: 'u32', length: p.experts * params.blocks },
    ],
    workgroupSize: [BLOCK_WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

export function moePermuteScanProgram(p: MoePermuteParams): KernelProgram {
  validate(p);
  const { size, blocks } = permuteBlocks(p);
  const expertsPerLane = ceilDiv(p.experts, SCAN_WORKGROUP);
  return {
    template: 'moe_permute_scan',
    label: `moe_permute_scan_${tag(p)}`,
    params: { experts: p.experts, blocks, capacity: expertCapacity(p), expertsPerLane },
    bindings: [
      { name: 'block_counts', access: 'readwrite', type: 'u32', length: p.experts * blocks, fill: { kind: 'int', lo: 0, hi: Math.max(2, Math.ceil((2 * size) / p.experts)) } },
      { name: 'counts', access: 'write', type: 'u32', length: p.experts },
      { name: 'offsets', access: 'write', type: 'u32', length: p.experts + 1 },
    ],
    workgroupSize: [SCAN_WORKGROUP, 1, 1],
    dispatch: [1, 1, 1],
    features: [],
  };
}

export function moePermuteScatterProgram(p: MoePermuteParams): KernelProgram {
  validate(p);
  const n = p.tokens * p.topK;
  const { dispatch, params } = blockParams(p);
  return {
    template: 'moe_permute_scatter',
    label: `moe_permute_scatter_${tag(p)}`,
    params,
    bindings: [
      { name: 'topk_idx', access: 'read', type: 'i32', length: n },
      { name: 'block_counts', access: 'readwrite', type: 'u32', length: p.experts * params.blocks },
      { name: 'offsets', access: 'read', type: 'u32', length: p.experts + 1 },
      { name: 'perm_row', access: 'write', type: 'i32', length: n },
      { name: 'src_token', access: 'write', type: 'i32', length: n },
      { name: 'src_slot', access: 'write', type: 'i32', length: n },
    ],
    workgroupSize: [BLOCK_WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

/**
 * The load-balance aux loss a serial permutation computes as well (fuse-aux-loss-dispatch): from the
 * histogram of its counting pass and probs [T, E], loss_total [1] and d_x [T, E] = d_loss · dL/dprobs,
 * as aux_loss (compiler/kernels/aux-loss.ts, plain counts: no accumulate/givenCounts, no z-loss) computes
 * them with `lanes` lanes: the same partial sums in the same order, so the same bits.
 */
export interface PermuteAux {
  /** The load-balance coefficient (aux_loss's coef; the kernel scales it by E as aux_loss does). */
  readonly coef: number;
  /** The aux_loss workgroup width on this adapter (auxLossWorkgroup), whose lanes' sums are replayed. */
  readonly lanes: number;
}

/**
 * The whole permutation in one single-invocation dispatch (templates/moe_permute_serial.wgsl.hbs):
 * what CPU adapters run instead of count, scan and scatter (see moePermuteVariant). `cursor` is an
 * [E] scratch buffer. With `aux`, also the load-balance loss of the routing (PermuteAux).
 */
function moePermuteSerialProgram(p: MoePermuteParams, aux?: PermuteAux): KernelProgram {
  validate(p);
  const n = p.tokens * p.topK;
  const te = p.tokens * p.experts;
  if (aux && !(aux.lanes >= 1 && (aux.lanes & (aux.lanes - 1)) === 0)) throw new InternalError(`moe permute: aux lanes ${aux.lanes} must be a power of two (the tree sum)`);
  // probs and d_x as vec4s of 4 experts where E is a multiple of 4 within the lanes (E = 4, 8): the
  // column sums then run 4 experts per add (each component in the lane's own token order) and d_x is
  // written a vec4 per token and quad, instead of E scalar walks over the tokens.
  const auxVec4 = aux !== undefined && p.experts % 4 === 0 && p.experts <= aux.lanes;
  const parts = aux ? Math.max(1, Math.floor(aux.lanes / p.experts)) : 1;
  const quads = p.experts / 4;
  return {
    template: 'moe_permute_serial',
    label: `moe_permute_serial_${aux ? 'aux_' : ''}${tag(p)}`,
    params: {
      experts: p.experts,
      topK: p.topK,
      assignments: n,
      capacity: expertCapacity(p),
      aux: aux !== undefined,
      ...(aux
        ? {
            tokens: p.tokens,
            auxLanes: aux.lanes,
            auxLanesPerExpert: parts,
            auxWide: p.experts > aux.lanes,
            auxVec4,
            auxQuads: quads,
            // one vec4 accumulator per (part, quad), part-major: as lane part·E + e summed its tokens
            auxAccs: auxVec4 ? Array.from({ length: parts * quads }, (_, i) => ({ i, part: Math.floor(i / quads), quad: i % quads })) : [],
            auxQuadList: auxVec4 ? Array.from({ length: quads }, (_, q) => ({ q, parts: Array.from({ length: parts }, (_, part) => ({ acc: part * quads + q })) })) : [],
            balanceCoef: f32Literal(aux.coef * p.experts),
            invTokens: f32Literal(1 / p.tokens),
          }
        : {}),
    },
    bindings: [
      { name: 'topk_idx', access: 'read', type: 'i32', length: n, fill: { kind: 'int', lo: -1, hi: p.experts + 1 } },
      { name: 'cursor', access: 'write', type: 'u32', length: p.experts },
      { name: 'counts', access: 'write', type: 'u32', length: p.experts },
      { name: 'offsets', access: 'write', type: 'u32', length: p.experts + 1 },
      { name: 'perm_row', access: 'write', type: 'i32', length: n },
      { name: 'src_token', access: 'write', type: 'i32', length: n },
      { name: 'src_slot', access: 'write', type: 'i32', length: n },
      ...(aux
        ? [
            { name: 'probs', access: 'read' as const, type: 'f32' as const, length: te, fill: { kind: 'float' as const, lo: 0, hi: 1 }, ...(auxVec4 ? { vec4: true } : {}) },
            { name: 'd_loss', access: 'read' as const, type: 'f32' as const, length: 1, fill: { kind: 'float' as const, lo: 0.5, hi: 2 } },
            { name: 'loss_total', access: 'write' as const, type: 'f32' as const, length: 1 },
            { name: 'd_x', access: 'write' as const, type: 'f32' as const, length: te, ...(auxVec4 ? { vec4: true } : {}) },
          ]
        : []),
    ],
    workgroupSize: [1, 1, 1],
    dispatch: [1, 1, 1],
    features: [],
  };
}

/** xs[row, :] = x[src_token[row], :], zero rows for padding (src_token < 0). */
export function moeGatherProgram(p: MoeGatherParams, caps: RowKernelCaps, variant: MoeGatherVariant = moeGatherVariant(caps)): KernelProgram {
  const rows = p.tokens * p.topK;
  const n = rows * p.dim;
  const byRow = variant === 'rows';
  const { vec4, dimVec } = byRow ? rowUnits(p.dim) : { vec4: false, dimVec: p.dim };
  const wg = byRow ? GATHER_ROWS_WORKGROUP : GATHER_WORKGROUP;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(byRow ? rows : n, wg));
  return {
    template: byRow ? 'moe_permute_gather_rows' : 'moe_permute_gather',
    label: `moe_gather_${p.tokens}x${p.topK}_d${p.dim}${byRow ? '_rows' : ''}`,
    params: { n, rows, dim: p.dim, vec4, dimVec, dispatchX },
    bindings: [
      { name: 'x', access: 'read', type: 'f32', length: p.tokens * p.dim, vec4 },
      { name: 'src_token', access: 'read', type: 'i32', length: rows, fill: { kind: 'int', lo: -1, hi: p.tokens } },
      { name: 'xs', access: 'write', type: 'f32', length: n, vec4 },
    ],
    workgroupSize: [wg, 1, 1],
    dispatch,
    features: [],
  };
}

type Inputs = Readonly<Record<string, ArrayLike<number>>>;

export function moePermuteOracle(p: MoePermuteParams) {
  return (inputs: Inputs): Record<string, Uint32Array | Int32Array> => {
    const { experts: E } = p;
    const n = p.tokens * p.topK;
    const capacity = expertCapacity(p);
    const assigned = Array.from({ length: E }, () => [] as number[]);
    for (let a = 0; a < n; a++) {
      const e = inputs.topk_idx[a];
      if (e >= 0 && e < E) assigned[e].push(a);
    }
    const counts = new Uint32Array(E);
    const offsets = new Uint32Array(E + 1);
    const permRow = new Int32Array(n).fill(-1);
    const srcToken = new Int32Array(n).fill(-1);
    const srcSlot = new Int32Array(n).fill(-1);
    for (let e = 0; e < E; e++) {
      const kept = assigned[e].slice(0, capacity);
      counts[e] = kept.length;
      offsets[e + 1] = offsets[e] + kept.length;
      kept.forEach((a, r) => {
        const row = offsets[e] + r;
        permRow[a] = row;
        srcToken[row] = Math.floor(a / p.topK);
        srcSlot[row] = a % p.topK;
      });
    }
    return { counts, offsets, perm_row: permRow, src_token: srcToken, src_slot: srcSlot };
  };
}

export function moeGatherOracle(p: MoeGatherParams) {
  return (inputs: Inputs): Record<string, Float32Array> => {
    const rows = p.tokens * p.topK;
    const xs = new Float32Array(rows * p.dim);
    for (let r = 0; r < rows; r++) {
      const t = inputs.src_token[r];
      if (t < 0) continue;
      for (let d = 0; d < p.dim; d++) xs[r * p.dim + d] = inputs.x[t * p.dim + d];
    }
    return { xs };
  };
}

/** Stage oracles, written from the layout's definition (not from the kernels). */
export function moePermuteCountOracle(p: MoePermuteParams) {
  return (inputs: Inputs): Record<string, Uint32Array> => {
    const { size, blocks } = permuteBlocks(p);
    const counts = new Uint32Array(p.experts * blocks);
    for (let a = 0; a < p.tokens * p.topK; a++) {
      const e = inputs.topk_idx[a];
      if (e >= 0 && e < p.experts) counts[e * blocks + Math.floor(a / size)]++;
    }
    return { block_counts: counts };
  };
}

export function moePermuteScanOracle(p: MoePermuteParams) {
  return (inputs: Inputs): Record<string, Uint32Array> => {
    const { blocks } = permuteBlocks(p);
    const capacity = expertCapacity(p);
    const ranks = new Uint32Array(p.experts * blocks);
    const counts = new Uint32Array(p.experts);
    const offsets = new Uint32Array(p.experts + 1);
    for (let e = 0; e < p.experts; e++) {
      let total = 0;
      for (let b = 0; b < blocks; b++) {
        ranks[e * blocks + b] = total;
        total += inputs.block_counts[e * blocks + b];
      }
      counts[e] = Math.min(total, capacity);
      offsets[e + 1] = offsets[e] + counts[e];
    }
    return { block_counts: ranks, counts, offsets };
  };
}

export function moePermuteScatterOracle(p: MoePermuteParams) {
  return (inputs: Inputs): Record<string, Uint32Array | Int32Array> => {
    const { size, blocks } = permuteBlocks(p);
    const n = p.tokens * p.topK;
    const capacity = expertCapacity(p);
    const ranks = Uint32Array.from(inputs.block_counts);
    const permRow = new Int32Array(n).fill(-1);
    const srcToken = new Int32Array(n).fill(-1);
    const srcSlot = new Int32Array(n).fill(-1);
    for (let a = 0; a < n; a++) {
      const e = inputs.topk_idx[a];
      if (e < 0 || e >= p.experts) continue;
      const r = ranks[e * blocks + Math.floor(a / size)]++;
      if (r >= capacity) continue;
      const row = inputs.offsets[e] + r;
      permRow[a] = row;
      srcToken[row] = Math.floor(a / p.topK);
      srcSlot[row] = a % p.topK;
    }
    return { block_counts: ranks, perm_row: permRow, src_token: srcToken, src_slot: srcSlot };
  };
}

/** Random routings (with some invalid ids) run through the stage oracles: consistent inputs for
 *  the scatter kernel, which random block ranks and offsets would make write out of range. */
function scatterInputs(p: MoePermuteParams, seed: number): Record<string, Int32Array | Uint32Array> {
  const rng = new Rng(seed);
  const topkIdx = Int32Array.from({ length: p.tokens * p.topK }, () => rng.nextInt(p.experts + 2) - 1);
  const scanned = moePermuteScanOracle(p)(moePermuteCountOracle(p)({ topk_idx: topkIdx }));
  return { topk_idx: topkIdx, block_counts: scanned.block_counts, offsets: scanned.offsets };
}

const exact = { atol: 0, rtol: 0 };

/** The three dispatches of one permutation, in order, each with its oracle. */
export function moePermuteCases(p: MoePermuteParams): { count: KernelCase; scan: KernelCase; scatter: KernelCase } {
  return {
    count: { program: moePermuteCountProgram(p), oracle: moePermuteCountOracle(p), tolerance: exact },
    scan: { program: moePermuteScanProgram(p), oracle: moePermuteScanOracle(p), tolerance: exact },
    scatter: { program: moePermuteScatterProgram(p), oracle: moePermuteScatterOracle(p), tolerance: exact, makeInputs: (seed) => scatterInputs(p, seed) },
  };
}

export function moePermuteSerialCase(p: MoePermuteParams, aux?: PermuteAux): KernelCase {
  const whole = moePermuteOracle(p);
  if (!aux) return { program: moePermuteSerialProgram(p), oracle: (inputs) => whole(inputs), tolerance: exact };
  // The aux loss's oracle on its plain counts; the integer outputs stay exact under this tolerance.
  const loss = auxLossOracle({ tokens: p.tokens, experts: p.experts, topK: p.topK, balanceCoef: aux.coef, zLossCoef: 0, accumulate: false, total: true, grad: true });
  return {
    program: moePermuteSerialProgram(p, aux),
    oracle: (inputs) => {
      const { loss_total, d_x } = loss(inputs);
      return { ...whole(inputs), loss_total, d_x };
    },
    tolerance: { atol: 1e-6, rtol: 1e-5 },
  };
}

export function moeGatherCase(p: MoeGatherParams, caps: RowKernelCaps, variant?: MoeGatherVariant): KernelCase {
  return { program: moeGatherProgram(p, caps, variant), oracle: moeGatherOracle(p), tolerance: { atol: 0, rtol: 0 } };
}
