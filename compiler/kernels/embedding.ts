// Token embedding: out[t,:] = table[ids[t],:] for a [V, D] table and i32 ids [T]. Ids outside
// [0, V) give a zero row and receive no gradient (no out-of-bounds reads, no NaNs from garbage).
//
// The backward dTable[v,:] = Σ_{t: ids[t]=v} dOut[t,:] must be deterministic and WGSL has no float
// atomics, so it is two programs:
//   1. embedding_sort: a stable counting sort of the token indices by id, computed by ranks
//      (rank(t) = #{t': ids[t'] < ids[t]} + #{t' < t: ids[t'] = ids[t]}) and per-row bucket starts
//      rowStart[v] = #{t: ids[t] < v}, v = 0..V. O((T + V) · T) comparisons, no atomics.
//   2. embedding_backward: one thread per (v, d) sums dOut rows of bucket v in ascending token
//      order, writing every element of dTable (zero for unused rows).
// The result is bit-identical from run to run and independent of the dispatch order. Ids outside
// [0, V) sort as one key below (negative) or above (≥ V) the range, in token order.
//
// Variants (chosen from the adapter by embeddingVariant, never by a flag):
// - `rows` (CPU adapters: lavapipe, SwiftShader): forward one invocation per token and backward
//   one per vocabulary row, serial vec4 loops over the row (no barriers); the sort is a serial
//   counting sort in a single invocation, O(T + V) (templates/embedding_sort_serial.wgsl.hbs).
//   On lavapipe a workgroup is a serial loop over SIMD-8 chunks, so per-element invocations and
//   the rank sort's (T + V)·T comparisons cost far more than one thread walking the data
//   (512 tokens, vocab 1024: the rank sort took ~0.85 ms, the serial sort ~0.05 ms).
// - `parallel` (GPUs): one invocation per element and the rank sort, which keep thousands of
//   lanes busy.
// With `sort` (fuse-embedding-sort, rows variant only) the forward lookup also runs the serial sort,
// as its first workgroup (templates/partials/embedding_sort_fn.wgsl.hbs, shared with
// embedding_sort_serial): the ids are known before the step starts, so the backward needs no sort
// dispatch of its own.
import type { RowKernelCaps } from '../../base/caps.ts';
import { InternalError } from '../../base/errors.ts';
import { rowNormInKernel, rowNormOracle, rowNormOutBindings, rowNormParams, type RowNorm } from './rmsnorm.ts';
import { ceilDiv, rowUnits, spreadWorkgroups, type KernelCase, type KernelProgram } from './types.ts';

export interface EmbeddingParams {
  readonly tokens: number;
  readonly vocab: number;
  readonly dim: number;
  /**
   * Forward only: also RMS-normalise each row looked up (fuse-embedding-norm): binding norm_w [D] in,
   * norm_y [T, D] and rstd [T] out, as the rmsnorm lane kernel computes them from `out` (the same sum
   * of squares in the same order, so the same bits). Only where embeddingNormInKernel says so.
   */
  readonly norm?: RowNorm;
  /**
   * Forward only: also sort the token indices by id for the backward (fuse-embedding-sort): bindings
   * sortedTokens [T] and rowStart [V + 1] (i32, write), embedding_sort's outputs, computed by the rows
   * kernel's workgroup 0 with the serial sort's code. Only where embeddingSortInKernel says so.
   */
  readonly sort?: boolean;
}

const WORKGROUP = 256;
/** Ids are staged through workgroup memory in tiles of this many. */
const SORT_TILE = 256;
/** Rows per workgroup of the `rows` variant. */
const ROWS_WORKGROUP = 64;

export type EmbeddingVariant = 'rows' | 'parallel';

export function embeddingVariant(caps: RowKernelCaps): EmbeddingVariant {
  return caps.cpuAdapter ? 'rows' : 'parallel';
}

function checkParams(p: { tokens: number; vocab: number; dim?: number }): void {
  for (const [k, v] of Object.entries(p)) {
    if (!(Number.isInteger(v) && v > 0)) throw new Error(`embedding: ${k} must be a positive integer, got ${v}`);
  }
}

/** Random test ids include one value below and one above the valid range. */
const idFill = (vocab: number) => ({ kind: 'int' as const, lo: -1, hi: vocab + 1 });

/**
 * Whether the lookup kernel can RMS-normalise its rows itself (fuse-embedding-norm): the `rows`
 * variant (a token's row belongs to one invocation) over vec4 rows, where the rmsnorm it replaces is
 * the lane kernel (normVariant 'lane'), so the sums match. Elsewhere the lowering runs the rmsnorm
 * kernel after the lookup.
 */
export function embeddingNormInKernel(p: Pick<EmbeddingParams, 'dim'>, caps: RowKernelCaps): boolean {
  return embeddingVariant(caps) === 'rows' && rowNormInKernel(caps, p.dim);
}

/** Whether the lookup kernel can also sort the ids for the backward (fuse-embedding-sort): the `rows`
 *  variant, whose sort is the serial one-invocation kernel, run as the lookup's extra workgroup. */
export function embeddingSortInKernel(caps: RowKernelCaps): boolean {
  return embeddingVariant(caps) === 'rows';
}

export function embeddingProgram(p: EmbeddingParams, caps: RowKernelCaps, variant: EmbeddingVariant = embeddingVariant(caps)): KernelProgram {
  checkParams({ tokens: p.tokens, vocab: p.vocab, dim: p.dim });
  const norm = p.norm;
  if (norm && !(variant === 'rows' && embeddingNormInKernel(p, caps))) throw new InternalError('embedding: this layout cannot normalise its rows; run the rmsnorm kernel after it');
  const sort = p.sort === true;
  if (sort && !(variant === 'rows' && embeddingSortInKernel(caps))) throw new InternalError('embedding: this layout cannot sort the ids; run the sort kernel');
  const n = p.tokens * p.dim;
  const byRow = variant === 'rows';
  const { vec4, dimVec } = byRow ? rowUnits(p.dim) : { vec4: false, dimVec: p.dim };
  const wg = byRow ? ROWS_WORKGROUP : WORKGROUP;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(byRow ? p.tokens : n, wg) + (sort ? 1 : 0));
  return {
    template: byRow ? 'embedding_rows' : 'embedding',
    label: `embedding_fwd_${p.tokens}x${p.vocab}x${p.dim}${norm ? '_norm' : ''}${sort ? '_sort' : ''}${byRow ? '_rows' : ''}`,
    params: { n, tokens: p.tokens, dim: p.dim, vec4, dimVec, vocab: p.vocab, dispatchX, sort, ...rowNormParams(norm, p.dim) },
    bindings: [
      { name: 'table', access: 'read', type: 'f32', length: p.vocab * p.dim, vec4 },
      { name: 'ids', access: 'read', type: 'i32', length: p.tokens, fill: idFill(p.vocab) },
      ...rowNormOutBindings(norm, p.tokens, p.dim, vec4),
      ...(sort
        ? [
            { name: 'sortedTokens', access: 'write' as const, type: 'i32' as const, length: p.tokens },
            { name: 'rowStart', access: 'write' as const, type: 'i32' as const, length: p.vocab + 1 },
          ]
        : []),
    ],
    workgroupSize: [wg, 1, 1],
    dispatch,
    features: [],
  };
}

export function embeddingSortProgram(p: Omit<EmbeddingParams, 'dim'>, caps: RowKernelCaps, variant: EmbeddingVariant = embeddingVariant(caps)): KernelProgram {
  checkParams({ tokens: p.tokens, vocab: p.vocab });
  const bindings = [
    { name: 'ids', access: 'read', type: 'i32', length: p.tokens, fill: idFill(p.vocab) },
    { name: 'sortedTokens', access: 'write', type: 'i32', length: p.tokens },
    { name: 'rowStart', access: 'write', type: 'i32', length: p.vocab + 1 },
  ] as const;
  if (variant === 'rows') {
    return {
      template: 'embedding_sort_serial',
      label: `embedding_sort_${p.tokens}x${p.vocab}_serial`,
      params: { tokens: p.tokens, vocab: p.vocab },
      bindings,
      workgroupSize: [1, 1, 1],
      dispatch: [1, 1, 1],
      features: [],
    };
  }
  const threads = Math.max(p.tokens, p.vocab + 1);
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(threads, WORKGROUP));
  return {
    template: 'embedding_sort',
    label: `embedding_sort_${p.tokens}x${p.vocab}`,
    params: { tokens: p.tokens, vocab: p.vocab, tile: SORT_TILE, tiles: ceilDiv(p.tokens, SORT_TILE), dispatchX },
    bindings,
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

export function embeddingBackwardProgram(p: EmbeddingParams, caps: RowKernelCaps, variant: EmbeddingVariant = embeddingVariant(caps)): KernelProgram {
  checkParams(p);
  const n = p.vocab * p.dim;
  const byRow = variant === 'rows';
  const { vec4, dimVec } = byRow ? rowUnits(p.dim) : { vec4: false, dimVec: p.dim };
  const wg = byRow ? ROWS_WORKGROUP : WORKGROUP;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(byRow ? p.vocab : n, wg));
  return {
    template: byRow ? 'embedding_backward_rows' : 'embedding_backward',
    label: `embedding_bwd_${p.tokens}x${p.vocab}x${p.dim}${byRow ? '_rows' : ''}`,
    params: { n, tokens: p.tokens, vocab: p.vocab, dim: p.dim, vec4, dimVec, dispatchX },
    bindings: [
      { name: 'dOut', access: 'read', type: 'f32', length: p.tokens * p.dim, vec4 },
      { name: 'sortedTokens', access: 'read', type: 'i32', length: p.tokens, fill: { kind: 'int', lo: 0, hi: p.tokens } },
      { name: 'rowStart', access: 'read', type: 'i32', length: p.vocab + 1, fill: { kind: 'int', lo: 0, hi: p.tokens + 1 } },
      { name: 'dTable', access: 'write', type: 'f32', length: n, vec4 },
    ],
    workgroupSize: [wg, 1, 1],
    dispatch,
    features: [],
  };
}

type Inputs = Readonly<Record<string, ArrayLike<number>>>;

/** float64 forward reference. */
export function embeddingReference(p: EmbeddingParams, inputs: Inputs): { out: Float64Array } {
  const out = new Float64Array(p.tokens * p.dim);
  for (let t = 0; t < p.tokens; t++) {
    const id = inputs.ids[t];
    if (id < 0 || id >= p.vocab) continue;
    for (let d = 0; d < p.dim; d++) out[t * p.dim + d] = inputs.table[id * p.dim + d];
  }
  return { out };
}

/** The whole backward by direct scatter-add: what sort + backward together must compute. */
export function embeddingGradReference(p: EmbeddingParams, inputs: Inputs): { dTable: Float64Array } {
  const dTable = new Float64Array(p.vocab * p.dim);
  for (let t = 0; t < p.tokens; t++) {
    const id = inputs.ids[t];
    if (id < 0 || id >= p.vocab) continue;
    for (let d = 0; d < p.dim; d++) dTable[id * p.dim + d] += inputs.dOut[t * p.dim + d];
  }
  return { dTable };
}

/** Stable sort of token indices by id (ids outside the range as one key below or above it), and
 *  bucket starts, by plain comparison sort. */
export function embeddingSortReference(p: Omit<EmbeddingParams, 'dim'>, inputs: Inputs): { sortedTokens: Int32Array; rowStart: Int32Array } {
  const key = (t: number) => Math.min(Math.max(inputs.ids[t], -1), p.vocab);
  const order = Array.from({ length: p.tokens }, (_, t) => t).sort((a, b) => key(a) - key(b) || a - b);
  const rowStart = new Int32Array(p.vocab + 1);
  for (let v = 0; v <= p.vocab; v++) {
    for (let t = 0; t < p.tokens; t++) if (inputs.ids[t] < v) rowStart[v]++;
  }
  return { sortedTokens: Int32Array.from(order), rowStart };
}

/** Bucketed sum as the backward program defines it (valid for any bucket bounds). */
export function embeddingBackwardReference(p: EmbeddingParams, inputs: Inputs): { dTable: Float64Array } {
  const dTable = new Float64Array(p.vocab * p.dim);
  for (let v = 0; v < p.vocab; v++) {
    const start = Math.max(0, inputs.rowStart[v]);
    const end = Math.min(p.tokens, inputs.rowStart[v + 1]);
    for (let i = start; i < end; i++) {
      const t = inputs.sortedTokens[i];
      if (t < 0 || t >= p.tokens) continue;
      for (let d = 0; d < p.dim; d++) dTable[v * p.dim + d] += inputs.dOut[t * p.dim + d];
    }
  }
  return { dTable };
}

/** Oracles: the references above with f32 outputs, keyed by binding name. */
export const embeddingOracle = (p: EmbeddingParams) => (inputs: Inputs): Record<string, Float32Array | Int32Array> => {
  const out = Float32Array.from(embeddingReference(p, inputs).out);
  const sorted = p.sort ? embeddingSortReference(p, inputs) : {};
  return p.norm ? { out, ...rowNormOracle(p.norm, out, inputs.norm_w, p.tokens, p.dim), ...sorted } : { out, ...sorted };
};
export const embeddingSortOracle = (p: Omit<EmbeddingParams, 'dim'>) => (inputs: Inputs) => embeddingSortReference(p, inputs);
export const embeddingBackwardOracle = (p: EmbeddingParams) => (inputs: Inputs) => ({ dTable: Float32Array.from(embeddingBackwardReference(p, inputs).dTable) });

export function embeddingCase(p: EmbeddingParams, caps: RowKernelCaps, variant?: EmbeddingVariant): KernelCase {
  // a copy is exact; the normalised rows carry the rmsnorm's rounding
  return { program: embeddingProgram(p, caps, variant), oracle: embeddingOracle(p), tolerance: p.norm ? { atol: 1e-5, rtol: 1e-5 } : { atol: 0, rtol: 0 } };
}

export function embeddingSortCase(p: Omit<EmbeddingParams, 'dim'>, caps: RowKernelCaps, variant?: EmbeddingVariant): KernelCase {
  return { program: embeddingSortProgram(p, caps, variant), oracle: embeddingSortOracle(p), tolerance: { atol: 0, rtol: 0 } };
}

export function embeddingBackwardCase(p: EmbeddingParams, caps: RowKernelCaps, variant?: EmbeddingVariant): KernelCase {
  // buckets of up to T rows summed in f32: rounding grows with T
  return { program: embeddingBackwardProgram(p, caps, variant), oracle: embeddingBackwardOracle(p), tolerance: { atol: 1e-6 + 2e-7 * p.tokens, rtol: 1e-5 } };
}
