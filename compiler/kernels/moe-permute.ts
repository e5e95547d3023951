// Dropless (or capacity-limited) MoE token permutation, entirely on the device: one dispatch of E
// workgroups turns topk_idx [T, k] into expert-sorted rows, and a gather kernel copies the token
// rows into that order. Nothing is read back to the CPU; later kernels size their dispatch for the
// worst case (T·k rows) and stop at the device-side counts.
//
// Invariants:
// - Every workgroup builds the full per-expert histogram itself (integer atomics in workgroup
//   memory, so the result is exact and order-independent) and derives its expert's offset from it:
//   no second dispatch and no global synchronisation. Work is E·T·k, small for E ≤ 1024.
// - Stable: within an expert, rows follow the assignment order a = t·k + j. Each invocation owns a
//   contiguous run of assignments and ranks are an exclusive scan over the runs.
// - Capacity C (optional): an expert keeps its first C assignments in (t, j) order; the rest get
//   perm_row = -1 and are simply absent from the combine. counts/offsets describe kept rows only.
// - Rows past the kept total (up to the worst case T·k) get src_token = src_slot = -1 so every
//   row-indexed consumer can tell padding from data without knowing the total.
// - Expert ids outside [0, E) are treated as dropped (perm_row = -1).
//
// One SwiGLU MoE layer with these kernels (router GEMM and SwiGLU elementwise are other families):
//   forward  router · permute · grouped gate‖up (gather fused) · [swiglu] · grouped down · combine
//            · aux-loss                                                         = 6 (+1 swiglu)
//   backward combine-bwd · grouped dX down · dW down · [swiglu-bwd] · grouped dX gate‖up
//            · dW gate‖up (gather fused) · combine-sum (un-permute dX) · router-bwd = 7 (+1)
// The moe gather kernel is only needed when a consumer wants xs materialised.
import { InternalError, UserError } from '../../base/errors.ts';
import { ceilDiv, spreadWorkgroups, type KernelCase, type KernelProgram } from './types.ts';

export const PERMUTE_MAX_EXPERTS = 1024;

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

const WORKGROUP = 256;
const GATHER_WORKGROUP = 256;

/** Rows an expert may keep: T·k when dropless. */
export function expertCapacity(p: MoePermuteParams): number {
  const assignments = p.tokens * p.topK;
  if (p.capacityFactor === undefined) return assignments;
  if (!(p.capacityFactor > 0)) throw new InternalError(`moe permute: capacity factor must be positive, got ${p.capacityFactor}`);
  return Math.min(assignments, Math.ceil((p.capacityFactor * assignments) / p.experts));
}

export function moePermuteProgram(p: MoePermuteParams): KernelProgram {
  if (p.experts < 1 || p.experts > PERMUTE_MAX_EXPERTS) throw new UserError(`moe permute: ${p.experts} experts; supported 1..${PERMUTE_MAX_EXPERTS}`);
  if (p.tokens < 1 || p.topK < 1) throw new InternalError('moe permute: needs at least one token and top-k ≥ 1');
  const assignments = p.tokens * p.topK;
  const capacity = expertCapacity(p);
  return {
    template: 'moe_permute',
    label: `moe_permute_${p.tokens}x${p.topK}_e${p.experts}${p.capacityFactor === undefined ? '' : `_cap${capacity}`}`,
    params: { experts: p.experts, topK: p.topK, assignments, capacity, itemsPerThread: ceilDiv(assignments, WORKGROUP) },
    bindings: [
      { name: 'topk_idx', access: 'read', type: 'i32', length: assignments, fill: { kind: 'int', lo: 0, hi: p.experts } },
      { name: 'counts', access: 'write', type: 'u32', length: p.experts },
      { name: 'offsets', access: 'write', type: 'u32', length: p.experts + 1 },
      { name: 'perm_row', access: 'write', type: 'i32', length: assignments },
      { name: 'src_token', access: 'write', type: 'i32', length: assignments },
      { name: 'src_slot', access: 'write', type: 'i32', length: assignments },
    ],
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch: [p.experts, 1, 1],
    features: [],
  };
}

/** xs[row, :] = x[src_token[row], :], zero rows for padding (src_token < 0). */
export function moeGatherProgram(p: MoeGatherParams): KernelProgram {
  const rows = p.tokens * p.topK;
  const n = rows * p.dim;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(n, GATHER_WORKGROUP));
  return {
    template: 'moe_permute_gather',
    label: `moe_gather_${p.tokens}x${p.topK}_d${p.dim}`,
    params: { n, dim: p.dim, dispatchX },
    bindings: [
      { name: 'x', access: 'read', type: 'f32', length: p.tokens * p.dim },
      { name: 'src_token', access: 'read', type: 'i32', length: rows, fill: { kind: 'int', lo: -1, hi: p.tokens } },
      { name: 'xs', access: 'write', type: 'f32', length: n },
    ],
    workgroupSize: [GATHER_WORKGROUP, 1, 1],
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

export function moePermuteCase(p: MoePermuteParams): KernelCase {
  return { program: moePermuteProgram(p), oracle: moePermuteOracle(p), tolerance: { atol: 0, rtol: 0 } };
}

export function moeGatherCase(p: MoeGatherParams): KernelCase {
  return { program: moeGatherProgram(p), oracle: moeGatherOracle(p), tolerance: { atol: 0, rtol: 0 } };
}
