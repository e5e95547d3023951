// Optimizer slabs: the params that share optimizer hyperparameters, their gradients and their
// state tensors (AdamW's two moments, SGD's momentum buffer) are each laid out back to back in one
// buffer (a slab), so the whole group is
// updated by one dispatch and its gradient norm is one reduction, instead of a few dispatches per
// param. Gradients are written straight into their slab slot by the kernel that produces them.
// Weight decay is not part of the grouping: a group's members are ordered by it and the kernels
// take one decay per element range (`decay`), so matrices and norm gains share one slab (the demo:
// 2 dispatches fewer per step; two decay ranges cost the AdamW kernel nothing measurable: 0.985 of
// the one-decay kernel's time over the demo's slab, `npm run bench -- row-variants`).
//
// A member is left out of its group (and keeps its own dispatch) when its gradient cannot own a
// slot: it is a param/input/constant or a view, it is the gradient of two params, or its producer
// also reads another gradient of the same slab (a dispatch may not bind a buffer it writes for
// reading too). A producer may write two slots of one slab: WebGPU (Dawn) rejects only writable
// bindings whose ranges overlap, and slots never do (checked on Dawn: [0,256) and [256,512) of one
// buffer bound writable twice is accepted, overlapping ranges are a validation error).
import { stableJson } from '../../base/stable-json.ts';
import type { Node, OpAttrs, Value } from '../ir/types.ts';
import { InternalError } from '../../base/errors.ts';
import { numel, sameValue } from '../ir/types.ts';

/** Slot alignment in bytes: the portable minStorageBufferOffsetAlignment. */
export const SLAB_ALIGN = 256;

/** The operands of an optimizer node (adamw, sgd): its param, gradient, state tensors in operand
 *  order, runtime-fed hyperparameters (lr, step) and clip scale; undefined for any other node. */
export function optimizerOperands(n: Node): { param: Value; grad: Value; state: Value[]; hyper: Value[]; clip: Value } | undefined {
  if (n.op === 'adamw') {
    const [param, grad, m, v, lr, step, clip] = n.inputs;
    return { param, grad, state: [m, v], hyper: [lr, step], clip };
  }
  if (n.op === 'sgd') {
    const [param, grad, buf, lr, clip] = n.inputs;
    return { param, grad, state: [buf], hyper: [lr], clip };
  }
  return undefined;
}

/** The attributes of an optimizer node (adamw or sgd: both carry a weight decay). */
function optimizerAttrs(n: Node): OpAttrs['adamw'] | OpAttrs['sgd'] {
  if (n.op !== 'adamw' && n.op !== 'sgd') throw new InternalError(`slabs: ${n.op} is no optimizer node`);
  return n.attrs;
}

/**
 * What each output of an update node overwrites in place: the input whose buffer the planner hands it
 * (adamw / sgd: the param, or in step mode the gradient, then each state tensor; sd_project_update:
 * W_c and W_u; router_bias_update: the bias), undefined for an output that gets a buffer of its own.
 * The one table of these aliases: the planner binds by it, and whoever carries a step's results
 * forward (runtime/graph-check.ts: the interpreter's next params) looks them up by it, not by name.
 */
export function inPlaceInputs(n: Node): readonly (Value | undefined)[] {
  if (n.op === 'adamw' || n.op === 'sgd') {
    const ops = optimizerOperands(n)!;
    return [n.attrs.output === 'step' ? ops.grad : ops.param, ...ops.state];
  }
  if (n.op === 'sd_project_update') return [n.inputs[0], n.inputs[1]];
  if (n.op === 'router_bias_update') return [n.inputs[0]];
  return n.types.map(() => undefined);
}

export interface SlabGroup {
  /** The optimizer nodes (all adamw or all sgd) updated together: ordered by weight decay, then schedule order. */
  readonly members: readonly Node[];
  /** Byte offset of each member's slot in every slab of the group (same layout for all four). */
  readonly offsets: readonly number[];
  readonly bytes: number;
  /** The member scheduled first: the group's one dispatch is emitted there. */
  readonly first: Node;
  /** Weight decay by element range of the slab, contiguous and covering it (padding decays with its slot). */
  readonly decay: readonly { readonly start: number; readonly end: number; readonly weightDecay: number }[];
}

export interface SlabPlan {
  readonly groups: readonly SlabGroup[];
  /** optimizer node → its group and index in it. */
  readonly memberOf: ReadonlyMap<Node, { group: number; index: number }>;
}

/**
 * `maxSlabBytes` caps each slab at what one storage binding may hold: a group that would exceed it
 * is split into several slab groups, and a param larger than the cap keeps its own buffers.
 */
export function planSlabs(order: readonly Node[], maxSlabBytes = Infinity): SlabPlan {
  const position = new Map(order.map((n, i) => [n, i]));
  // Members of one hyperparameter group are coloured greedily into sub-slabs so that no dispatch
  // reads a slab it writes: a producer that reads another member's gradient (W_c's gradient is
  // the sum of W_u's under `project update`) puts the conflicting members in different slabs of
  // the same hyperparameters, instead of leaving them out of slabs (a dispatch per param for
  // AdamW and for the norm). A producer with several gradient outputs (SD-MoE's split writes W_c's
  // and W_u's) writes disjoint slots of one slab, which is allowed.
  const candidates = new Map<string, Node[]>();
  const colours = new Map<string, Node[][]>();
  for (const n of order) {
    const operands = optimizerOperands(n);
    if (!operands) continue;
    const { param: p, grad: g, state, hyper, clip } = operands;
    const leafParams = [p, ...state].every((x) => x.node.op === 'param');
    const ownGrad = !['param', 'input', 'const', 'reshape'].includes(g.node.op);
    if (!leafParams || !ownGrad) continue;
    // Weight decay is per element range of a slab (the kernels take decay segments): params that differ
    // only in it (matrices and norm gains) share one group, so one dispatch and one norm pass fewer.
    const { weightDecay: _decay, ...shared } = optimizerAttrs(n);
    const base = `${n.op}|${stableJson(shared)}|${hyper.map((h) => position.get(h.node)).join(',')}|${position.get(clip.node)}`;
    const slabs = colours.get(base) ?? colours.set(base, []).get(base)!;
    // Only the members' gradient values conflict: reading another output of a member's gradient
    // producer is none (fuse-rmsnorm-grad-add: a norm's dx reads the previous norm's dx, while only
    // their dw live in the slab).
    const conflicts = (members: Node[]): boolean =>
      g.node.inputs.some((x) => members.some((o) => sameValue(o.inputs[1], x))) ||
      members.some((o) => o.inputs[1].node.inputs.some((x) => sameValue(x, g)));
    let colour = slabs.findIndex((c) => !conflicts(c));
    if (colour < 0) colour = slabs.push([]) - 1;
    slabs[colour].push(n);
    const key = `${base}|${colour}`;
    (candidates.get(key) ?? candidates.set(key, []).get(key)!).push(n);
  }
  const groups: SlabGroup[] = [];
  const memberOf = new Map<Node, { group: number; index: number }>();
  for (const members of candidates.values()) {
    const gradNodes = new Map<Node, Set<number>>();
    for (const n of members) {
      const g = n.inputs[1];
      gradNodes.set(g.node, (gradNodes.get(g.node) ?? new Set<number>()).add(g.index));
    }
    const kept = members.filter((n) => {
      const g = n.inputs[1];
      const sharedGrad = members.some((o) => o !== n && o.inputs[1].node === g.node && o.inputs[1].index === g.index);
      const readsSlab = g.node.inputs.some((x) => gradNodes.get(x.node)?.has(x.index));
      return !sharedGrad && !readsSlab;
    });
    const slot = (n: Node): number => Math.ceil((numel(n.types[0]) * 4) / SLAB_ALIGN) * SLAB_ALIGN;
    // equal decays side by side: two segments for the usual two decays, not one per member
    const decayOf = (n: Node): number => optimizerAttrs(n).weightDecay;
    kept.sort((a, b) => decayOf(b) - decayOf(a) || position.get(a)! - position.get(b)!);
    const chunks: Node[][] = [];
    let current: Node[] = [];
    let currentBytes = 0;
    for (const n of kept) {
      if (slot(n) > maxSlabBytes) continue;
      if (currentBytes + slot(n) > maxSlabBytes) {
        chunks.push(current);
        current = [];
        currentBytes = 0;
      }
      current.push(n);
      currentBytes += slot(n);
    }
    chunks.push(current);
    for (const chunk of chunks.filter((c) => c.length >= 2)) {
      let bytes = 0;
      const offsets = chunk.map((n) => {
        const at = bytes;
        bytes += slot(n);
        return at;
      });
      const index = groups.length;
      chunk.forEach((n, i) => memberOf.set(n, { group: index, index: i }));
      const decay: { start: number; end: number; weightDecay: number }[] = [];
      chunk.forEach((n, i) => {
        const [start, end, weightDecay] = [offsets[i] / 4, (offsets[i] + slot(n)) / 4, decayOf(n)];
        const last = decay[decay.length - 1];
        if (last && last.weightDecay === weightDecay) last.end = end;
        else decay.push({ start, end, weightDecay });
      });
      const first = chunk.reduce((a, b) => (position.get(b)! < position.get(a)! ? b : a));
      groups.push({ members: chunk, offsets, bytes, first, decay });
    }
  }
  return { groups, memberOf };
}
