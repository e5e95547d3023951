// Pure arithmetic of the train-step bench's per-op tables (test/bench/roofline.test.ts): the bytes
// a dispatch moves according to its kernel program's bindings, the time those bytes take at a
// measured copy bandwidth (the memory-bound time: no kernel that must read and write them can be
// faster on that adapter), the class of each IR op (matmul-like, whose time is compute, or
// per-row/elementwise, whose time should be memory), and the per-op and per-class sums.
// Nothing here measures: the GPU µs and the bandwidth come from bench/train-step.ts.
import type { KernelBinding } from '../compiler/codegen/kernel.ts';

/** Bytes per element of every binding type the kernels use (f32, u32, i32). */
const ELEMENT_BYTES = 4;

export interface DispatchBytes {
  /** Bytes read: `read`, `readwrite` and `uniform` bindings. */
  readonly read: number;
  /** Bytes written: `write` and `readwrite` bindings. */
  readonly written: number;
  readonly total: number;
}

/**
 * What one dispatch of a program reads and writes, from its bindings' element counts (a binding's
 * `length` is the number of elements the kernel touches): a `readwrite` binding counts once read
 * and once written. An upper bound on compulsory traffic and a lower bound on real traffic
 * (a GEMM reads its operands once per tile, counted here once).
 */
export function dispatchBytes(bindings: readonly Pick<KernelBinding, 'access' | 'length'>[]): DispatchBytes {
  let read = 0;
  let written = 0;
  for (const b of bindings) {
    const bytes = b.length * ELEMENT_BYTES;
    if (b.access === 'read' || b.access === 'uniform' || b.access === 'readwrite') read += bytes;
    if (b.access === 'write' || b.access === 'readwrite') written += bytes;
  }
  return { read, written, total: read + written };
}

/** µs to move `bytes` at `bytesPerSecond`. */
export function memoryBoundUs(bytes: number, bytesPerSecond: number): number {
  if (!(bytesPerSecond > 0)) throw new Error(`memoryBoundUs: bandwidth must be positive, got ${bytesPerSecond}`);
  return (bytes / bytesPerSecond) * 1e6;
}

export type OpClass = 'matmul-like' | 'per-row';

/**
 * matmul-like: dense and grouped GEMMs and their gradients, attention (QKᵀ and PV products),
 * SD-MoE's split/proxy GEMMs and the fused LM head; everything else (norms, softmax,
 * cross-entropy, router, permutation, combine, embedding, elementwise, aux losses, gradient norm,
 * optimizer) is per-row/elementwise work, the class issue 8 wants under 15 % of the step.
 */
export function classifyOp(op: string): OpClass {
  return /^(matmul|grouped_matmul|attention|sd_|lm_head)/.test(op) ? 'matmul-like' : 'per-row';
}

/**
 * The other reading of "per-row ops" (stop 26): the issue's own list of per-row kernels, which names
 * attention forward and backward and not the optimizer. True for classifyOp's per-row ops except the
 * optimizer family (AdamW, SGD, the gradient norm and accumulation, the router bias update), and for
 * attention. The bench reports the share both ways; issue 8's target was stated against its list.
 */
export function issueListPerRow(op: string): boolean {
  if (/^attention/.test(op)) return true;
  return classifyOp(op) === 'per-row' && !/^(adamw|sgd|grad_norm|grad_accum|router_bias_update)/.test(op);
}

/** GPU time of the ops `issueListPerRow` takes, and its share of all. */
export function issueListShare(ops: readonly Pick<Roofline, 'op' | 'dispatches' | 'microseconds'>[]): { dispatches: number; microseconds: number; share: number } {
  const total = ops.reduce((s, o) => s + o.microseconds, 0);
  const mine = ops.filter((o) => issueListPerRow(o.op));
  const microseconds = mine.reduce((s, o) => s + o.microseconds, 0);
  return { dispatches: mine.reduce((s, o) => s + o.dispatches, 0), microseconds, share: total > 0 ? microseconds / total : 0 };
}

/**
 * What a per-row share target asks of the issue's list of per-row kernels, against the memory-bound
 * time of their bytes (the bench's copy bandwidth). The listed kernels may cost at most
 * target / (1 - target) × the step without them (the in-place reading: share = cost ÷ (without + cost));
 * `budgetOverFloor` is that budget over their memory-bound time, the aggregate ratio to a copy of their
 * bytes they would have to reach, and `nowOverFloor` the ratio they are at in place today. `mathMs`: the
 * listed ops' counted FLOPs (attention's) at the given GFLOP/s (the dense GEMM's peak), time no byte count shows.
 */
export function issueListBudget(
  ops: readonly Pick<Roofline, 'op' | 'memoryBoundUs'>[],
  inPlace: { readonly withoutMs: number; readonly costMs: number },
  target: number,
  math?: { readonly flopsByOp: Readonly<Record<string, number>>; readonly gflops: number },
): { budgetMs: number; memoryBoundMs: number; budgetOverFloor: number; nowOverFloor: number; mathMs: number } {
  if (!(target > 0 && target < 1)) throw new Error(`issueListBudget: a share target in (0, 1), got ${target}`);
  const budgetMs = (target / (1 - target)) * inPlace.withoutMs;
  const memoryBoundMs = ops.filter((o) => issueListPerRow(o.op)).reduce((s, o) => s + o.memoryBoundUs, 0) / 1000;
  const listedFlops = math ? Object.entries(math.flopsByOp).filter(([op]) => issueListPerRow(op)).reduce((s, [, f]) => s + f, 0) : 0;
  const mathMs = math && math.gflops > 0 ? listedFlops / (math.gflops * 1e6) : 0;
  return { budgetMs, memoryBoundMs, budgetOverFloor: memoryBoundMs > 0 ? budgetMs / memoryBoundMs : Infinity, nowOverFloor: memoryBoundMs > 0 ? inPlace.costMs / memoryBoundMs : Infinity, mathMs };
}

export interface DispatchCost {
  readonly op: string;
  readonly label: string;
  readonly microseconds: number;
  readonly bytes: DispatchBytes;
}

export interface Roofline {
  readonly op: string;
  readonly opClass: OpClass;
  readonly dispatches: number;
  readonly microseconds: number;
  /** Share of the summed GPU time of all dispatches. */
  readonly share: number;
  readonly bytes: number;
  readonly memoryBoundUs: number;
  /** GPU µs ÷ memory-bound µs: 1 is as fast as copying its bytes; larger is slower. */
  readonly ratio: number;
}

/** One row per dispatch (label kept), largest GPU time first. */
export function dispatchRooflines(dispatches: readonly DispatchCost[], bytesPerSecond: number): (Roofline & { label: string })[] {
  const total = dispatches.reduce((s, d) => s + d.microseconds, 0);
  return dispatches
    .map((d) => {
      const bound = memoryBoundUs(d.bytes.total, bytesPerSecond);
      return { op: d.op, label: d.label, opClass: classifyOp(d.op), dispatches: 1, microseconds: d.microseconds, share: total > 0 ? d.microseconds / total : 0, bytes: d.bytes.total, memoryBoundUs: bound, ratio: bound > 0 ? d.microseconds / bound : Infinity };
    })
    .sort((a, b) => b.microseconds - a.microseconds);
}

/** Dispatches summed per IR op, largest GPU time first. */
export function opRooflines(dispatches: readonly DispatchCost[], bytesPerSecond: number): Roofline[] {
  const total = dispatches.reduce((s, d) => s + d.microseconds, 0);
  const byOp = new Map<string, { dispatches: number; microseconds: number; bytes: number }>();
  for (const d of dispatches) {
    const e = byOp.get(d.op) ?? { dispatches: 0, microseconds: 0, bytes: 0 };
    byOp.set(d.op, { dispatches: e.dispatches + 1, microseconds: e.microseconds + d.microseconds, bytes: e.bytes + d.bytes.total });
  }
  return [...byOp]
    .map(([op, e]) => {
      const bound = memoryBoundUs(e.bytes, bytesPerSecond);
      return { op, opClass: classifyOp(op), ...e, share: total > 0 ? e.microseconds / total : 0, memoryBoundUs: bound, ratio: bound > 0 ? e.microseconds / bound : Infinity };
    })
    .sort((a, b) => b.microseconds - a.microseconds);
}

export interface ClassShare {
  readonly opClass: OpClass;
  readonly ops: string[];
  readonly dispatches: number;
  readonly microseconds: number;
  readonly share: number;
}

/** GPU time per op class; the per-row share is issue 8's "< 15 % of the step". */
export function classShares(ops: readonly Pick<Roofline, 'op' | 'dispatches' | 'microseconds'>[]): Record<OpClass, ClassShare> {
  const total = ops.reduce((s, o) => s + o.microseconds, 0);
  const out = {} as Record<OpClass, ClassShare>;
  for (const opClass of ['matmul-like', 'per-row'] as const) {
    const mine = ops.filter((o) => classifyOp(o.op) === opClass);
    const microseconds = mine.reduce((s, o) => s + o.microseconds, 0);
    out[opClass] = { opClass, ops: mine.map((o) => o.op), dispatches: mine.reduce((s, o) => s + o.dispatches, 0), microseconds, share: total > 0 ? microseconds / total : 0 };
  }
  return out;
}
