// Causal scaled-dot-product attention with grouped KV heads, flash-style (no [S, S] matrix in
// memory). Layout: q, out [T, H·hd]; k, v [T, KVH·hd]; T = B·S, sequence b owns rows b·S … b·S+S−1;
// query head h reads kv head ⌊h / (H/KVH)⌋; scale 1/√hd; query i sees keys j ≤ i of its sequence.
//
// Two variants, chosen from the adapter (attentionVariant), none with atomics, all with fixed
// summation orders (deterministic):
//
// 'tiled' (GPUs: cpuAdapter false), three programs:
//   attention            one workgroup per (sequence, head, block of 64 queries), one thread per
//                        query; K/V tiles staged in workgroup memory, online softmax per thread.
//                        Writes out and lse[t, h] = log Σ_j exp(s_ij) for the backward.
//   attention_dq         same grid: dq_i = scale · Σ_j P_ij (dO_i·v_j − D_i) k_j, where
//                        P_ij = exp(s_ij − lse_i) and D_i = dO_i·out_i.
//   attention_dkv        one workgroup per (sequence, kv head, block of 64 keys), one thread per key;
//                        dk_j = scale · Σ_h Σ_{i≥j} dS_ij q_i and dv_j = Σ_h Σ_{i≥j} P_ij dO_i, summed
//                        over the query heads sharing the kv head inside the thread (no atomics).
// Tiles: `tileRows` rows of hd floats, chosen so two tiles fit in 8 KiB of workgroup memory (half
// the WebGPU minimum limit). Any S works (work is O(S²·hd) per head); hd up to 128. Rows are held
// as vec4 (hd zero-padded to a multiple of 4) and the hd loops have constant bounds so lavapipe
// unrolls them into registers: against scalar rows this ran the three kernels 3–5× faster at
// S = 256 (dynamic indexing of per-thread arrays becomes per-lane gathers on a CPU).
//
// 'row' (CPU adapters with subgroups: lavapipe, SwiftShader, WARP), three programs, no workgroup
// memory, no barriers:
//   attention_row        one invocation per R (query row, head) pairs, walking the keys with an online
//                        softmax per row.
//   attention_bwd_prep   D_i = dO_i·out_i per (row, head), into a temporary.
//   attention_bwd_row    dq, dk and dv in one dispatch: one invocation per R (query row, head) for dq,
//                        then one per R (key row, kv head) for dk/dv (over the heads sharing it).
//   R (attentionRowsPerLane) amortises each streamed row's loads and broadcasts over R rows of a lane.
// The dk/dv invocations need lse_i and D_i of every query they visit, the same for every lane: they
// formed D_i from the loading lanes' shares of dO_i and out_i and a subgroupAdd, and loaded lse_i
// per lane, ≈ 20 % of the kernel on lavapipe (measured by removing them: 0.83 / 0.78 of its time at
// the demo's / qwen_tiny's shapes). Now one lane loads lse_i and D_i (a per-lane load costs a check
// and a load per active lane) and subgroupBroadcast hands them out: prep + backward 0.907 / 0.893 of
// the single dispatch's time (25 interleaved rounds, load ≈ 1.3; prep alone 88 / 407 µs).
// On a CPU adapter a workgroup is a serial loop over SIMD chunks: the tiled kernels' staging and two
// barriers per tile cost more than the arithmetic, and a storage load is a per-lane gather (~25
// cycles on lavapipe, even when every lane reads the same address). So a workgroup is a block of 16
// positions of one (sequence, head), the streamed rows (k/v, or q/dOut) are loaded once per subgroup,
// spread over its lanes, and handed to every lane with subgroupBroadcast. Interleaved GPU timestamps
// at the demo's shapes (T = 512, S = 64, 4 heads, hd = 16) on lavapipe under load ~20–30: forward
// 2.3–3.3 ms → 0.6 ms, backward (dq + dkv → one dispatch) 4.6–8.7 ms → 1.6–3.5 ms.
// A CPU adapter without subgroups gets the tiled kernels (a row kernel without the broadcasts
// measured no faster than tiled: the gathers dominate), and so does hd > 32 (ROW_MAX_HEAD_DIM).
// First-dispatch compile on lavapipe without its shader cache (load ~12): demo shapes tiled 2.6 +
// 6.6 + 9.1 s, row 1.2 + 5.8 s; qwen_tiny's (S = 128, hd = 32) tiled 8.8 + 6.5 + 9.2 s, row 1.2 + 11.5 s.
import type { RowKernelCaps } from '../../base/caps.ts';
import { InternalError } from '../../base/errors.ts';
import { ropeAtol, ropeReference, ropeTurnsPerPosition4 } from './rope.ts';
import { ceilDiv, f32Literal, laneSpread, spreadWorkgroups, type KernelCase, type KernelProgram } from './types.ts';

export interface AttentionParams {
  /** T = batch · seqLen. */
  readonly tokens: number;
  readonly seqLen: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
}

const ROWS_PER_GROUP = 64;
/** Invocations per workgroup of the row variant. */
const ROW_GROUP = 16;

export type AttentionVariant = 'tiled' | 'row';
/** The row kernels write every hd-level access out (see attention_row): past hd = 32 lavapipe's
 *  first-dispatch compile grew to tens of seconds (hd = 64: 14 s forward, minutes backward). */
const ROW_MAX_HEAD_DIM = 32;

/** Row kernels on CPU adapters, tiled workgroup kernels elsewhere (see the header). */
export function attentionVariant(caps: RowKernelCaps, headDim: number): AttentionVariant {
  return caps.cpuAdapter && caps.subgroups && caps.subgroupMinSize >= 4 && headDim <= ROW_MAX_HEAD_DIM ? 'row' : 'tiled';
}
/** Rows of q/k/v are held in registers; `check` refuses larger heads (compiler/config/model.ts). */
export const MAX_HEAD_DIM = 128;
/** Floats per staged tile: two tiles use 8 KiB. */
const TILE_FLOATS = 1024;

function checkParams(p: AttentionParams): void {
  for (const k of ['tokens', 'seqLen', 'heads', 'kvHeads', 'headDim'] as const) {
    if (!(Number.isInteger(p[k]) && p[k] > 0)) throw new Error(`attention: ${k} must be a positive integer, got ${p[k]}`);
  }
  if (p.tokens % p.seqLen !== 0) throw new Error(`attention: tokens (${p.tokens}) must be a multiple of seqLen (${p.seqLen})`);
  if (p.heads % p.kvHeads !== 0) throw new Error(`attention: heads (${p.heads}) must be a multiple of kvHeads (${p.kvHeads})`);
  if (p.headDim > MAX_HEAD_DIM) throw new Error(`attention: headDim ${p.headDim} exceeds the supported maximum ${MAX_HEAD_DIM}`);
}

/** Rows per staged tile: the largest power of two ≤ 64 whose tile fits in TILE_FLOATS. */
export function attentionTileRows(headDim: number): number {
  let rows = ROWS_PER_GROUP;
  while (rows > 1 && rows * headDim > TILE_FLOATS) rows /= 2;
  return rows;
}

function common(p: AttentionParams) {
  checkParams(p);
  const batch = p.tokens / p.seqLen;
  const blocks = ceilDiv(p.seqLen, ROWS_PER_GROUP);
  const tileRows = attentionTileRows(p.headDim);
  return {
    batch,
    blocks,
    params: {
      seqLen: p.seqLen,
      heads: p.heads,
      kvHeads: p.kvHeads,
      headDim: p.headDim,
      headsPerKv: p.heads / p.kvHeads,
      qStride: p.heads * p.headDim,
      kvStride: p.kvHeads * p.headDim,
      scale: f32Literal(1 / Math.sqrt(p.headDim)),
      negInf: f32Literal(-3.4028234663852886e38),
      blocks,
      tileRows,
      tileFloats: tileRows * p.headDim,
      quads: Math.ceil(p.headDim / 4),
      tileQuads: tileRows * Math.ceil(p.headDim / 4),
    },
  };
}

const tag = (p: AttentionParams): string => `t${p.tokens}_s${p.seqLen}_h${p.heads}kv${p.kvHeads}_d${p.headDim}`;

function bindingsFor(p: AttentionParams, names: readonly string[]) {
  const qLen = p.tokens * p.heads * p.headDim;
  const kvLen = p.tokens * p.kvHeads * p.headDim;
  const all = {
    q: { name: 'q', access: 'read', type: 'f32', length: qLen },
    k: { name: 'k', access: 'read', type: 'f32', length: kvLen },
    v: { name: 'v', access: 'read', type: 'f32', length: kvLen },
    out: { name: 'out', access: 'read', type: 'f32', length: qLen },
    dOut: { name: 'dOut', access: 'read', type: 'f32', length: qLen },
    // random lse for the standalone backward checks: large enough that P stays below ~1
    lse: { name: 'lse', access: 'read', type: 'f32', length: p.tokens * p.heads, fill: { kind: 'float', lo: 1, hi: 3 } },
  } as const;
  return names.map((n) => all[n as keyof typeof all]);
}

export function attentionProgram(p: AttentionParams, caps: RowKernelCaps): KernelProgram {
  if (attentionVariant(caps, p.headDim) === 'row') return attentionRowProgram(p, caps);
  const { batch, blocks, params } = common(p);
  const { dispatch, dispatchX } = spreadWorkgroups(batch * p.heads * blocks);
  return {
    template: 'attention',
    label: `attention_fwd_${tag(p)}`,
    params: { ...params, dispatchX },
    bindings: [
      ...bindingsFor(p, ['q', 'k', 'v']),
      { name: 'out', access: 'write', type: 'f32', length: p.tokens * p.heads * p.headDim },
      { name: 'lse', access: 'write', type: 'f32', length: p.tokens * p.heads },
    ],
    workgroupSize: [ROWS_PER_GROUP, 1, 1],
    dispatch,
    features: [],
  };
}

/** How the row variant lays out a row of hd, written out element by element so every index in the
 *  shader is a constant: element c sits in vec4 ⌊c/4⌋, component c mod 4, and a streamed row is
 *  loaded spread over `lanes` subgroup lanes, element c in lane c mod lanes, register ⌊c / lanes⌋. */
function spreadRow(headDim: number, lanes: number) {
  const { slots, picks } = laneSpread(headDim, lanes);
  return {
    lanes,
    parts: slots.length,
    spread: picks.map(({ index: c, slot, lane }) => ({ c, quad: c >> 2, comp: c & 3, part: slot, lane })),
    quadList: Array.from({ length: Math.ceil(headDim / 4) }, (_, i) => i),
    partList: slots.map(({ slot, first }) => ({ part: slot, first })),
  };
}

/**
 * How the row kernels load and store rows: `vec4` / `vec2` (the rows bound as array<vec4> / array<vec2>)
 * move an invocation's own rows and spread a streamed row over the lanes a vector at a time, one
 * vector per lane and slot, when hd is a multiple of (width × lanes), so no lane loads a clamped
 * duplicate; `scalar` moves floats (⌈hd / lanes⌉ per lane of a streamed row). subgroupBroadcast hands
 * the same values to the same lanes either way, so all give the same bits. `npm run bench --
 * row-variants` (30 interleaved rounds, load ≈ 1; docs/results/issue8/stop21/row-variants-{2,3,4}.md),
 * vector ÷ scalar: qwen_tiny's hd 32 with 8 lanes (vec4) 0.819–0.862 forward, 0.777–0.818
 * backward; the demo's hd 16 with 8 lanes (vec2) 0.915–0.937 forward, 0.893–0.922 backward. vec4 at hd 16 would
 * give half the lanes clamped duplicates (1.06 ad hoc; vec4 own rows with scalar streamed loads
 * 1.02): a lane pays for the elements it loads as well as for each load.
 */
export type AttentionRowLoads = 'scalar' | 'vec2' | 'vec4';

const LOAD_WIDTH: Record<AttentionRowLoads, number> = { scalar: 1, vec2: 2, vec4: 4 };

export function attentionRowLoads(p: Pick<AttentionParams, 'headDim'>, lanes: number): AttentionRowLoads {
  if (p.headDim % (4 * lanes) === 0) return 'vec4';
  if (p.headDim % (2 * lanes) === 0) return 'vec2';
  return 'scalar';
}

/**
 * The row kernels' load plan (see AttentionRowLoads): `wideSlots` the streamed loads of a lane, `wides`
 * every vector of a row with where its components go (a whole quad of the vec4 rows, or two components).
 */
function rowLoadParams(p: AttentionParams, lanes: number, loads: AttentionRowLoads) {
  const width = LOAD_WIDTH[loads];
  if (width > 1 && p.headDim % (width * lanes) !== 0) throw new Error(`attention: ${loads} row loads need hd a multiple of ${width * lanes} (${lanes} lanes), got hd ${p.headDim}`);
  const comp = ['x', 'y', 'z', 'w'];
  const { slots, picks } = width > 1 ? laneSpread(p.headDim / width, lanes) : { slots: [], picks: [] };
  return {
    ...spreadRow(p.headDim, lanes),
    wide: width > 1,
    width,
    wideSlots: slots,
    wides: picks.map(({ index: e, slot, lane }) => ({
      e,
      slot,
      lane,
      whole: width === 4,
      quad: Math.floor((e * width) / 4),
      comps: Array.from({ length: width }, (_, i) => ({ comp: ((e * width) % 4) + i, src: comp[i] })),
      c0: (e * width) % 4,
      c1: ((e * width) % 4) + 1,
    })),
  };
}

/** Row bindings declared as the loads' vectors (lse and D stay scalar: callers pass rows only). */
const widen = <B extends object>(bindings: readonly B[], loads: AttentionRowLoads): (B & { vec4?: boolean; vec2?: boolean })[] =>
  bindings.map((b) => (loads === 'scalar' ? b : { ...b, [loads]: true }));

/**
 * Where the row kernels' causal loops stop: `subgroup` (default) at the subgroup's last query (dq,
 * forward) or start at its first key (dk/dv), from subgroupMax / subgroupMin; `block` at the
 * workgroup's, as before stop 26 (kept for `npm run bench -- row-variants`). The rows in between
 * add exactly 0 to every lane of the subgroup: the same results.
 */
export type AttentionCausalBounds = 'subgroup' | 'block';

/**
 * Rows per invocation of the row kernels (forward: queries; backward: queries for dq, keys for dk/dv).
 * A streamed row (k/v, or q/dOut) costs its per-lane loads and hd broadcasts once per subgroup and key,
 * whatever the lane does with it; with R rows a lane spends them on R rows. R grows the subgroup's block
 * (lanes × R consecutive rows) and with it the causal loop's masked tail, so R follows the sequence:
 * ⌊S / 32⌋, at least 1, at most 4 forward and 2 backward (the demo's S 64: 2 and 2; qwen_tiny's 128: 4
 * and 2). The backward's cap is lavapipe's compile time: every slot is written out, and the cold
 * first-dispatch compile of qwen_tiny's backward (hd 32, rope) grew from 1.9 s (R 1) to 5.6 s (R 2) and
 * 22.4 s (R 4), the demo's from 0.9 to 3.4 s (R 2); the forward's stays ≤ 2.2 s at R 4 (ad hoc, no
 * shader cache). Against R = 1 at the same loads (`npm run bench -- row-variants`,
 * docs/results/issue8/stop27/row-variants.md; ad hoc at the other R): S 64, hd 16: forward 0.80 (R 2)
 * / 0.84 (R 4), backward 0.83 / 0.79; S 128, hd 32: forward 0.76 / 0.68, backward 0.86 / 0.81. A
 * lane's own rows, accumulators and softmax state are arrays indexed by constants, which lavapipe keeps
 * in registers where they fit (past that, on its stack: the times above include whatever that costs). A uniform branch that
 * skipped a slot's work past its rows' last key cost more than the work (0.92 against 0.81 at S 64), so
 * slots compute masked keys as the R = 1 kernel does. An adapter whose minimum subgroup is wider than a
 * workgroup (none known) keeps R = 1: the slot layout assumes whole subgroups in a workgroup.
 */
export function attentionRowsPerLane(p: Pick<AttentionParams, 'seqLen'>, lanes: number, pass: 'forward' | 'backward'): number {
  if (ROW_GROUP % lanes !== 0) return 1;
  return Math.max(1, Math.min(pass === 'forward' ? 4 : 2, Math.floor(p.seqLen / 32)));
}

/** The row slots' layout params (see attentionRowsPerLane): slot r of a lane is the subgroup's first row
 *  + r × lanes + its lane; a workgroup covers ROW_GROUP × R rows. */
function rowSlotParams(p: AttentionParams, lanes: number, rowsPerLane: number) {
  if (!(Number.isInteger(rowsPerLane) && rowsPerLane >= 1)) throw new InternalError(`attention: rows per lane must be a positive integer, got ${rowsPerLane}`);
  if (rowsPerLane > 1 && ROW_GROUP % lanes !== 0) throw new InternalError(`attention: ${rowsPerLane} rows per lane need whole ${lanes}-lane subgroups in a ${ROW_GROUP}-invocation workgroup`);
  const blockRows = ROW_GROUP * rowsPerLane;
  return {
    blocks: ceilDiv(p.seqLen, blockRows),
    params: {
      rowsPerLane,
      blockRows,
      lanesRows: lanes * rowsPerLane,
      lastOffset: (rowsPerLane - 1) * lanes,
      rowSlots: Array.from({ length: rowsPerLane }, (_, r) => ({ r, offset: r * lanes })),
    },
  };
}

/** A row kernel's layout choices; each defaults to what the compiler picks for the adapter (the benches and
 *  tests name the others to compare them). */
export interface AttentionRowLayout {
  readonly loads?: AttentionRowLoads;
  readonly bounds?: AttentionCausalBounds;
  readonly rowsPerLane?: number;
}

export function attentionRowProgram(p: AttentionParams, caps: RowKernelCaps, layout: AttentionRowLayout = {}): KernelProgram {
  const { loads = attentionRowLoads(p, caps.subgroupMinSize), bounds = 'subgroup', rowsPerLane = attentionRowsPerLane(p, caps.subgroupMinSize, 'forward') } = layout;
  const { batch, params } = common(p);
  const slots = rowSlotParams(p, caps.subgroupMinSize, rowsPerLane);
  const blocks = slots.blocks;
  const { dispatch, dispatchX } = spreadWorkgroups(batch * p.heads * blocks);
  const plan = rowLoadParams(p, caps.subgroupMinSize, loads);
  return {
    template: 'attention_row',
    label: `attention_fwd_${tag(p)}_row${plan.wide ? `_v${plan.width}` : ''}${rowsPerLane > 1 ? `_r${rowsPerLane}` : ''}${bounds === 'block' ? '_blk' : ''}`,
    params: { ...params, blocks, dispatchX, ...plan, ...slots.params, subgroupBounds: bounds === 'subgroup' },
    bindings: [
      ...widen([...bindingsFor(p, ['q', 'k', 'v']), { name: 'out', access: 'write' as const, type: 'f32' as const, length: p.tokens * p.heads * p.headDim }], loads),
      { name: 'lse', access: 'write', type: 'f32', length: p.tokens * p.heads },
    ],
    workgroupSize: [ROW_GROUP, 1, 1],
    dispatch,
    features: ['subgroups'],
  };
}

/** Invocations per workgroup of attention_bwd_prep. */
const PREP_GROUP = 64;

/**
 * D = rowsum(dOut ⊙ out) per (row, head) for the row variant's backward (templates/attention_bwd_prep.wgsl.hbs).
 * `vec4` (hd a multiple of 4): dOut and out read a vec4 at a time, the products added in the scalar
 * loop's order (the same bits). `npm run bench -- row-variants` (docs/results/issue8/stop21/row-variants-4.md):
 * 0.836 of the scalar loop's time at the demo's hd 16, 0.663 at qwen_tiny's hd 32 (ad hoc: 0.80 / 0.49).
 */
export function attentionBackwardPrepProgram(p: AttentionParams, vec4 = p.headDim % 4 === 0): KernelProgram {
  const { params } = common(p);
  const rowHeads = p.tokens * p.heads;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(rowHeads, PREP_GROUP));
  if (vec4 && p.headDim % 4 !== 0) throw new Error(`attention: vec4 rows need hd a multiple of 4, got ${p.headDim}`);
  return {
    template: 'attention_bwd_prep',
    label: `attention_bwd_prep_${tag(p)}${vec4 ? '_v4' : ''}`,
    params: { ...params, tokens: p.tokens, rowHeads, dispatchX, vec4 },
    bindings: [...bindingsFor(p, ['dOut', 'out']).map((b) => (vec4 ? { ...b, vec4: true } : b)), { name: 'dsum', access: 'write', type: 'f32', length: rowHeads }],
    workgroupSize: [PREP_GROUP, 1, 1],
    dispatch,
    features: [],
  };
}

/**
 * Whether attention_grad's backward kernels rotate dq and dk back themselves when the forward roped q
 * and k (fuse-attention-grad-rope): the row variant, with hd/2 a multiple of 4 (each rotated pair of
 * its vec4 quads, q and q + hd/8, lines up). Elsewhere the lowering rotates them in place afterwards.
 */
export function attentionGradRopeInKernel(p: Pick<AttentionParams, 'headDim'>, caps: RowKernelCaps): boolean {
  return attentionVariant(caps, p.headDim) === 'row' && (p.headDim / 2) % 4 === 0;
}

/**
 * The row variant's backward: dq, dk and dv from one dispatch (see the header), D from attention_bwd_prep.
 * `ropeTheta`: dq and dk stored rotated by −angle (the inverse of the forward's rope with that theta).
 */
export function attentionBackwardRowProgram(p: AttentionParams, caps: RowKernelCaps, layout: AttentionRowLayout & { readonly ropeTheta?: number } = {}): KernelProgram {
  const { loads = attentionRowLoads(p, caps.subgroupMinSize), ropeTheta, bounds = 'subgroup', rowsPerLane = attentionRowsPerLane(p, caps.subgroupMinSize, 'backward') } = layout;
  const { batch, params } = common(p);
  if (ropeTheta !== undefined && (p.headDim / 2) % 4 !== 0) throw new InternalError(`attention backward: dq and dk are rotated in the row kernel only when hd/2 is a multiple of 4, got hd ${p.headDim}`);
  const ropeQuads = ropeTheta === undefined ? 0 : p.headDim / 8;
  const rope = ropeTheta === undefined ? {} : { rope: true, ropeHalfQuads: ropeQuads, ropeQuads: Array.from({ length: ropeQuads }, (_, q) => q), ropeTurns4: ropeTurnsPerPosition4(p.headDim, ropeTheta) };
  const slots = rowSlotParams(p, caps.subgroupMinSize, rowsPerLane);
  const blocks = slots.blocks;
  const dqGroups = batch * p.heads * blocks;
  const dkvGroups = batch * p.kvHeads * blocks;
  const { dispatch, dispatchX } = spreadWorkgroups(dqGroups + dkvGroups);
  const kvLen = p.tokens * p.kvHeads * p.headDim;
  const plan = rowLoadParams(p, caps.subgroupMinSize, loads);
  return {
    template: 'attention_bwd_row',
    label: `attention_bwd_${tag(p)}_row${plan.wide ? `_v${plan.width}` : ''}${rowsPerLane > 1 ? `_r${rowsPerLane}` : ''}${ropeTheta === undefined ? '' : '_rope'}${bounds === 'block' ? '_blk' : ''}`,
    params: { ...params, blocks, dqGroups, dkvGroups, dispatchX, ...plan, ...slots.params, ...rope, subgroupBounds: bounds === 'subgroup' },
    bindings: [
      ...widen(bindingsFor(p, ['dOut', 'q', 'k', 'v']), loads),
      ...bindingsFor(p, ['lse']),
      // D as attention_bwd_prep leaves it: any float for the standalone check (the oracle takes it as given)
      { name: 'dsum', access: 'read', type: 'f32', length: p.tokens * p.heads },
      ...widen([
        { name: 'dq', access: 'write' as const, type: 'f32' as const, length: p.tokens * p.heads * p.headDim },
        { name: 'dk', access: 'write' as const, type: 'f32' as const, length: kvLen },
        { name: 'dv', access: 'write' as const, type: 'f32' as const, length: kvLen },
      ], loads),
    ],
    workgroupSize: [ROW_GROUP, 1, 1],
    dispatch,
    features: ['subgroups'],
  };
}

/** The tiled variant's dq program. */
function attentionDqProgram(p: AttentionParams): KernelProgram {
  const { batch, blocks, params } = common(p);
  const { dispatch, dispatchX } = spreadWorkgroups(batch * p.heads * blocks);
  return {
    template: 'attention_dq',
    label: `attention_dq_${tag(p)}`,
    params: { ...params, dispatchX },
    bindings: [...bindingsFor(p, ['dOut', 'q', 'k', 'v', 'out', 'lse']), { name: 'dq', access: 'write', type: 'f32', length: p.tokens * p.heads * p.headDim }],
    workgroupSize: [ROWS_PER_GROUP, 1, 1],
    dispatch,
    features: [],
  };
}

/** The tiled variant's dk/dv program. */
function attentionDkvProgram(p: AttentionParams): KernelProgram {
  const { batch, blocks, params } = common(p);
  const { dispatch, dispatchX } = spreadWorkgroups(batch * p.kvHeads * blocks);
  const kvLen = p.tokens * p.kvHeads * p.headDim;
  return {
    template: 'attention_dkv',
    label: `attention_dkv_${tag(p)}`,
    params: { ...params, dispatchX },
    bindings: [
      ...bindingsFor(p, ['dOut', 'q', 'k', 'v', 'out', 'lse']),
      { name: 'dk', access: 'write', type: 'f32', length: kvLen },
      { name: 'dv', access: 'write', type: 'f32', length: kvLen },
    ],
    workgroupSize: [ROWS_PER_GROUP, 1, 1],
    dispatch,
    features: [],
  };
}

type Inputs = Readonly<Record<string, ArrayLike<number>>>;

/** Index helpers shared by the references: element c of (row t, head h). */
function indexers(p: AttentionParams) {
  return {
    qAt: (t: number, h: number, c: number) => (t * p.heads + h) * p.headDim + c,
    kvAt: (t: number, g: number, c: number) => (t * p.kvHeads + g) * p.headDim + c,
    kvHeadOf: (h: number) => Math.floor(h / (p.heads / p.kvHeads)),
  };
}

/** Scaled score of query row tq against key row tk for head h, float64. */
function score(p: AttentionParams, inputs: Inputs, tq: number, tk: number, h: number): number {
  const { qAt, kvAt, kvHeadOf } = indexers(p);
  let s = 0;
  for (let c = 0; c < p.headDim; c++) s += inputs.q[qAt(tq, h, c)] * inputs.k[kvAt(tk, kvHeadOf(h), c)];
  return s / Math.sqrt(p.headDim);
}

/** float64 forward reference: explicit softmax over each causal score row. */
export function attentionReference(p: AttentionParams, inputs: Inputs): { out: Float64Array; lse: Float64Array } {
  checkParams(p);
  const { qAt, kvAt, kvHeadOf } = indexers(p);
  const out = new Float64Array(p.tokens * p.heads * p.headDim);
  const lse = new Float64Array(p.tokens * p.heads);
  for (let t = 0; t < p.tokens; t++) {
    const first = t - (t % p.seqLen);
    for (let h = 0; h < p.heads; h++) {
      const scores: number[] = [];
      for (let tk = first; tk <= t; tk++) scores.push(score(p, inputs, t, tk, h));
      const max = Math.max(...scores);
      const sum = scores.reduce((a, s) => a + Math.exp(s - max), 0);
      lse[t * p.heads + h] = max + Math.log(sum);
      for (let j = 0; j < scores.length; j++) {
        const weight = Math.exp(scores[j] - max) / sum;
        for (let c = 0; c < p.headDim; c++) out[qAt(t, h, c)] += weight * inputs.v[kvAt(first + j, kvHeadOf(h), c)];
      }
    }
  }
  return { out, lse };
}

/** D[t, h] = Σ_c dOut[t, h, c] · out[t, h, c], float64. */
export function attentionRowDots(p: AttentionParams, inputs: Inputs): Float64Array {
  const { qAt } = indexers(p);
  const d = new Float64Array(p.tokens * p.heads);
  for (let t = 0; t < p.tokens; t++) for (let h = 0; h < p.heads; h++) for (let c = 0; c < p.headDim; c++) d[t * p.heads + h] += inputs.dOut[qAt(t, h, c)] * inputs.out[qAt(t, h, c)];
  return d;
}

/**
 * float64 backward reference from (dOut, q, k, v, out, lse), with P = exp(s − lse) and
 * D = rowsum(dOut ⊙ out): the true gradient whenever out and lse come from the forward.
 * `rowDots`: D given (as attention_bwd_prep leaves it) instead of formed from dOut and out.
 */
export function attentionBackwardReference(p: AttentionParams, inputs: Inputs, rowDots?: ArrayLike<number>): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  checkParams(p);
  const { qAt, kvAt, kvHeadOf } = indexers(p);
  const scale = 1 / Math.sqrt(p.headDim);
  const dq = new Float64Array(p.tokens * p.heads * p.headDim);
  const dk = new Float64Array(p.tokens * p.kvHeads * p.headDim);
  const dv = new Float64Array(p.tokens * p.kvHeads * p.headDim);
  const dots = rowDots ?? attentionRowDots(p, inputs);
  for (let t = 0; t < p.tokens; t++) {
    const first = t - (t % p.seqLen);
    for (let h = 0; h < p.heads; h++) {
      const g = kvHeadOf(h);
      const rowDot = dots[t * p.heads + h];
      for (let tk = first; tk <= t; tk++) {
        const prob = Math.exp(score(p, inputs, t, tk, h) - inputs.lse[t * p.heads + h]);
        let dp = 0;
        for (let c = 0; c < p.headDim; c++) dp += inputs.dOut[qAt(t, h, c)] * inputs.v[kvAt(tk, g, c)];
        const ds = prob * (dp - rowDot);
        for (let c = 0; c < p.headDim; c++) {
          dq[qAt(t, h, c)] += scale * ds * inputs.k[kvAt(tk, g, c)];
          dk[kvAt(tk, g, c)] += scale * ds * inputs.q[qAt(t, h, c)];
          dv[kvAt(tk, g, c)] += prob * inputs.dOut[qAt(t, h, c)];
        }
      }
    }
  }
  return { dq, dk, dv };
}

const TOLERANCE = { atol: 2e-5, rtol: 1e-4 };
/** The backward sums over up to S keys (dq) or S queries of every grouped head (dk, dv) in f32. */
const backwardTolerance = (p: AttentionParams) => ({ atol: 1e-5 + 4e-8 * p.seqLen * (p.heads / p.kvHeads), rtol: 1e-4 });

/** Oracles: the references above with f32 outputs, keyed by binding name. */
export const attentionOracle = (p: AttentionParams) => (inputs: Inputs) => {
  const r = attentionReference(p, inputs);
  return { out: Float32Array.from(r.out), lse: Float32Array.from(r.lse) };
};
export const attentionDqOracle = (p: AttentionParams) => (inputs: Inputs) => ({ dq: Float32Array.from(attentionBackwardReference(p, inputs).dq) });
export const attentionDkvOracle = (p: AttentionParams) => (inputs: Inputs) => {
  const r = attentionBackwardReference(p, inputs);
  return { dk: Float32Array.from(r.dk), dv: Float32Array.from(r.dv) };
};

export function attentionCase(p: AttentionParams, caps: RowKernelCaps): KernelCase {
  return { program: attentionProgram(p, caps), oracle: attentionOracle(p), tolerance: TOLERANCE };
}

/**
 * The backward's dispatches for the adapter, in order: [dq, dkv] tiled; [D, dq‖dk‖dv] row, the first writing the
 * temporary `dsum` (its length: the programs' `dsum` binding) the second reads. `ropeTheta` (only where
 * attentionGradRopeInKernel): dq and dk come out rotated back by the inverse rope, as the rope kernel would rotate them.
 */
export function attentionBackwardCases(p: AttentionParams, caps: RowKernelCaps, ropeTheta?: number): KernelCase[] {
  if (ropeTheta !== undefined && !attentionGradRopeInKernel(p, caps)) throw new InternalError(`attention backward: this adapter's kernels do not rotate dq and dk (hd ${p.headDim}); rotate them after`);
  if (attentionVariant(caps, p.headDim) === 'tiled') return [attentionDqCase(p), attentionDkvCase(p)];
  const prep = (inputs: Inputs) => ({ dsum: Float32Array.from(attentionRowDots(p, inputs)) });
  const rotate = (x: Float64Array, heads: number) =>
    ropeTheta === undefined ? x : ropeReference({ tokens: p.tokens, seqLen: p.seqLen, heads, headDim: p.headDim, theta: ropeTheta, inverse: true }, { x }).out;
  const oracle = (inputs: Inputs) => {
    const r = attentionBackwardReference(p, inputs, inputs.dsum);
    return { dq: Float32Array.from(rotate(r.dq, p.heads)), dk: Float32Array.from(rotate(r.dk, p.kvHeads)), dv: Float32Array.from(r.dv) };
  };
  // plus the rotation's error, as the rope kernel's
  const tolerance = backwardTolerance(p);
  const rowTolerance = ropeTheta === undefined ? tolerance : { ...tolerance, atol: tolerance.atol + ropeAtol(p.seqLen) };
  // D: headDim products per value
  return [
    { program: attentionBackwardPrepProgram(p), oracle: prep, tolerance: { atol: 1e-6 * p.headDim, rtol: 1e-5 } },
    { program: attentionBackwardRowProgram(p, caps, { ropeTheta }), oracle, tolerance: rowTolerance },
  ];
}

function attentionDqCase(p: AttentionParams): KernelCase {
  return { program: attentionDqProgram(p), oracle: attentionDqOracle(p), tolerance: backwardTolerance(p) };
}

function attentionDkvCase(p: AttentionParams): KernelCase {
  return { program: attentionDkvProgram(p), oracle: attentionDkvOracle(p), tolerance: backwardTolerance(p) };
}
