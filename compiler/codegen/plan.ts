// Lowers an optimised IR graph to an execution plan: the buffers a training step needs and the
// ordered list of dispatches that run it. Each IR op's kernel lowering (compiler/codegen/lowerings.ts)
// emits one or more KernelPrograms bound to buffers by binding name. Buffers are planned by
// liveness: an activation's buffer returns to a free list after its last reader and is reused by
// later values of a fitting size, so peak memory is far below the sum of all activations.
// Invariants: params, optimizer state, inputs and graph outputs are never reused; `reshape` is a
// view (same buffer); `adamw` writes its results into the param and state buffers it read (in
// step mode, the step into its gradient's buffer); `sd_project_update` writes into W_c and W_u,
// `router_bias_update` into the bias.
// Gradient accumulation (`gradAccum` N > 1): the schedule puts every node of the update (the
// gradient norm and everything downstream of it: clip, optimizer, SD projection) after every node
// of the forward and backward pass, so dispatches [0, updateStart) are one micro-batch and the rest
// run once per optimizer step; `accumulation.add` / `.finish` fold the micro-batch gradients into
// one accumulator per slab (and per gradient outside a slab), see compiler/kernels/grad-accum.ts.
// Global-batch load balancing (`auxCounts`): every load-balance aux kernel binds a per-loss expert
// count buffer named by the loss's graph output, accumulated over the step's micro-batches by a
// counting pass ('accumulate') and read as the constant f_e by the training step ('given').
import type { DeviceCaps, RowKernelCaps } from '../../base/caps.ts';
import { InternalError } from '../../base/errors.ts';
import { topoOrder } from '../ir/graph.ts';
import type { Graph, Node, ParamInit, ParamRole, TensorType, Value } from '../ir/types.ts';
import { gradXOperands, numel } from '../ir/types.ts';
import type { KernelProgram } from './kernel.ts';
import type { KernelCase } from './kernel.ts';
import { KERNEL_LOWERINGS, lowerMatmulBatch, lowerOptimizerSlab, lowerProxyBatch, lowerSplitBatch, type LoweringContext } from './lowerings.ts';
import { planGradMatmulBatches, planMatmulBatches, planProxyBatches, planSplitBatches, type GradMatmulBatch } from './batches.ts';
import { gradAccumCase } from '../kernels/grad-accum.ts';
import { crossEntropyInPlace } from '../kernels/cross-entropy.ts';
import { inPlaceInputs, optimizerOperands, planSlabs } from './slabs.ts';

export type BufferKind = 'param' | 'state' | 'input' | 'const' | 'activation' | 'grad' | 'slab' | 'accum' | 'counts';

export interface PlanBuffer {
  readonly id: number;
  readonly bytes: number;
  readonly kind: BufferKind;
  /** Param/state/input name, or a description of the first value stored in it. */
  readonly name: string;
  /** Param/state initialiser, or the fill value of a constant. */
  readonly init?: ParamInit | { readonly kind: 'fill'; readonly value: number };
  readonly shape?: readonly number[];
  readonly group?: string;
  /** A slot inside a slab buffer (bytes at `offset` of buffer `of`), not a buffer of its own. */
  readonly view?: { readonly of: number; readonly offset: number };
}

export interface PlanDispatch {
  readonly program: KernelProgram;
  /** Buffer ids in the program's binding order. */
  readonly buffers: readonly number[];
  /** The IR op that produced this dispatch (for reports). */
  readonly op: string;
  /** The program with its CPU oracle and tolerance. */
  readonly kernel: KernelCase;
}

export interface PlanParam {
  readonly buffer: number;
  readonly type: TensorType;
  readonly group: string;
  readonly init: ParamInit;
  readonly role?: ParamRole;
}

/** How a plan runs N micro-batches per optimizer step (present when planned with gradAccum > 1). */
export interface AccumulationPlan {
  readonly microBatches: number;
  /** Dispatches [0, updateStart) are one micro-batch's forward and backward; the rest (norm,
   *  clip, optimizer) run once per step, after `finish`. */
  readonly updateStart: number;
  /** acc += g for every gradient slab and loose gradient: after micro-batches 1 … N−1. */
  readonly add: readonly PlanDispatch[];
  /** g = (g + acc)/N, acc = 0: after micro-batch N, before the update. */
  readonly finish: readonly PlanDispatch[];
}

export interface PlanOptions {
  /** Micro-batches per optimizer step (default 1: no accumulation). */
  readonly gradAccum?: number;
  /** Global-batch load balancing: the counting pass accumulates expert counts, the step reads them. */
  readonly auxCounts?: 'accumulate' | 'given';
}

export interface ExecutionPlan {
  readonly buffers: readonly PlanBuffer[];
  readonly dispatches: readonly PlanDispatch[];
  /** Graph output name → buffer and type. */
  readonly outputs: Readonly<Record<string, { buffer: number; type: TensorType }>>;
  /** Input name → buffer and type. */
  readonly inputs: Readonly<Record<string, { buffer: number; type: TensorType }>>;
  /** Param or optimizer-state name → buffer, with its role (compiler/ir/types.ts#ParamRole) when it has one. */
  readonly params: Readonly<Record<string, PlanParam>>;
  /** Present with gradAccum > 1. */
  readonly accumulation?: AccumulationPlan;
  /** With `auxCounts`: load-balance output name → its expert-count buffer (u32 [E]), shared by name
   *  between the counting plan and the step plan like params. */
  readonly auxCounts?: Readonly<Record<string, number>>;
  /** Bytes of all buffers together (what the device must hold). */
  readonly totalBytes: number;
  /** Bytes that activations would take without reuse, for the report. */
  readonly unplannedActivationBytes: number;
}

/**
 * The input whose buffer output `i` of `node` takes over when that input dies at this node (its
 * last reader, and the buffer's owner): matmul_add's addend (the GEMM accumulates into it), a grouped
 * data gradient's addend (fuse-grad-x-add: likewise) and, where
 * the adapter's kernel rewrites its rows in place (crossEntropyInPlace), cross_entropy_fused's logits
 * (dlogits written over them). Its lowering sees the same buffer id as input and output and picks
 * the in-place program.
 */
function handOverInput(node: Node, i: number, caps: RowKernelCaps): Value | undefined {
  if (node.op === 'matmul_add' && i === 0) return node.inputs[2];
  if (node.op === 'grouped_matmul_grad_x' && i === 0) return gradXOperands(node.attrs, node.inputs).addend;
  if (node.op === 'cross_entropy_fused' && i === 2 && crossEntropyInPlace(caps)) return node.inputs[0];
  return undefined;
}

/** The params whose role is of `kind`, by name (in plan order). */
export function paramsWithRole<K extends ParamRole['kind']>(plan: ExecutionPlan, kind: K): { name: string; spec: PlanParam; role: Extract<ParamRole, { kind: K }> }[] {
  const out: { name: string; spec: PlanParam; role: Extract<ParamRole, { kind: K }> }[] = [];
  for (const [name, spec] of Object.entries(plan.params)) if (spec.role?.kind === kind) out.push({ name, spec, role: spec.role as Extract<ParamRole, { kind: K }> });
  return out;
}

/**
 * The index of the first dispatch that binds any byte of the given buffers (dispatches.length when
 * none does). Views count by the bytes they cover: a dispatch binding a whole slab touches every
 * slot in it, and two slots of one slab touch only when their ranges overlap.
 */
export function firstDispatchTouching(plan: ExecutionPlan, bufferIds: readonly number[]): number {
  const extent = (id: number): { root: number; from: number; to: number } => {
    let root = id;
    let from = 0;
    while (plan.buffers[root].view) {
      from += plan.buffers[root].view!.offset;
      root = plan.buffers[root].view!.of;
    }
    return { root, from, to: from + plan.buffers[id].bytes };
  };
  const wanted = bufferIds.map(extent);
  const touches = (id: number): boolean => {
    const b = extent(id);
    return wanted.some((w) => w.root === b.root && w.from < b.to && b.from < w.to);
  };
  const i = plan.dispatches.findIndex((d) => d.buffers.some(touches));
  return i < 0 ? plan.dispatches.length : i;
}

/** Where a plan's device memory goes; every buffer of a step program lives for the whole step,
 *  so `total` is also the program's peak. */
export interface PlanMemory {
  readonly total: number;
  /** Params, gradients and optimizer state (slabs and stand-alone param/state buffers). */
  readonly state: number;
  /** Activations and scratch after liveness-based reuse. */
  readonly activations: number;
  /** Inputs (tokens, targets, optimizer scalars) and constants. */
  readonly inputs: number;
}

export function planMemory(plan: ExecutionPlan): PlanMemory {
  let state = 0;
  let activations = 0;
  let inputs = 0;
  for (const b of plan.buffers) {
    if (b.view) continue;
    if (b.kind === 'activation') activations += b.bytes;
    else if (b.kind === 'input' || b.kind === 'const') inputs += b.bytes;
    else state += b.bytes;
  }
  return { total: state + activations + inputs, state, activations, inputs };
}

const bytesOf = (t: TensorType): number => Math.max(4, numel(t) * 4);
const ALIGN = 256;
const roundUp = (b: number): number => Math.ceil(b / ALIGN) * ALIGN;

class BufferPool {
  readonly buffers: PlanBuffer[] = [];
  private readonly free: number[] = [];

  create(bytes: number, kind: BufferKind, name: string, extra: Partial<PlanBuffer> = {}): number {
    const id = this.buffers.length;
    this.buffers.push({ id, bytes: roundUp(bytes), kind, name, ...extra });
    return id;
  }

  createView(of: number, offset: number, bytes: number, kind: BufferKind, name: string, extra: Partial<PlanBuffer> = {}): number {
    const id = this.buffers.length;
    this.buffers.push({ id, bytes: roundUp(bytes), kind, name, view: { of, offset }, ...extra });
    return id;
  }

  /** Best fit among free activation buffers no more than twice the size, else a new one. */
  acquire(bytes: number, name: string): number {
    const need = roundUp(bytes);
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const b = this.buffers[this.free[i]].bytes;
      if (b >= need && b <= 2 * need && (best < 0 || b < this.buffers[this.free[best]].bytes)) best = i;
    }
    if (best >= 0) return this.free.splice(best, 1)[0];
    return this.create(need, 'activation', name);
  }

  release(id: number): void {
    if (this.buffers[id].kind === 'activation' && !this.free.includes(id)) this.free.push(id);
  }
}

/** Nodes of the update: the gradient norm and everything that reads it, directly or not. */
function updateNodes(order: readonly Node[]): Set<Node> {
  const update = new Set<Node>();
  for (const n of order) if (n.op === 'grad_norm' || n.inputs.some((v) => update.has(v.node))) update.add(n);
  return update;
}

/** Load-balance aux nodes (forward and gradient) → the graph output naming the loss. */
function loadBalanceNames(g: Graph, order: readonly Node[]): Map<Node, string> {
  const byRouter = new Map<string, string>();
  const position = new Map(order.map((n, i) => [n, i]));
  const key = (v: Value): string => `${position.get(v.node)}:${v.index}`;
  const names = new Map<Node, string>();
  for (const [name, v] of Object.entries(g.outputs)) {
    if (v.node.op === 'aux_loss' && v.node.attrs.kind === 'load_balance' && v.index === 0) {
      names.set(v.node, name);
      byRouter.set(key(v.node.inputs[1]), name);
    }
    // a dispatch that computes the loss of its routing (fuse-aux-loss-dispatch): its sixth result
    if (v.node.op === 'moe_dispatch' && v.node.attrs.aux && v.index === 5) names.set(v.node, name);
  }
  for (const n of order) {
    if (n.op === 'aux_loss' && n.attrs.kind === 'load_balance' && !names.has(n)) throw new InternalError('global load balancing: a load-balance loss is not a graph output');
    if (n.op === 'moe_dispatch' && n.attrs.aux && !names.has(n)) throw new InternalError('global load balancing: a dispatch\'s load-balance loss is not a graph output');
    if (n.op === 'aux_loss_grad' && n.attrs.kind === 'load_balance') {
      const name = byRouter.get(key(n.inputs[2]));
      if (!name) throw new InternalError('global load balancing: a load-balance gradient has no forward loss among the outputs');
      names.set(n, name);
    }
  }
  return names;
}

export function planGraph(g: Graph, caps: DeviceCaps, options: PlanOptions = {}): ExecutionPlan {
  const microBatches = options.gradAccum ?? 1;
  if (!(Number.isInteger(microBatches) && microBatches >= 1)) throw new InternalError(`planGraph: gradAccum must be a positive integer, got ${microBatches}`);
  const topo = topoOrder(g);
  // With accumulation the update runs after the whole micro-batch: a valid order, since nothing
  // outside the update reads from it (anything that did would be in it).
  const update = microBatches > 1 ? updateNodes(topo) : new Set<Node>();
  if (microBatches > 1 && update.size === 0) throw new InternalError('planGraph: gradient accumulation needs a training graph (no grad_norm node)');
  const order = microBatches > 1 ? [...topo.filter((n) => !update.has(n)), ...topo.filter((n) => update.has(n))] : topo;
  const lbNames = options.auxCounts ? loadBalanceNames(g, order) : new Map<Node, string>();
  const auxCounts: Record<string, number> = {};
  const pool = new BufferPool();
  const bufferOf = new Map<Node, number[]>();
  const pinned = new Set<number>();
  const inputs: Record<string, { buffer: number; type: TensorType }> = {};
  const params: Record<string, PlanParam> = {};
  const dispatches: PlanDispatch[] = [];
  let unplanned = 0;

  // Last reader of every node (position in `order`); graph outputs live to the end.
  const lastUse = new Map<Node, number>();
  order.forEach((n, i) => n.inputs.forEach((v) => lastUse.set(v.node, i)));
  for (const v of Object.values(g.outputs)) lastUse.set(v.node, order.length);
  // A view (reshape) keeps its source alive as long as the view itself is alive.
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i];
    if (n.op === 'reshape') {
      const src = n.inputs[0].node;
      lastUse.set(src, Math.max(lastUse.get(src) ?? i, lastUse.get(n) ?? i));
    }
  }

  const dying = new Map<number, Node[]>();
  order.forEach((n, i) => {
    const at = lastUse.get(n) ?? i; // unused results die where they are made
    (dying.get(at) ?? dying.set(at, []).get(at)!).push(n);
  });

  // Optimizer slabs: params, grads and moments of each AdamW group back to back (see slabs.ts).
  const slabs = planSlabs(order, Math.min(caps.maxStorageBufferBindingSize, caps.maxBufferSize));
  const slotOf = new Map<Node, { of: number; offset: number }>();
  const gradSlot = new Map<Node, Map<number, { of: number; offset: number }>>();
  const slabBuffers = slabs.groups.map((group, gi) => {
    const stateNames = group.members[0].op === 'sgd' ? ['momentum'] : ['adam_m', 'adam_v'];
    const [p, gr, ...state] = ['params', 'grads', ...stateNames].map((what) => {
      const id = pool.create(group.bytes, 'slab', `slab${gi}.${what}`);
      pinned.add(id);
      return id;
    });
    group.members.forEach((n, i) => {
      const offset = group.offsets[i];
      const ops = optimizerOperands(n)!;
      slotOf.set(ops.param.node, { of: p, offset });
      ops.state.forEach((s, k) => slotOf.set(s.node, { of: state[k], offset }));
      const g = ops.grad;
      gradSlot.set(g.node, (gradSlot.get(g.node) ?? new Map()).set(g.index, { of: gr, offset }));
    });
    return { p, g: gr, state };
  });

  // Proxy batches: the SD proxies of matrices of one size in one dispatch (see batches.ts); each
  // member's result is a slot of its batch's buffer, pinned for the step.
  const maxBinding = Math.min(caps.maxStorageBufferBindingSize, caps.maxBufferSize);
  const proxyBatches = planProxyBatches(order, slotOf, maxBinding);
  const proxySlot = new Map<Node, { batch: number; offset: number }>();
  const proxyBuffers = proxyBatches.map((batch, bi) => {
    const id = pool.create(batch.bytes, 'activation', `sd_proxies${bi}`);
    pinned.add(id);
    batch.members.forEach((n, i) => proxySlot.set(n, { batch: bi, offset: batch.offsets[i] }));
    return id;
  });

  // Split batches (CPU adapters' gradient split pair, see batches.ts): the members' G in one buffer the
  // batch owns, U's and V's in one basis buffer each; the last member emits the two dispatches.
  const splitBatches = planSplitBatches(order, gradSlot, slotOf, caps);
  const splitMember = new Map<Node, number>();
  const splitG = new Map<Node, Map<number, { of: number; offset: number }>>();
  const splitBuffers = splitBatches.map((batch, bi) => {
    const count = batch.members.length;
    const [g, u, v] = [
      pool.create(count * batch.slot.g, 'activation', `sd_split${bi}.g`),
      pool.create(count * batch.slot.u, 'param', `sd_split${bi}.U_k`),
      pool.create(count * batch.slot.v, 'param', `sd_split${bi}.V_k`),
    ];
    for (const id of [g, u, v]) pinned.add(id);
    batch.members.forEach((n, j) => {
      splitMember.set(n, bi);
      const G = n.inputs[0];
      splitG.set(G.node, (splitG.get(G.node) ?? new Map()).set(G.index, { of: g, offset: j * batch.slot.g }));
      slotOf.set(n.inputs[1].node, { of: u, offset: j * batch.slot.u });
      slotOf.set(n.inputs[2].node, { of: v, offset: j * batch.slot.v });
    });
    return { g, u, v };
  });

  // Matmul batches (shared A, B in neighbouring slab slots, see batches.ts): the first member emits
  // one batched GEMM into a buffer from the pool whose slots are the members' results; the buffer
  // returns to the pool when every member's result has died.
  const matmulBatches = planMatmulBatches(order, slotOf, caps);
  const matmulMember = new Map<Node, { batch: number; index: number }>();
  matmulBatches.forEach((b, bi) => b.members.forEach((n, index) => matmulMember.set(n, { batch: bi, index })));
  const matmulBuffers = new Map<number, { root: number; views: number[]; live: number }>();

  // Weight-gradient batches (shared A, results in neighbouring gradient slots, see batches.ts): the
  // members' B are slots of a pool buffer taken when the first of them is made; it goes back to the
  // pool once the batch has run (at its last member) and every producer of its B values has died.
  const gradBatches: GradMatmulBatch[] = [];
  const gradMember = new Map<Node, number>();
  const gradB = new Map<Node, Map<number, { batch: number; j: number }>>();
  const claimed = (v: Value) => splitG.get(v.node)?.has(v.index) === true || gradB.get(v.node)?.has(v.index) === true;
  for (const batch of planGradMatmulBatches(order, gradSlot, claimed)) {
    if (batch.bValues.some(claimed)) continue; // a value can sit in one batch's buffer only
    const bi = gradBatches.push(batch) - 1;
    batch.members.forEach((n) => gradMember.set(n, bi));
    batch.bValues.forEach((v, j) => gradB.set(v.node, (gradB.get(v.node) ?? new Map()).set(v.index, { batch: bi, j })));
  }
  const gradBBuffers = new Map<number, { root: number; refs: number }>();
  const gradBRelease = (bi: number): void => {
    const held = gradBBuffers.get(bi)!;
    if (--held.refs === 0) pool.release(held.root);
  };

  // Which node's value currently lives in each activation buffer: a buffer is released only by
  // its owner's death, so a buffer handed over in place (matmul_add) survives its old value.
  const owner = new Map<number, Node>();

  const buf = (v: Value): number => {
    const ids = bufferOf.get(v.node);
    if (!ids) throw new Error(`no buffer for ${v.node.op} output ${v.index}`);
    return ids[v.index];
  };
  const storage = (id: number): { of: number; offset: number; bytes: number } => {
    const b = pool.buffers[id];
    return b.view ? { of: b.view.of, offset: b.view.offset, bytes: b.bytes } : { of: id, offset: 0, bytes: b.bytes };
  };

  let accumulation: AccumulationPlan | undefined;
  /** Before the first update node: one accumulator per gradient slab and per loose gradient. */
  const planAccumulation = (norm: Node): void => {
    const add: PlanDispatch[] = [];
    const finish: PlanDispatch[] = [];
    const seen = new Set<string>();
    const emit = (grad: number, elements: number, name: string): void => {
      const acc = pool.create(elements * 4, 'accum', `accum:${name}`);
      pinned.add(acc);
      for (const [mode, list] of [['add', add], ['finish', finish]] as const) {
        const kernel = gradAccumCase({ length: elements, mode, scale: 1 / microBatches }, caps);
        list.push({ program: kernel.program, buffers: [grad, acc], op: 'grad_accum', kernel });
      }
    };
    const slabIds = new Set(slabBuffers.map((s) => s.g));
    for (const s of slabBuffers) emit(s.g, pool.buffers[s.g].bytes / 4, pool.buffers[s.g].name);
    norm.inputs.forEach((v) => {
      const id = buf(v);
      const at = storage(id);
      if (slabIds.has(at.of)) return;
      const elements = numel(v.node.types[v.index]);
      const key = `${at.of}:${at.offset}:${elements}`;
      if (seen.has(key)) return;
      seen.add(key);
      if (at.offset !== 0) throw new InternalError(`gradient accumulation: a gradient outside the slabs is a view at offset ${at.offset}`);
      emit(at.of, elements, pool.buffers[id].name);
    });
    accumulation = { microBatches, updateStart: dispatches.length, add, finish };
  };

  const countsBuffer = (name: string, node: Node): number => {
    if (auxCounts[name] === undefined) {
      const experts = node.op === 'aux_loss' || node.op === 'aux_loss_grad' || node.op === 'moe_dispatch' ? node.attrs.experts : 0;
      auxCounts[name] = pool.create(experts * 4, 'counts', `counts:${name}`);
      pinned.add(auxCounts[name]);
    }
    return auxCounts[name];
  };

  /** Appends dispatches of `op`'s kernels, bound by binding name; every binding must be bound to a
   *  buffer that holds it (the node lowerings' ctx.emit and the planner's own: slabs, batches). */
  const emitFor = (op: string): LoweringContext['emit'] => (kernel, bindings) => {
    const program = kernel.program;
    const ids = program.bindings.map((b) => {
      const id = bindings[b.name];
      if (id === undefined) throw new InternalError(`${op}: kernel ${program.label} binding '${b.name}' was not bound`);
      const have = pool.buffers[id].bytes;
      if (have < b.length * 4) throw new InternalError(`${op}: buffer for '${b.name}' holds ${have} bytes, kernel ${program.label} needs ${b.length * 4}`);
      // A uniform binding is bound as a window of the size it declares: the whole buffer (a pooled one
      // may be up to twice the size asked for) could pass the adapter's uniform binding limit.
      if (b.access !== 'uniform' || have <= roundUp(b.length * 4)) return id;
      const at = pool.buffers[id].view ?? { of: id, offset: 0 };
      return pool.createView(at.of, at.offset, b.length * 4, pool.buffers[at.of].kind, `${program.label}.${b.name}`);
    });
    dispatches.push({ program, buffers: ids, op, kernel });
  };

  order.forEach((node, position) => {
    if (microBatches > 1 && !accumulation && update.has(node)) {
      if (node.op !== 'grad_norm') throw new InternalError(`gradient accumulation: the update starts with ${node.op}, not grad_norm`);
      planAccumulation(node);
    }
    const mm = matmulMember.get(node);
    if (mm) {
      // A matmul batch member: its result is a slot of the batch buffer; the first member emits the batch.
      const batch = matmulBatches[mm.batch];
      if (batch.first === node) {
        const root = pool.acquire(batch.members.length * batch.cSlot, `matmul_batch${mm.batch}`);
        const views = batch.members.map((n, j) => pool.createView(root, j * batch.cSlot, bytesOf(n.types[0]), 'activation', `${n.op}#0`));
        matmulBuffers.set(mm.batch, { root, views, live: batch.members.length });
        const b = pool.createView(batch.b.of, batch.b.offset, batch.b.stride * (batch.members.length - 1) + batch.K * batch.N * 4, 'param', `matmul_batch${mm.batch}.b`);
        lowerMatmulBatch(batch, { a: buf(node.inputs[0]), b, c: root }, emitFor(node.op), caps);
      }
      const held = matmulBuffers.get(mm.batch);
      if (!held) throw new InternalError(`matmul batch ${mm.batch}: member scheduled before the batch's first`);
      bufferOf.set(node, [held.views[mm.index]]);
      freeDying(position);
      return;
    }
    const proxy = proxySlot.get(node);
    if (proxy) {
      // A proxy batch member: its result is a slot of the batch buffer; the first member emits the batch.
      const batch = proxyBatches[proxy.batch];
      const id = pool.createView(proxyBuffers[proxy.batch], proxy.offset, bytesOf(node.types[0]), 'activation', `${node.op}#0`);
      pinned.add(id);
      bufferOf.set(node, [id]);
      if (batch.members[0] !== node) return freeDying(position);
      const slab = (v: Value) => slotOf.get(v.node)!;
      const members = batch.members.map((n, i) => ({ wc: slab(n.inputs[0]).offset, wu: slab(n.inputs[1]).offset, out: batch.offsets[i] }));
      const roots = { wc: slab(node.inputs[0]).of, wu: slab(node.inputs[1]).of, out: proxyBuffers[proxy.batch] };
      lowerProxyBatch(batch, members, roots, emitFor(node.op), caps);
      freeDying(position);
      return;
    }
    switch (node.op) {
      case 'param': {
        const kind = node.attrs.group === 'optimizer_state' ? 'state' : 'param';
        const extra = { init: node.attrs.init, shape: node.attrs.shape, group: node.attrs.group };
        const slot = slotOf.get(node);
        const bytes = bytesOf(node.types[0]);
        const id = slot ? pool.createView(slot.of, slot.offset, bytes, kind, node.attrs.name, extra) : pool.create(bytes, kind, node.attrs.name, extra);
        params[node.attrs.name] = { buffer: id, type: node.types[0], group: node.attrs.group, init: node.attrs.init, ...(node.attrs.role ? { role: node.attrs.role } : {}) };
        pinned.add(id);
        bufferOf.set(node, [id]);
        return;
      }
      case 'input': {
        const id = pool.create(bytesOf(node.types[0]), 'input', node.attrs.name, { shape: node.attrs.shape });
        inputs[node.attrs.name] = { buffer: id, type: node.types[0] };
        pinned.add(id);
        bufferOf.set(node, [id]);
        return;
      }
      case 'const': {
        const id = pool.create(bytesOf(node.types[0]), 'const', `const ${node.attrs.value}`, { init: { kind: 'fill', value: node.attrs.value }, shape: node.attrs.shape });
        pinned.add(id);
        bufferOf.set(node, [id]);
        return;
      }
      case 'reshape':
        bufferOf.set(node, [buf(node.inputs[0])]);
        return;
      case 'sgd':
      case 'adamw': {
        // In place: the updated param and state overwrite the buffers they were read from; in
        // step mode the step Δ overwrites the gradient instead (it takes the gradient's buffer over,
        // which the gradient must own outright: no view, no other reader after this node).
        const member = slabs.memberOf.get(node);
        const stepMode = node.attrs.output === 'step';
        const ops = optimizerOperands(node)!;
        if (stepMode && !member) {
          const g = ops.grad;
          if (owner.get(buf(g)) !== g.node || lastUse.get(g.node) !== position) {
            throw new InternalError(`${node.op} in step mode: its gradient (${g.node.op}) must own its buffer and die at the update`);
          }
          owner.set(buf(g), node);
        }
        bufferOf.set(node, inPlaceInputs(node).map((v) => buf(v!)));
        if (!member) break;
        // One dispatch updates the whole slab group; it is emitted where the group's first member
        // is scheduled (every gradient is complete by then: the norm that feeds `clip` reads them all).
        const group = slabs.groups[member.group];
        if (group.first === node) {
          const s = slabBuffers[member.group];
          const elements = group.bytes / 4;
          lowerOptimizerSlab(node, elements, group.decay, { p: s.p, g: s.g, state: s.state, hyper: ops.hyper.map(buf), clip: buf(ops.clip) }, emitFor(node.op), caps);
        }
        return;
      }
      case 'sd_project_update':
      // In place: the new W_c and W_u overwrite the param buffers they were read from.
      case 'router_bias_update':
        // In place: the new selection bias overwrites the bias param it was read from (its only
        // other reader, the router, comes first: it produced the idx this node reads).
        bufferOf.set(node, inPlaceInputs(node).map((v) => buf(v!)));
        break;
      default:
        bufferOf.set(node, node.types.map((t, i) => {
          const slot = gradSlot.get(node)?.get(i);
          if (slot) {
            const id = pool.createView(slot.of, slot.offset, bytesOf(t), 'grad', `${node.op}#${i}`);
            pinned.add(id);
            return id;
          }
          const g = splitG.get(node)?.get(i);
          if (g) {
            const id = pool.createView(g.of, g.offset, bytesOf(t), 'activation', `${node.op}#${i}`);
            pinned.add(id);
            return id;
          }
          const gb = gradB.get(node)?.get(i);
          if (gb) {
            // a weight-gradient batch's B: its buffer is taken when the first B value is made
            const batch = gradBatches[gb.batch];
            if (!gradBBuffers.has(gb.batch)) {
              const producers = new Set(batch.bValues.map((v) => v.node)).size;
              gradBBuffers.set(gb.batch, { root: pool.acquire(batch.members.length * batch.bSlot, `grad_batch${gb.batch}.b`), refs: producers + 1 });
            }
            return pool.createView(gradBBuffers.get(gb.batch)!.root, gb.j * batch.bSlot, bytesOf(t), 'activation', `${node.op}#${i}`);
          }
          unplanned += roundUp(bytesOf(t));
          const donor = handOverInput(node, i, caps);
          if (donor && lastUse.get(donor.node) === position && donor.node.op !== 'reshape' && owner.get(buf(donor)) === donor.node) {
            owner.set(buf(donor), node);
            return buf(donor);
          }
          const id = pool.acquire(bytesOf(t), `${node.op}#${i}`);
          owner.set(id, node);
          return id;
        }));
    }
    const temps: number[] = [];
    const ctx: LoweringContext = {
      caps,
      input: (i) => buf(node.inputs[i]),
      inputType: (i) => node.inputs[i].node.types[node.inputs[i].index],
      output: (i) => bufferOf.get(node)![i],
      storage: (id) => {
        const b = pool.buffers[id];
        return b.view ? { of: b.view.of, offset: b.view.offset, bytes: b.bytes } : { of: id, offset: 0, bytes: b.bytes };
      },
      view: (id, offset, bytes, name) => {
        const root = ctx.storage(id);
        if ((root.offset + offset) % ALIGN !== 0 || offset + bytes > root.bytes) throw new InternalError(`${node.op}: view '${name}' at ${offset}+${bytes} of a ${root.bytes}-byte buffer is misaligned or out of range`);
        return pool.createView(root.of, root.offset + offset, bytes, pool.buffers[root.of].kind, `${node.op}.${name}`);
      },
      auxCounts: lbNames.has(node) && options.auxCounts ? { mode: options.auxCounts, buffer: countsBuffer(lbNames.get(node)!, node) } : undefined,
      temp: (bytes, name) => {
        const id = pool.acquire(bytes, `${node.op}.${name}`);
        temps.push(id);
        return id;
      },
      emit: emitFor(node.op),
    };
    const gradBatch = gradMember.get(node);
    const batch = splitMember.get(node);
    if (gradBatch !== undefined) {
      // a weight-gradient batch member: the last one runs the batched GEMM into the members' gradient slots
      const gb = gradBatches[gradBatch];
      if (gb.last === node) {
        const count = gb.members.length;
        const c = pool.createView(gb.c.of, gb.c.offset, gb.c.stride * (count - 1) + gb.M * gb.N * 4, 'grad', `grad_batch${gradBatch}.c`);
        const batched = { ...gb, b: { stride: gb.bSlot }, cSlot: gb.c.stride };
        lowerMatmulBatch(batched, { a: buf(node.inputs[0]), b: gradBBuffers.get(gradBatch)!.root, c }, emitFor(node.op), caps);
        gradBRelease(gradBatch);
      }
    } else if (batch !== undefined) {
      // a split batch member: the last one runs the whole batch, the others only own their results' slots
      const { members, params } = splitBatches[batch];
      if (members[members.length - 1] === node) {
        const at = (n: Node, i: number) => ctx.storage(bufferOf.get(n)![i]);
        const [gc, gu] = [at(node, 0).of, at(node, 1).of];
        const table = (f: (n: Node) => number) => members.map((n) => f(n) / 4);
        const split = {
          count: members.length,
          uAt: members.map((_, j) => (j * splitBatches[batch].slot.u) / 4),
          vAt: members.map((_, j) => (j * splitBatches[batch].slot.v) / 4),
          gcAt: table((n) => at(n, 0).offset),
          guAt: table((n) => at(n, 1).offset),
          sharedOut: gc === gu,
        };
        lowerSplitBatch(params, split, { ...splitBuffers[batch], gc, gu }, ctx);
      }
    } else {
      const lower = KERNEL_LOWERINGS[node.op] as ((n: Node, c: LoweringContext) => void) | undefined;
      if (!lower) throw new Error(`no kernel lowering for op '${node.op}'`);
      lower(node, ctx);
    }
    for (const t of temps) pool.release(t);
    // Free every value whose last reader was this node; views own no buffer of their own.
    freeDying(position);
  });

  function freeDying(position: number): void {
    for (const dead of dying.get(position) ?? []) {
      const mm = matmulMember.get(dead);
      const held = mm && matmulBuffers.get(mm.batch);
      if (held && --held.live === 0) pool.release(held.root);
      for (const bi of new Set([...(gradB.get(dead)?.values() ?? [])].map((x) => x.batch))) gradBRelease(bi);
      for (const id of bufferOf.get(dead) ?? []) {
        if (!pinned.has(id) && owner.get(id) === dead) {
          owner.delete(id);
          pool.release(id);
        }
      }
    }
  }

  const outputs: Record<string, { buffer: number; type: TensorType }> = {};
  for (const [name, v] of Object.entries(g.outputs)) outputs[name] = { buffer: buf(v), type: v.node.types[v.index] };
  return {
    buffers: pool.buffers,
    dispatches,
    outputs,
    inputs,
    params,
    ...(accumulation ? { accumulation } : {}),
    ...(options.auxCounts ? { auxCounts } : {}),
    totalBytes: pool.buffers.reduce((s, b) => s + (b.view ? 0 : b.bytes), 0),
    unplannedActivationBytes: unplanned,
  };
}
