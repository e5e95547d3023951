// Proxy batches: the SD proxies W_c + W_u(e) (expert_weight) of several matrices of one size (experts
// and K·N: the kernel is elementwise, so [E, K, N] and [E, N, K] batch together) are
// materialised by one dispatch instead of one per matrix. Every proxy reads only params, so the
// batch can run where its first member is scheduled; its members' results are slots of one buffer
// the batch owns (pinned for the step: the proxies live from the forward to their backward GEMMs
// anyway). On lavapipe a dispatch has a fixed cost that a 4×64×128 proxy does not amortise: one
// dispatch for the demo_sd's six took 0.54–0.56 of six dispatches' time (`npm run bench --
// row-variants`, the batch pair).
// A proxy joins a batch when its W_c and W_u are params in optimizer slabs (compiler/codegen/
// slabs.ts): members of a batch read W_c from one slab buffer and W_u from one slab buffer, at their
// slots' offsets. Eval plans (no optimizer, no slabs) keep one dispatch per proxy.
// Invariants: a batch has ≥ 2 members of equal experts and K·N, its bytes fit one storage binding;
// member slots are SLAB_ALIGN-aligned and disjoint.
import type { Node } from '../ir/types.ts';
import { numel } from '../ir/types.ts';
import { SLAB_ALIGN } from './slabs.ts';

/** Where a param lives in a slab: the slab buffer's id and the byte offset of its slot. */
export type SlabSlot = { readonly of: number; readonly offset: number };

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
    const slot = Math.ceil((numel(members[0].types[0]) * 4) / SLAB_ALIGN) * SLAB_ALIGN;
    const perBatch = Math.max(1, Math.floor(maxBatchBytes / slot));
    for (let i = 0; i < members.length; i += perBatch) {
      const chunk = members.slice(i, i + perBatch);
      if (chunk.length < 2) continue;
      batches.push({ members: chunk, offsets: chunk.map((_, j) => j * slot), bytes: chunk.length * slot, experts: E, matrix: K * N });
    }
  }
  return batches;
}
