// Type inference and checking for every op: given input types and attrs, the output types, or an
// IrError saying what is wrong. The single source of truth for op signatures; the factories and the
// verifier both call it, so a graph that verifies is a graph every later stage can trust.
import type { DType, OpAttrs, OpName, TensorType } from './types.ts';
import { formatType, gatherGradOperands, gradXOperands, MAX_LOSS_ADDENDS, numel, routerOperands } from './types.ts';

export class IrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IrError';
  }
}

const t = (dtype: DType, shape: readonly number[]): TensorType => ({ dtype, shape: [...shape] });
const f32 = (shape: readonly number[]): TensorType => t('f32', shape);
const i32 = (shape: readonly number[]): TensorType => t('i32', shape);

function expect(cond: boolean, op: string, msg: string): asserts cond {
  if (!cond) throw new IrError(`${op}: ${msg}`);
}

function arity(op: string, ins: readonly TensorType[], n: number): void {
  expect(ins.length === n, op, `expects ${n} operand(s), got ${ins.length}`);
}

function dtypes(op: string, ins: readonly TensorType[], want: readonly DType[]): void {
  want.forEach((d, i) => expect(ins[i].dtype === d, op, `operand ${i} must be ${d}, got ${formatType(ins[i])}`));
}

function rank(op: string, x: TensorType, r: number, what: string): void {
  expect(x.shape.length === r, op, `${what} must have rank ${r}, got ${formatType(x)}`);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function broadcast(op: string, a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    expect(da === db || da === 1 || db === 1, op, `shapes [${a}] and [${b}] do not broadcast`);
    out.push(Math.max(da, db));
  }
  return out;
}

/** h [T,D], W [D,V] or (transW) [V,D], targets i32 [T]. */
function lmHeadOperands(op: string, h: TensorType, w: TensorType, targets: TensorType, transW: boolean): void {
  rank(op, h, 2, 'h');
  rank(op, w, 2, 'W');
  expect(h.dtype === 'f32' && w.dtype === 'f32' && targets.dtype === 'i32', op, `operands must be f32 h, f32 W, i32 targets, got ${formatType(h)}, ${formatType(w)}, ${formatType(targets)}`);
  expect(w.shape[transW ? 1 : 0] === h.shape[1], op, `W ${formatType(w)}${transW ? 'ᵀ' : ''} does not take h ${formatType(h)}`);
  expect(sameShape(targets.shape, [h.shape[0]]), op, `targets must be i32[${h.shape[0]}], got ${formatType(targets)}`);
}

type Infer<K extends OpName> = (ins: readonly TensorType[], a: Readonly<OpAttrs[K]>) => TensorType[];

const INFER: { [K in OpName]: Infer<K> } = {
  input: (ins, a) => (arity('input', ins, 0), [t(a.dtype, a.shape)]),
  param: (ins, a) => (arity('param', ins, 0), [f32(a.shape)]),
  const: (ins, a) => (arity('const', ins, 0), [f32(a.shape)]),
  unary: (ins, a) => (arity(a.fn, ins, 1), dtypes(a.fn, ins, ['f32']), [f32(ins[0].shape)]),
  binary: (ins, a) => (arity(a.fn, ins, 2), dtypes(a.fn, ins, ['f32', 'f32']), [f32(broadcast(a.fn, ins[0].shape, ins[1].shape))]),
  reduce: (ins, a) => {
    arity('reduce', ins, 1);
    const s = ins[0].shape;
    expect(a.axis >= 0 && a.axis < s.length, 'reduce', `axis ${a.axis} out of range for ${formatType(ins[0])}`);
    return [f32(a.keepDims ? s.map((d, i) => (i === a.axis ? 1 : d)) : s.filter((_, i) => i !== a.axis))];
  },
  reshape: (ins, a) => {
    arity('reshape', ins, 1);
    expect(numel(a.shape) === numel(ins[0]), 'reshape', `cannot reshape ${formatType(ins[0])} to [${a.shape}]`);
    return [t(ins[0].dtype, a.shape)];
  },
  matmul: (ins, a) => {
    // A, B; with `norm` (fuse-norm-matmul) also the RMSNorm weight of A's rows, and (y, rstd) of that norm
    arity('matmul', ins, a.norm ? 3 : 2);
    dtypes('matmul', ins.slice(0, 2), ['f32', 'f32']);
    rank('matmul', ins[0], 2, 'A');
    rank('matmul', ins[1], 2, 'B');
    const [m, k] = a.transA ? [ins[0].shape[1], ins[0].shape[0]] : ins[0].shape;
    const [k2, n] = a.transB ? [ins[1].shape[1], ins[1].shape[0]] : ins[1].shape;
    expect(k === k2, 'matmul', `inner dimensions differ: ${formatType(ins[0])}${a.transA ? 'ᵀ' : ''} · ${formatType(ins[1])}${a.transB ? 'ᵀ' : ''}`);
    if (a.rope) {
      const { theta, headDim, seqLen } = a.rope;
      expect(theta > 0 && Number.isFinite(theta), 'matmul', `rope theta must be positive, got ${theta}`);
      expect(Number.isInteger(headDim) && headDim > 0 && headDim % 2 === 0 && n % headDim === 0, 'matmul', `rope headDim ${headDim} must be even and divide the product's ${n} columns`);
      expect(Number.isInteger(seqLen) && seqLen > 0 && m % seqLen === 0, 'matmul', `rope: the product's ${m} rows must be whole sequences of ${seqLen}`);
    }
    if (!a.norm) return [f32([m, n])];
    expect(!a.transA && !a.rope, 'matmul', 'norm: A must be neither transposed nor the product roped');
    expect(a.norm.eps > 0 && Number.isFinite(a.norm.eps), 'matmul', `norm eps must be positive, got ${a.norm.eps}`);
    expect(sameShape(ins[2].shape, [k]) && ins[2].dtype === 'f32', 'matmul', `norm weight must be f32[${k}], got ${formatType(ins[2])}`);
    return [f32([m, n]), f32(ins[0].shape), f32([m])];
  },
  matmul_add: (ins, a) => {
    // c + op(A)·op(B): a matmul whose epilogue adds c (the planner updates c's buffer in place
    // when c dies here)
    arity('matmul_add', ins, 3);
    const [product] = INFER.matmul(ins.slice(0, 2), a);
    expect(sameShape(product.shape, ins[2].shape) && ins[2].dtype === 'f32', 'matmul_add', `addend ${formatType(ins[2])} must be ${formatType(product)}`);
    return [product];
  },
  embedding: (ins, a) => {
    // table, ids; with `norm` (fuse-embedding-norm) also the RMSNorm weight, and the rows' rmsnorm (y, rstd);
    // with `sort` (fuse-embedding-sort) the ids' sort for the backward last: sortedTokens [T], rowStart [V + 1]
    const sorted = a.sort ? [i32([ins[1].shape[0]]), i32([ins[0].shape[0] + 1])] : [];
    arity('embedding', ins, a.norm ? 3 : 2);
    dtypes('embedding', ins.slice(0, 2), ['f32', 'i32']);
    rank('embedding', ins[0], 2, 'table');
    rank('embedding', ins[1], 1, 'ids');
    const out = f32([ins[1].shape[0], ins[0].shape[1]]);
    if (!a.norm) return [out, ...sorted];
    expect(a.norm.eps > 0 && Number.isFinite(a.norm.eps), 'embedding', `norm eps must be positive, got ${a.norm.eps}`);
    expect(sameShape(ins[2].shape, [out.shape[1]]) && ins[2].dtype === 'f32', 'embedding', `norm weight must be f32[${out.shape[1]}], got ${formatType(ins[2])}`);
    return [out, f32(out.shape), f32([out.shape[0]]), ...sorted];
  },
  embedding_grad: (ins, a) => {
    // dOut, ids; with fuse-embedding-sort also the lookup's sortedTokens [T] and rowStart [V + 1]
    expect(ins.length === 2 || ins.length === 4, 'embedding_grad', `takes dOut, ids and optionally the ids' sort (sortedTokens, rowStart), got ${ins.length} inputs`);
    dtypes('embedding_grad', ins.slice(0, 2), ['f32', 'i32']);
    if (ins.length === 4) {
      expect(ins[2].dtype === 'i32' && sameShape(ins[2].shape, ins[1].shape), 'embedding_grad', `sortedTokens must be ${formatType(i32(ins[1].shape))}, got ${formatType(ins[2])}`);
      expect(ins[3].dtype === 'i32' && sameShape(ins[3].shape, [a.vocab + 1]), 'embedding_grad', `rowStart must be i32[${a.vocab + 1}], got ${formatType(ins[3])}`);
    }
    return [f32([a.vocab, ins[0].shape[1]])];
  },
  rmsnorm: (ins) => {
    arity('rmsnorm', ins, 2);
    rank('rmsnorm', ins[0], 2, 'x');
    expect(sameShape(ins[1].shape, [ins[0].shape[1]]), 'rmsnorm', `weight must be [${ins[0].shape[1]}], got ${formatType(ins[1])}`);
    return [f32(ins[0].shape), f32([ins[0].shape[0]])]; // y, per-row 1/rms (kept for the backward)
  },
  rmsnorm_grad: (ins) => {
    // dy, x, w, rstd, and an optional addend: dx + addend (fuse-rmsnorm-grad-add)
    expect(ins.length === 4 || ins.length === 5, 'rmsnorm_grad', `takes dy, x, w, rstd and an optional addend, got ${ins.length} inputs`);
    if (ins.length === 5) expect(sameShape(ins[4].shape, ins[1].shape) && ins[4].dtype === 'f32', 'rmsnorm_grad', `addend ${formatType(ins[4])} must be ${formatType(f32(ins[1].shape))}`);
    return [f32(ins[1].shape), f32(ins[2].shape)];
  },
  layernorm: (ins) => {
    arity('layernorm', ins, 3); // x [T,D], weight [D], bias [D]
    rank('layernorm', ins[0], 2, 'x');
    const D = ins[0].shape[1];
    expect(sameShape(ins[1].shape, [D]) && sameShape(ins[2].shape, [D]), 'layernorm', `weight and bias must be [${D}], got ${formatType(ins[1])}, ${formatType(ins[2])}`);
    return [f32(ins[0].shape), f32([ins[0].shape[0]]), f32([ins[0].shape[0]])]; // y, per-row mean and 1/std (for the backward)
  },
  layernorm_grad: (ins) => {
    arity('layernorm_grad', ins, 5); // dy, x, w, mean, rstd → dx, dw, db
    return [f32(ins[1].shape), f32(ins[2].shape), f32(ins[2].shape)];
  },
  rope: (ins, a) => {
    // x, or x and x2 rotated alike (x2 has pairHeads heads): one output per operand
    arity('rope', ins, a.pairHeads === undefined ? 1 : 2);
    rank('rope', ins[0], 2, 'x');
    expect(ins[0].shape[1] === a.heads * a.headDim, 'rope', `width ${ins[0].shape[1]} != heads·headDim ${a.heads * a.headDim}`);
    expect(ins[0].shape[0] % a.seqLen === 0, 'rope', `tokens ${ins[0].shape[0]} not a multiple of seqLen ${a.seqLen}`);
    if (a.pairHeads === undefined) return [f32(ins[0].shape)];
    rank('rope', ins[1], 2, 'x2');
    expect(sameShape(ins[1].shape, [ins[0].shape[0], a.pairHeads * a.headDim]), 'rope', `second operand ${formatType(ins[1])} must be f32[${ins[0].shape[0]},${a.pairHeads * a.headDim}] (pairHeads·headDim)`);
    return [f32(ins[0].shape), f32(ins[1].shape)];
  },
  attention: (ins, a) => {
    arity('attention', ins, 3);
    const [q, k, v] = ins;
    expect(q.shape[1] === a.heads * a.headDim, 'attention', `q width ${q.shape[1]} != heads·headDim`);
    expect(k.shape[1] === a.kvHeads * a.headDim && sameShape(k.shape, v.shape), 'attention', 'k/v must be [T, kvHeads·headDim]');
    expect(a.heads % a.kvHeads === 0, 'attention', 'heads must be a multiple of kvHeads');
    expect(q.shape[0] % a.seqLen === 0, 'attention', 'tokens not a multiple of seqLen');
    return [f32(q.shape), f32([q.shape[0], a.heads])]; // out, log-sum-exp
  },
  attention_grad: (ins, a) => {
    arity('attention_grad', ins, 6); // dOut, q, k, v, out, lse
    if (a.ropeTheta !== undefined) {
      expect(a.ropeTheta > 0 && Number.isFinite(a.ropeTheta), 'attention_grad', `ropeTheta must be positive, got ${a.ropeTheta}`);
      expect(a.headDim % 2 === 0, 'attention_grad', `a rotated head needs an even headDim, got ${a.headDim}`);
    }
    return [f32(ins[1].shape), f32(ins[2].shape), f32(ins[3].shape)];
  },
  swiglu: (ins) => {
    arity('swiglu', ins, 2);
    expect(sameShape(ins[0].shape, ins[1].shape), 'swiglu', 'gate and up must have the same shape');
    return [f32(ins[0].shape)];
  },
  swiglu_grad: (ins) => (arity('swiglu_grad', ins, 3), [f32(ins[1].shape), f32(ins[2].shape)]), // dh, g, u
  geglu: (ins) => {
    arity('geglu', ins, 2);
    expect(sameShape(ins[0].shape, ins[1].shape), 'geglu', 'gate and up must have the same shape');
    return [f32(ins[0].shape)];
  },
  geglu_grad: (ins) => (arity('geglu_grad', ins, 3), [f32(ins[1].shape), f32(ins[2].shape)]), // dh, g, u
  activation: (ins, a) => (arity(`activation ${a.fn}`, ins, 1), dtypes(`activation ${a.fn}`, ins, ['f32']), [f32(ins[0].shape)]),
  activation_grad: (ins, a) => {
    arity(`activation_grad ${a.fn}`, ins, 2); // dh, x
    expect(sameShape(ins[0].shape, ins[1].shape), 'activation_grad', 'dh and x must have the same shape');
    return [f32(ins[1].shape)];
  },
  router: (ins, a) => {
    const ops = routerOperands(a, ins);
    expect(ins.length === ops.fixed || ins.length === ops.fixed + 1, 'router', `takes ${a.project ? `x, the router matrix${a.project.norm ? ', the norm weight' : ''}` : 'logits'} and an optional bias, got ${ins.length} inputs`);
    let T: number, E: number;
    if (ops.x && ops.weight) {
      // fuse-router-logits: logits = x·W (x RMS-normalised first with project.norm), also an output
      rank('router', ops.x, 2, 'x');
      rank('router', ops.weight, 2, 'router matrix');
      expect(ops.x.shape[1] === ops.weight.shape[0], 'router', `x ${formatType(ops.x)} and the router matrix ${formatType(ops.weight)} do not chain`);
      [T, E] = [ops.x.shape[0], ops.weight.shape[1]];
      if (a.project!.norm) {
        expect(a.project!.norm.eps > 0 && Number.isFinite(a.project!.norm.eps), 'router', `norm eps must be positive, got ${a.project!.norm.eps}`);
        expect(sameShape(ops.normWeight!.shape, [ops.x.shape[1]]) && ops.normWeight!.dtype === 'f32', 'router', `norm weight must be f32[${ops.x.shape[1]}], got ${formatType(ops.normWeight!)}`);
      }
    } else {
      rank('router', ops.logits!, 2, 'logits');
      [T, E] = ops.logits!.shape;
    }
    expect(a.topK >= 1 && a.topK <= E, 'router', `topK ${a.topK} must be in [1, ${E}]`);
    if (ops.bias) expect(ops.bias.dtype === 'f32' && sameShape(ops.bias.shape, [E]), 'router', `bias must be f32[${E}], got ${formatType(ops.bias)}`);
    const groups = a.groups ?? 1;
    const top = a.topGroups ?? groups;
    expect(Number.isInteger(groups) && groups >= 1 && E % groups === 0, 'router', `groups ${groups} must divide the ${E} experts`);
    expect(Number.isInteger(top) && top >= 1 && top <= groups && a.topK <= top * (E / groups), 'router', `topGroups ${top} of ${groups} groups must hold top-${a.topK}`);
    const routed = [i32([T, a.topK]), f32([T, a.topK]), f32([T, E])]; // idx, weights, probs
    if (!a.project) return routed;
    return [...routed, f32([T, E]), ...(a.project.norm ? [f32(ops.x!.shape), f32([T])] : [])]; // logits, (y, rstd)
  },
  router_bias_update: (ins) => {
    arity('router_bias_update', ins, 2); // bias [E], idx [T,k]
    dtypes('router_bias_update', ins, ['f32', 'i32']);
    rank('router_bias_update', ins[0], 1, 'bias');
    rank('router_bias_update', ins[1], 2, 'idx');
    return [f32(ins[0].shape)];
  },
  router_grad: (ins) => (arity('router_grad', ins, 4), [f32(ins[1].shape)]), // dW, probs, idx, dProbs → dLogits
  moe_dispatch: (ins, a) => {
    // x, idx → xs (expert-sorted rows; rows past the kept total are zero), permRow (row of each
    // assignment, −1 when dropped by the capacity), kept count per expert, and the inverse map
    // srcToken / srcSlot per row (−1 past the kept total). capacityFactor 0 = dropless.
    // With `aux` (fuse-aux-loss-dispatch) also probs [T,E], dLoss [] → the load-balance loss [] and dL/dprobs [T,E].
    arity('moe_dispatch', ins, a.aux ? 4 : 2);
    dtypes('moe_dispatch', ins, a.aux ? ['f32', 'i32', 'f32', 'f32'] : ['f32', 'i32']);
    const [T, D] = ins[0].shape;
    expect(sameShape(ins[1].shape, [T, a.topK]), 'moe_dispatch', `idx must be i32[${T},${a.topK}]`);
    expect((a.capacityFactor ?? 0) >= 0, 'moe_dispatch', 'capacityFactor must be >= 0');
    const R = T * a.topK;
    const outs = [f32([R, D]), i32([R]), i32([a.experts]), i32([R]), i32([R])];
    if (!a.aux) return outs;
    expect(a.aux.kind === 'load_balance' && a.aux.experts === a.experts && a.aux.topK === a.topK, 'moe_dispatch', `the aux loss must be the load balance of these ${a.experts} experts, top-${a.topK}`);
    expect(sameShape(ins[2].shape, [T, a.experts]) && ins[3].shape.length === 0, 'moe_dispatch', `the aux loss takes probs f32[${T},${a.experts}] and dLoss f32[], got ${formatType(ins[2])} and ${formatType(ins[3])}`);
    return [...outs, f32([]), f32(ins[2].shape)];
  },
  moe_gather_grad: (ins, a) => {
    // dXs, permRow, and optionally a second dXs2 summed with dXs per row (fuse-gather-grad-add); with
    // `project` (fuse-gather-grad-matmul) then a [T,E] and b [D,E], whose a · bᵀ is added to the result
    const extra = a.project ? 2 : 0;
    expect(ins.length === 2 + extra || ins.length === 3 + extra, 'moe_gather_grad', `expects ${2 + extra} or ${3 + extra} operands, got ${ins.length}`);
    const { dXs2, project } = gatherGradOperands(a, ins);
    if (dXs2) expect(sameShape(dXs2.shape, ins[0].shape) && dXs2.dtype === ins[0].dtype, 'moe_gather_grad', 'the second dXs must have the first one\'s type');
    const out = f32([ins[0].shape[0] / a.topK, ins[0].shape[1]]);
    if (project) {
      const { a: pa, b: pb } = project;
      expect(pa.shape.length === 2 && pa.dtype === 'f32' && pa.shape[0] === out.shape[0], 'moe_gather_grad', `the product's a ${formatType(pa)} must be f32[${out.shape[0]},E]`);
      expect(pb.dtype === 'f32' && sameShape(pb.shape, [out.shape[1], pa.shape[1]]), 'moe_gather_grad', `the product's b ${formatType(pb)} must be f32[${out.shape[1]},${pa.shape[1]}]`);
    }
    return [out];
  },
  grouped_matmul: (ins, a) => {
    // xs [R,K], w [E,K,N] | (wc [K,N], wu [E,K,N]), counts per expert
    arity('grouped_matmul', ins, a.sharedWeight ? 4 : 3);
    const w = ins[a.sharedWeight ? 2 : 1];
    rank('grouped_matmul', w, 3, 'expert weights');
    expect(w.shape[0] === a.experts && w.shape[1] === ins[0].shape[1], 'grouped_matmul', `weights ${formatType(w)} do not fit xs ${formatType(ins[0])}`);
    if (a.sharedWeight) expect(sameShape(ins[1].shape, w.shape.slice(1)), 'grouped_matmul', 'shared weight must be [K,N]');
    return [f32([ins[0].shape[0], w.shape[2]])];
  },
  grouped_matmul_grad_x: (ins, a) => {
    arity('grouped_matmul_grad_x', ins, (a.sharedWeight ? 4 : 3) + (a.addend ? 1 : 0)); // dY, w | wc, wu, counts, [addend]
    const { dY, weights, addend } = gradXOperands(a, ins);
    const out = f32([dY.shape[0], weights[weights.length - 1].shape[1]]);
    if (addend) expect(sameShape(addend.shape, out.shape) && addend.dtype === 'f32', 'grouped_matmul_grad_x', `addend ${formatType(addend)} must be ${formatType(out)}`);
    return [out];
  },
  grouped_matmul_swiglu: (ins, a) => {
    // grouped_matmul's operands, then the gate g [R,N]; results u (the product) and h = silu(g) ⊙ u
    arity('grouped_matmul_swiglu', ins, a.sharedWeight ? 5 : 4);
    const [u] = INFER.grouped_matmul(ins.slice(0, -1), a);
    expect(sameShape(ins[ins.length - 1].shape, u.shape) && ins[ins.length - 1].dtype === 'f32', 'grouped_matmul_swiglu', `gate ${formatType(ins[ins.length - 1])} must be ${formatType(u)}`);
    return [u, u];
  },
  grouped_matmul_grad_x_swiglu: (ins, a) => {
    // grouped_matmul_grad_x's operands, then the forward's g and u [R,K]; results dg, du
    arity('grouped_matmul_grad_x_swiglu', ins, a.sharedWeight ? 6 : 5);
    const [dh] = INFER.grouped_matmul_grad_x(ins.slice(0, -2), a);
    for (const x of ins.slice(-2)) expect(sameShape(x.shape, dh.shape) && x.dtype === 'f32', 'grouped_matmul_grad_x_swiglu', `g and u ${formatType(x)} must be ${formatType(dh)}`);
    return [dh, dh];
  },
  grouped_matmul_grad_w: (ins, a) => {
    arity('grouped_matmul_grad_w', ins, 3); // xs, dY, counts
    return [f32([a.experts, ins[0].shape[1], ins[1].shape[1]])];
  },
  moe_combine: (ins, a) => {
    // ys, permRow, weights, and an optional addend added to the result (fuse-combine-add); with `norm`
    // (fuse-combine-norm) the addend and an RMSNorm weight, and the result's rmsnorm (y, rstd) as well
    if (a.norm) {
      expect(ins.length === 5, 'moe_combine', `with norm takes ys, permRow, weights, addend and the norm weight, got ${ins.length} inputs`);
      expect(a.norm.eps > 0 && Number.isFinite(a.norm.eps), 'moe_combine', `norm eps must be positive, got ${a.norm.eps}`);
    } else expect(ins.length === 3 || ins.length === 4, 'moe_combine', `takes ys, permRow, weights and an optional addend, got ${ins.length} inputs`);
    const y = f32([ins[0].shape[0] / a.topK, ins[0].shape[1]]);
    if (ins.length >= 4) expect(sameShape(ins[3].shape, y.shape) && ins[3].dtype === 'f32', 'moe_combine', `addend ${formatType(ins[3])} must be ${formatType(y)}`);
    if (!a.norm) return [y];
    expect(sameShape(ins[4].shape, [y.shape[1]]) && ins[4].dtype === 'f32', 'moe_combine', `norm weight must be f32[${y.shape[1]}], got ${formatType(ins[4])}`);
    return [y, f32(y.shape), f32([y.shape[0]])];
  },
  // dOut, ys, permRow, weights, srcToken, srcSlot → dYs, dW
  moe_combine_grad: (ins, a) => {
    // dOut, ys, permRow, weights, srcToken, srcSlot → dYs, dWeights; with `router` (fuse-combine-router-grad)
    // also router_grad's probs, idx, dProbs → dLogits
    // with `normGrad` (fuse-norm-grad-combine-grad) operand 0 is the norm's dy and x, w, rstd[, addend] come last → + dx, dw
    const routerArity = a.router ? 3 : 0;
    const normArity = a.normGrad ? (a.normGrad.addend ? 4 : 3) : 0;
    arity('moe_combine_grad', ins, 6 + routerArity + normArity);
    const out = [f32(ins[1].shape), f32(ins[3].shape)];
    if (a.router) {
      const [probs, idx, dProbs] = ins.slice(6, 9);
      expect(a.router.topK === a.topK && sameShape(idx.shape, ins[3].shape) && idx.dtype === 'i32', 'moe_combine_grad', `the router's idx ${formatType(idx)} must be i32[${ins[3].shape.join(',')}] (top-${a.topK})`);
      expect(probs.dtype === 'f32' && probs.shape.length === 2 && probs.shape[0] === ins[3].shape[0] && sameShape(dProbs.shape, probs.shape), 'moe_combine_grad', `the router's probs ${formatType(probs)} and dProbs ${formatType(dProbs)} must be f32[${ins[3].shape[0]},E]`);
      out.push(f32(probs.shape));
    }
    if (a.normGrad) {
      const [x, w, rstd, addend] = ins.slice(6 + routerArity);
      const dy = ins[0];
      expect(x.dtype === 'f32' && x.shape.length === 2 && sameShape(dy.shape, x.shape) && dy.dtype === 'f32', 'moe_combine_grad', `the norm's dy ${formatType(dy)} and x ${formatType(x)} must be one f32[T,D]`);
      expect(sameShape(w.shape, [x.shape[1]]) && w.dtype === 'f32' && sameShape(rstd.shape, [x.shape[0]]) && rstd.dtype === 'f32', 'moe_combine_grad', `the norm's w ${formatType(w)} and rstd ${formatType(rstd)} must be f32[${x.shape[1]}] and f32[${x.shape[0]}]`);
      if (addend) expect(sameShape(addend.shape, x.shape) && addend.dtype === 'f32', 'moe_combine_grad', `the norm's addend ${formatType(addend)} must be ${formatType(x)}`);
      out.push(f32(x.shape), f32(w.shape));
    }
    return out;
  },
  aux_loss: (ins) => {
    // probs|logits, idx; + dLoss when fused with its gradient (fuse-aux-loss): loss, then d_x;
    // + a scalar addend (fuse-aux-loss-sum): then also addend + loss
    expect(ins.length >= 2 && ins.length <= 4, 'aux_loss', `takes x, idx, an optional dLoss and then an optional addend, got ${ins.length} inputs`);
    if (ins.length === 2) return [f32([])];
    expect(ins[2].dtype === 'f32' && numel(ins[2]) === 1, 'aux_loss', `dLoss must be one f32, got ${formatType(ins[2])}`);
    if (ins.length === 3) return [f32([]), f32(ins[0].shape)];
    expect(ins[3].dtype === 'f32' && ins[3].shape.length === 0, 'aux_loss', `addend must be f32[], got ${formatType(ins[3])}`);
    return [f32([]), f32(ins[0].shape), f32([])];
  },
  aux_loss_grad: (ins) => (arity('aux_loss_grad', ins, 3), [f32(ins[1].shape)]), // dLoss, probs|logits, idx
  cross_entropy: (ins) => {
    arity('cross_entropy', ins, 2);
    dtypes('cross_entropy', ins, ['f32', 'i32']);
    expect(ins[1].shape[0] === ins[0].shape[0], 'cross_entropy', 'targets must have one entry per logits row');
    // per-row loss (0 for ignored targets < 0), and the mean over the rows that count
    return [f32([ins[0].shape[0]]), f32([])];
  },
  cross_entropy_grad: (ins) => {
    arity('cross_entropy_grad', ins, 3); // dMean[], logits, targets → dMean·(softmax − onehot)/count
    expect(ins[0].shape.length === 0, 'cross_entropy_grad', 'takes the gradient of the mean (a scalar)');
    return [f32(ins[1].shape)];
  },
  cross_entropy_fused: (ins) => {
    // logits, targets, dMean → (per-row loss, mean, dlogits): forward and gradient in one row pass;
    // scalar addends after dMean (fuse-loss-sum) → also their sum with the mean, in operand order
    expect(ins.length >= 3 && ins.length <= 3 + MAX_LOSS_ADDENDS, 'cross_entropy_fused', `expects logits, targets, dMean and up to ${MAX_LOSS_ADDENDS} addends, got ${ins.length} operands`);
    dtypes('cross_entropy_fused', ins.slice(0, 3), ['f32', 'i32', 'f32']);
    expect(ins[2].shape.length === 0, 'cross_entropy_fused', 'dMean must be a scalar');
    ins.slice(3).forEach((a, i) => expect(a.dtype === 'f32' && a.shape.length === 0, 'cross_entropy_fused', `addend ${i} must be f32[], got ${formatType(a)}`));
    const outs = [f32([ins[0].shape[0]]), f32([]), f32(ins[0].shape)];
    return ins.length > 3 ? [...outs, f32([])] : outs;
  },
  lm_head_xent: (ins, a) => {
    // h [T,D], W [D,V] (or [V,D] with transW), targets i32 [T] → per-row loss [T], mean []
    arity('lm_head_xent', ins, 3);
    lmHeadOperands('lm_head_xent', ins[0], ins[1], ins[2], a.transW);
    return [f32([ins[0].shape[0]]), f32([])];
  },
  lm_head_xent_grad: (ins, a) => {
    // dMean [], h, W, targets → dh [T,D], dW (W's shape)
    arity('lm_head_xent_grad', ins, 4);
    expect(ins[0].shape.length === 0 && ins[0].dtype === 'f32', 'lm_head_xent_grad', 'dMean must be f32[]');
    lmHeadOperands('lm_head_xent_grad', ins[1], ins[2], ins[3], a.transW);
    return [f32(ins[1].shape), f32(ins[2].shape)];
  },
  lm_head_xent_fused: (ins, a) => {
    // h, W, targets, dMean → rows [T], mean [], dh [T,D], dW
    arity('lm_head_xent_fused', ins, 4);
    expect(ins[3].shape.length === 0 && ins[3].dtype === 'f32', 'lm_head_xent_fused', 'dMean must be f32[]');
    lmHeadOperands('lm_head_xent_fused', ins[0], ins[1], ins[2], a.transW);
    return [f32([ins[0].shape[0]]), f32([]), f32(ins[0].shape), f32(ins[1].shape)];
  },
  expert_weight: (ins, a) => {
    // wc [K,N], wu [E,K,N]; with spectral also the bases U_k [K,r], V_k [N,r] its gradient rule projects onto
    arity('expert_weight', ins, a.spectral ? 4 : 2);
    expect(sameShape(ins[0].shape, ins[1].shape.slice(1)) && ins[1].shape[0] === a.experts, 'expert_weight', 'wc must be [K,N] and wu [E,K,N]');
    return [f32(ins[1].shape)];
  },
  sd_split_grad: (ins, a) => {
    arity('sd_split_grad', ins, 3); // G [E,K,N], U_k [K,r], V_k [N,r]
    const [, K, N] = ins[0].shape;
    expect(sameShape(ins[1].shape, [K, a.rank]) && sameShape(ins[2].shape, [N, a.rank]), 'sd_split_grad', 'bases must be [K,rank] and [N,rank]');
    return [f32([K, N]), f32(ins[0].shape)]; // G_c, G_u
  },
  sd_project_update: (ins, a) => {
    arity('sd_project_update', ins, 6); // W_c [K,N], W_u [E,K,N], Δ_c [K,N], Δ_u [E,K,N], U_k [K,r], V_k [N,r]
    const [K, N] = ins[0].shape;
    expect(ins[0].shape.length === 2 && sameShape(ins[1].shape, [a.experts, K, N]), 'sd_project_update', `W_c must be [K,N] and W_u [${a.experts},K,N], got ${formatType(ins[0])}, ${formatType(ins[1])}`);
    expect(sameShape(ins[2].shape, ins[0].shape) && sameShape(ins[3].shape, ins[1].shape), 'sd_project_update', 'steps must have the shapes of W_c and W_u');
    expect(sameShape(ins[4].shape, [K, a.rank]) && sameShape(ins[5].shape, [N, a.rank]), 'sd_project_update', 'bases must be [K,rank] and [N,rank]');
    return [f32(ins[0].shape), f32(ins[1].shape)];
  },
  grad_norm: (ins, a) => {
    // every gradient → [clip scale = min(1, maxNorm / (norm + 1e-6)) (1 when maxNorm is 0), norm]
    expect(ins.length >= 1, 'grad_norm', 'needs at least one gradient');
    expect(a.maxNorm >= 0, 'grad_norm', 'maxNorm must be >= 0');
    return [f32([2])];
  },
  adamw: (ins, a) => {
    // p, g, m, v, lr [], step i32 [] (runtime-fed so one pipeline serves every step), clip [scale, norm]
    arity('adamw', ins, 7);
    expect(a.resetEvery === undefined || (Number.isInteger(a.resetEvery) && a.resetEvery >= 0), 'adamw', 'resetEvery must be a non-negative integer');
    expect(ins[4].shape.length === 0 && ins[5].shape.length === 0 && ins[5].dtype === 'i32', 'adamw', 'lr must be f32[] and step i32[]');
    expect(sameShape(ins[6].shape, [2]), 'adamw', 'clip must be f32[2] (scale, norm)');
    return [f32(ins[0].shape), f32(ins[0].shape), f32(ins[0].shape)];
  },
  sgd: (ins, a) => {
    // p, g, momentum buffer, lr [] (runtime-fed), clip [scale, norm] → new p (or the step), new buffer
    arity('sgd', ins, 5);
    expect(a.momentum >= 0 && a.momentum < 1, 'sgd', 'momentum must be in [0, 1)');
    expect(a.weightDecay >= 0, 'sgd', 'weightDecay must be >= 0');
    expect(sameShape(ins[1].shape, ins[0].shape) && sameShape(ins[2].shape, ins[0].shape), 'sgd', 'gradient and momentum buffer must have the shape of the param');
    expect(ins[3].shape.length === 0, 'sgd', 'lr must be f32[]');
    expect(sameShape(ins[4].shape, [2]), 'sgd', 'clip must be f32[2] (scale, norm)');
    return [f32(ins[0].shape), f32(ins[0].shape)];
  },
};

export function inferTypes<K extends OpName>(op: K, ins: readonly TensorType[], attrs: Readonly<OpAttrs[K]>): TensorType[] {
  const fn = INFER[op] as Infer<K> | undefined;
  if (!fn) throw new IrError(`unknown op '${op}'`);
  return fn(ins, attrs);
}

export const OP_NAMES = Object.keys(INFER) as OpName[];
