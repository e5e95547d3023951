// Dispatch batches: nodes of one kind and shape that the planner runs as one dispatch, because on
// lavapipe every dispatch has a fixed cost that small kernels do not amortise. Four kinds:
// Proxy batches: the SD proxies W_c + W_u(e) (expert_weight) of several matrices of one size (experts
// and K·N: the kernel is elementwise, so [E, K, N] and [E, N, K] batch together) are
// materialised by one dispatch instead of one per matrix. Every proxy reads only params, so the
// batch can run where its first member is scheduled; its members' results are slots of one buffer
// the batch owns (pinned for the step: the proxies live from the forward to their backward GEMMs
// anyway). On lavapipe a dispatch has a fixed cost that a 4×64×128 proxy does not amortise: one
// dispatch for the demo_sd's six took 0.54–0.56 of six dispatches' time ad hoc at load ≈ 1, 0.874 in
// `npm run bench -- row-variants` at load 1.5–2.4 (qwen_tiny_sd's twelve 8×128×128: 1.05, no gain).
// A proxy joins a batch when its W_c and W_u are params in optimizer slabs (compiler/codegen/
// slabs.ts): members of a batch read W_c from one slab buffer and W_u from one slab buffer, at their
// slots' offsets. Eval plans (no optimizer, no slabs) keep one dispatch per proxy.
// Split batches: the SD gradient splits (sd_split_grad, CPU adapters' two-kernel pair) of matrices of
// one shape run as one sd_split_ap and one sd_split_out_pc dispatch for all of them, where the last
// member is scheduled. Their raw gradients G are slots of one buffer the batch owns (the producing
// GEMMs write there), U's and V's slots of a basis buffer each (params: written by re-basing and
// checkpoints like any slab slot), and the results are the members' slots in the gradient slab(s).
// On lavapipe a batch of the demo_sd's four gate/up splits took 0.65 (ap) and 0.75 (out_pc) of four
// dispatches' time, the two down splits 0.77 and 0.89 (ad hoc, load ≈ 1); `npm run bench -- row-variants`
// at load 1.5–2.4: 0.78, 0.83, 0.83, 0.90.
// A split joins a batch when its results are slab slots, its G is a value only it reads, its U and V
// are params nobody else lays out, and no node between the batch's first and last member reads a
// member's results (they are written only at the last).
// Matmul batches: matmuls that share A and whose B are neighbouring slab slots (q, k, v), as one
// batched GEMM (planMatmulBatches below); their results are slots of a pool buffer that returns to
// the pool when the last of them dies. Weight-gradient batches: matmuls that share A and write
// neighbouring gradient-slab slots (dW of q, k, v), as one batched GEMM at the last of them; their B
// are written by their producers into slots of a pool buffer (planGradMatmulBatches).
// Invariants: a batch has ≥ 2 members of equal experts and K·N (proxies), equal shape, rank and
// aggregate (splits) or equal shapes and one A (matmuls), and fits one storage (and, for the split's
// operands, uniform) binding; member slots are SLAB_ALIGN-aligned and disjoint. Every batch computes
// exactly what its members would one by one (the same kernels' arithmetic: the same bits).
import type { MatmulRope, Node, Value } from '../ir/types.ts';
import { numel } from '../ir/types.ts';
import { SLAB_ALIGN } from './slabs.ts';
import { sdSplitBatchFits, sdSplitPair, type SdSplitCaps, type SdSplitParams } from '../kernels/sd-split.ts';
import { matmulRopeInKernel, type MatmulCaps } from '../kernels/matmul.ts';

/** Bytes of a slot for `floats` values: SLAB_ALIGN-aligned, so every slot can be bound as a view. */
const slotBytes = (floats: number): number => Math.ceil((floats * 4) / SLAB_ALIGN) * SLAB_ALIGN;

/** Where a param lives in a slab: the slab buffer's id and the byte offset of its slot. */
export type SlabSlot = { readonly of: number; readonly offset: number };

/** Schedule positions and readers of a node order, which the planners below share. */
function scheduleOf(order: readonly Node[]) {
  const position = new Map(order.map((n, i) => [n, i]));
  const readers = new Map<Node, Node[]>();
  for (const n of order) for (const v of n.inputs) (readers.get(v.node) ?? readers.set(v.node, []).get(v.node)!).push(n);
  const at = (n: Node): number => position.get(n)!;
  return {
    at,
    readers: (n: Node): readonly Node[] => readers.get(n) ?? [],
    /** Whether a node scheduled before `position` reads a result of one of `members` (a batch emitted at `position` writes them too late). */
    readBefore: (members: readonly Node[], position: number): boolean => members.some((m) => (readers.get(m) ?? []).some((r) => at(r) < position)),
  };
}

/** M, N, K of a matmul node (op(A) is M×K, op(B) K×N). */
function matmulShape(n: Node, transA: boolean, transB: boolean): { M: number; N: number; K: number } {
  const [a, b] = n.inputs.map((v) => v.node.types[v.index].shape);
  const [M, K] = transA ? [a[1], a[0]] : [a[0], a[1]];
  return { M, N: transB ? b[0] : b[1], K };
}

/** `nodes` (sorted by `offset`) cut into maximal runs whose offsets step by one stride of at least `minStride` bytes. */
function runsAtStride(sorted: readonly Node[], offset: (n: Node) => number, minStride: number): Node[][] {
  const runs: Node[][] = [];
  let run: Node[] = [];
  for (const n of sorted) {
    const stride = run.length >= 2 ? offset(run[1]) - offset(run[0]) : run.length === 1 ? offset(n) - offset(run[0]) : 0;
    if (run.length > 0 && offset(n) - offset(run[run.length - 1]) === stride && stride >= minStride) run.push(n);
    else {
      if (run.length > 0) runs.push(run);
      run = [n];
    }
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

export interface ProxyBatch {
  /** The expert_weight nodes, in schedule order: the first one's position emits the dispatch. */
  readonly members: readonly Node[];
  /** Byte offset of each member's proxy in the batch buffer. */
  readonly offsets: readonly number[];
  readonly bytes: number;
  readonly experts: number;
  /** K·N: elements of one expert matrix. */
  readonly matrix: number;
}

/** The proxy batches of a schedule, given where the slab params live (`slotOf`, by param node). */
export function planProxyBatches(order: readonly Node[], slotOf: ReadonlyMap<Node, SlabSlot>, maxBatchBytes = Infinity): ProxyBatch[] {
  const candidates = new Map<string, Node[]>();
  for (const n of order) {
    if (n.op !== 'expert_weight' || !n.attrs.spectral) continue;
    const [wc, wu] = [n.inputs[0], n.inputs[1]];
    const [sc, su] = [slotOf.get(wc.node), slotOf.get(wu.node)];
    if (wc.node.op !== 'param' || wu.node.op !== 'param' || !sc || !su) continue;
    const [E, K, N] = wu.node.types[wu.index].shape;
    const key = `${E}:${K * N}:${sc.of}:${su.of}`;
    (candidates.get(key) ?? candidates.set(key, []).get(key)!).push(n);
  }
  const batches: ProxyBatch[] = [];
  for (const members of candidates.values()) {
    const [E, K, N] = members[0].inputs[1].node.types[0].shape;
    const slot = slotBytes(numel(members[0].types[0]));
    const perBatch = Math.max(1, Math.floor(maxBatchBytes / slot));
    for (let i = 0; i < members.length; i += perBatch) {
      const chunk = members.slice(i, i + perBatch);
      if (chunk.length < 2) continue;
      batches.push({ members: chunk, offsets: chunk.map((_, j) => j * slot), bytes: chunk.length * slot, experts: E, matrix: K * N });
    }
  }
  return batches;
}

export interface SplitBatch {
  /** The sd_split_grad nodes in schedule order: the last one's position emits the two dispatches. */
  readonly members: readonly Node[];
  readonly params: SdSplitParams;
  /** Bytes of one member's G, U and V slot in the batch's buffers (G's are back to back: its bytes are whole slots). */
  readonly slot: { readonly g: number; readonly u: number; readonly v: number };
}

/**
 * The split batches of a schedule: `gradSlot` says where each gradient output lives in the slabs,
 * `slotOf` which params already have a slot (a U or V in a slab is left alone).
 */
export function planSplitBatches(
  order: readonly Node[],
  gradSlot: ReadonlyMap<Node, ReadonlyMap<number, SlabSlot>>,
  slotOf: ReadonlyMap<Node, SlabSlot>,
  caps: SdSplitCaps,
): SplitBatch[] {
  const schedule = scheduleOf(order);
  const basisUse = new Map<Node, number>();
  for (const n of order) if (n.op === 'sd_split_grad') for (const v of n.inputs.slice(1)) basisUse.set(v.node, (basisUse.get(v.node) ?? 0) + 1);
  const candidates = new Map<string, { params: SdSplitParams; members: Node[] }>();
  for (const n of order) {
    if (n.op !== 'sd_split_grad') continue;
    const [g, u, v] = n.inputs;
    const [E, K, N] = g.node.types[g.index].shape;
    const p: SdSplitParams = { experts: E, rows: K, cols: N, rank: n.attrs.rank, aggregate: n.attrs.aggregate };
    const [gc, gu] = [gradSlot.get(n)?.get(0), gradSlot.get(n)?.get(1)];
    const ownG = !['param', 'input', 'const', 'reshape'].includes(g.node.op) && schedule.readers(g.node).every((r) => r === n) && !gradSlot.get(g.node)?.has(g.index);
    const ownBasis = (x: Value) => x.node.op === 'param' && !slotOf.has(x.node) && basisUse.get(x.node) === 1;
    if (!sdSplitPair(p, caps) || !gc || !gu || !ownG || !ownBasis(u) || !ownBasis(v) || (E * K * N * 4) % SLAB_ALIGN !== 0) continue;
    const key = `${E}:${K}:${N}:${p.rank}:${p.aggregate}:${gc.of}:${gu.of}`;
    (candidates.get(key) ?? candidates.set(key, { params: p, members: [] }).get(key)!).members.push(n);
  }
  const batches: SplitBatch[] = [];
  for (const { params: p, members } of candidates.values()) {
    const { experts: E, rows: K, cols: N } = p;
    const slot = { g: E * K * N * 4, u: slotBytes(K * p.rank), v: slotBytes(N * p.rank) };
    // Greedy in schedule order; a chunk ends where the next member would not fit or where a node
    // between its members reads a member's results before the batch (at its last member) writes them.
    let chunk: Node[] = [];
    const close = () => {
      if (chunk.length >= 2) batches.push({ members: chunk, params: p, slot });
      chunk = [];
    };
    for (const n of members) {
      const count = chunk.length + 1;
      if (schedule.readBefore(chunk, schedule.at(n)) || !sdSplitBatchFits(p, count, { u: count * slot.u, v: count * slot.v }, caps)) close();
      chunk.push(n);
    }
    close();
  }
  return batches;
}

export interface MatmulBatch {
  /** The matmul nodes in batch order (ascending B slot); the one scheduled first emits the dispatch. */
  readonly members: readonly Node[];
  readonly first: Node;
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly transA: boolean;
  readonly transB: boolean;
  /** The slab buffer holding every member's B, the first member's slot offset and the stride between slots (bytes). */
  readonly b: { readonly of: number; readonly offset: number; readonly stride: number };
  /** Bytes of one member's C in the batch buffer (SLAB_ALIGN-aligned: each C is a view). */
  readonly cSlot: number;
  /** The members' fused rope (fuse-matmul-rope): the first `entries` members carry it (q and k before v). */
  readonly rope?: MatmulRope & { readonly entries: number };
}

/**
 * Matmul batches: matmuls that share their A operand (the same value) and whose B operands are params
 * in one optimizer slab at a constant stride (q, k and v from one normalised x: their weights are
 * neighbouring slab slots) run as one batched GEMM, A broadcast (batch stride 0), B and C strided.
 * On lavapipe the demo's three 512×64×64 projections took 0.80–0.81 of three dispatches' time
 * (ad hoc, interleaved pairs, 40 rounds), 0.849 in `npm run bench -- row-variants` (qwen_tiny's 0.903).
 * Members follow the slab's order; a run of slots at one stride is a batch (≥ 2 members).
 */
export function planMatmulBatches(order: readonly Node[], slotOf: ReadonlyMap<Node, SlabSlot>, caps: MatmulCaps): MatmulBatch[] {
  const { at } = scheduleOf(order);
  const groups = new Map<string, { transA: boolean; transB: boolean; nodes: Node[] }>();
  for (const n of order) {
    if (n.op !== 'matmul') continue;
    const [a, b] = n.inputs;
    const slot = slotOf.get(b.node);
    if (b.node.op !== 'param' || !slot) continue;
    const { transA, transB } = n.attrs;
    const key = `${at(a.node)}:${a.index}:${transA}:${transB}:${b.node.types[0].shape.join('x')}:${slot.of}`;
    (groups.get(key) ?? groups.set(key, { transA, transB, nodes: [] }).get(key)!).nodes.push(n);
  }
  const batches: MatmulBatch[] = [];
  for (const { transA, transB, nodes } of groups.values()) {
    const offset = (n: Node) => slotOf.get(n.inputs[1].node)!.offset;
    const { M, N, K } = matmulShape(nodes[0], transA, transB);
    for (const strided of runsAtStride([...nodes].sort((x, y) => offset(x) - offset(y)), offset, K * N * 4)) {
      for (const { run, rope } of ropeRuns(strided, N, caps)) {
        if (run.length < 2) continue;
        const first = run.reduce((x, y) => (at(y) < at(x) ? y : x));
        const b = { of: slotOf.get(run[0].inputs[1].node)!.of, offset: offset(run[0]), stride: offset(run[1]) - offset(run[0]) };
        batches.push({ members: run, first, M, N, K, transA, transB, b, cSlot: slotBytes(M * N), ...(rope ? { rope } : {}) });
      }
    }
  }
  return batches;
}

/**
 * A run of matmuls (in slot order) cut where one batched GEMM cannot serve it: its roped members
 * (fuse-matmul-rope) must come first, all with one rope, which the GEMM can apply in its epilogue
 * (matmulRopeInKernel); a roped member that cannot join (another rope, or after an unroped one, or a
 * GEMM that cannot rope) starts a run of its own.
 */
function ropeRuns(run: readonly Node[], N: number, caps: MatmulCaps): { run: Node[]; rope?: MatmulRope & { entries: number } }[] {
  const ropeOf = (n: Node): MatmulRope | undefined => (n.op === 'matmul' ? n.attrs.rope : undefined);
  const same = (a: MatmulRope, b: MatmulRope) => a.theta === b.theta && a.headDim === b.headDim && a.seqLen === b.seqLen;
  const out: { run: Node[]; rope?: MatmulRope & { entries: number } }[] = [];
  let cur: { run: Node[]; rope?: MatmulRope & { entries: number } } | null = null;
  for (const n of run) {
    const rope = ropeOf(n);
    const joins =
      cur !== null &&
      (rope === undefined || (cur.rope !== undefined && cur.rope.entries === cur.run.length && same(cur.rope, rope)));
    if (!joins) {
      if (rope && !matmulRopeInKernel({ N, rope }, caps)) {
        out.push({ run: [n] });
        cur = null;
        continue;
      }
      cur = { run: [n], ...(rope ? { rope: { ...rope, entries: 1 } } : {}) };
      out.push(cur);
      continue;
    }
    cur!.run.push(n);
    if (rope) cur!.rope = { ...rope, entries: cur!.rope!.entries + 1 };
  }
  return out;
}

export interface GradMatmulBatch {
  /** The matmul nodes in batch order (ascending gradient slot); the one scheduled last emits the dispatch. */
  readonly members: readonly Node[];
  readonly last: Node;
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly transA: boolean;
  readonly transB: boolean;
  /** Each member's B (the value) by batch index: its producer writes it into slot j of the batch's B buffer. */
  readonly bValues: readonly Value[];
  /** Bytes of one B slot (SLAB_ALIGN-aligned). */
  readonly bSlot: number;
  /** The gradient slab holding every member's result, the first member's slot offset and the stride (bytes). */
  readonly c: { readonly of: number; readonly offset: number; readonly stride: number };
}

/**
 * Weight-gradient batches: matmuls that share A and whose results are gradient-slab slots at one
 * stride (dW_q, dW_k, dW_v = xᵀ dq, xᵀ dk, xᵀ dv: the weights, and so their gradients, are
 * neighbouring slots) run as one batched GEMM where the last of them is scheduled. Their B operands
 * are activations; their producers write them into slots of one pool buffer, which goes back to the
 * pool when the last producer's values die. On lavapipe three 64×64×512 tn GEMMs took 0.865 of three
 * dispatches' time as one batch (qwen_tiny's 128×128×1024: 0.929; `npm run bench -- row-variants`,
 * docs/results/issue8/stop22/row-variants-2.md).
 * A B value joins only when it is a plain activation (not a param, input, constant, view, gradient
 * slot or another batch's), the members' B are distinct values, and no node between the batch's first
 * and last member reads a member's result (the batch writes them all at the last).
 */
export function planGradMatmulBatches(
  order: readonly Node[],
  gradSlot: ReadonlyMap<Node, ReadonlyMap<number, SlabSlot>>,
  taken: (v: Value) => boolean,
): GradMatmulBatch[] {
  const schedule = scheduleOf(order);
  const groups = new Map<string, { transA: boolean; transB: boolean; nodes: Node[] }>();
  for (const n of order) {
    // a roped product (fuse-matmul-rope) is no weight gradient, and this batch's GEMM would drop its rope
    if (n.op !== 'matmul' || n.attrs.rope) continue;
    const [a, b] = n.inputs;
    const c = gradSlot.get(n)?.get(0);
    if (!c || ['param', 'input', 'const', 'reshape'].includes(b.node.op) || taken(b) || gradSlot.get(b.node)?.has(b.index)) continue;
    const { transA, transB } = n.attrs;
    const key = `${schedule.at(a.node)}:${a.index}:${transA}:${transB}:${b.node.types[b.index].shape.join('x')}:${c.of}`;
    (groups.get(key) ?? groups.set(key, { transA, transB, nodes: [] }).get(key)!).nodes.push(n);
  }
  const batches: GradMatmulBatch[] = [];
  for (const { transA, transB, nodes } of groups.values()) {
    const cOffset = (n: Node) => gradSlot.get(n)!.get(0)!.offset;
    const { M, N, K } = matmulShape(nodes[0], transA, transB);
    for (const run of runsAtStride([...nodes].sort((x, y) => cOffset(x) - cOffset(y)), cOffset, M * N * 4)) {
      const bValues = run.map((n) => n.inputs[1]);
      const distinct = new Set(bValues.map((v) => `${schedule.at(v.node)}:${v.index}`)).size === run.length;
      const last = run.reduce((x, y) => (schedule.at(y) > schedule.at(x) ? y : x));
      if (run.length < 2 || !distinct || schedule.readBefore(run, schedule.at(last))) continue;
      const c = { of: gradSlot.get(run[0])!.get(0)!.of, offset: cOffset(run[0]), stride: cOffset(run[1]) - cOffset(run[0]) };
      batches.push({ members: run, last, M, N, K, transA, transB, bValues, bSlot: slotBytes(K * N), c });
    }
  }
  return batches;
}
