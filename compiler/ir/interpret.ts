// Plain CPU reference interpreter for the IR, in float64 (i32 tensors stay Int32Array). It is the
// semantic oracle of the compiler: finite-difference gradient checks and "passes preserve values"
// tests run graphs through it, so every op is one small, loop-based, obviously-correct function
// with no cleverness and no shared fast paths. Tensors are flat row-major arrays; shapes come from
// the node types, which the factories already checked, so ops never re-validate shapes.
//
// Invariants: a node is evaluated once per call (topological order); inputs are never written;
// an op with integer semantics (router indices, dispatch permutation, expert counts) returns Int32Array.
import { Rng } from '../../base/rng.ts';
import { topoOrder } from './graph.ts';
import { broadcast } from './infer.ts';
import type { ActivationFn, Graph, Node, NodeOf, OpName, TensorType } from './types.ts';
import { formatType, gatherGradOperands, gradXOperands, numel, routerOperands } from './types.ts';

export type Tensor = Float64Array | Int32Array;

export interface Feeds {
  readonly inputs?: Readonly<Record<string, Tensor>>;
  readonly params?: Readonly<Record<string, Float64Array>>;
}

/** Shapes of an lm_head_xent* node: tokens T, width D, vocab V (from the h and W operands). */
function lmHeadDims(n: Node): { T: number; D: number; V: number; transW: boolean } {
  const hIndex = n.op === 'lm_head_xent_grad' ? 1 : 0;
  const [T, D] = shapeOf(n, hIndex);
  const transW = (n.attrs as { transW: boolean }).transW;
  const V = shapeOf(n, hIndex + 1)[transW ? 0 : 1];
  return { T, D, V, transW };
}

/** The whole logits h · W (W [D,V]) or h · Wᵀ (W [V,D]); the reference may materialise them. */
function lmHeadLogits(n: Node, h: Tensor, w: Tensor): Float64Array {
  const { T, D, V, transW } = lmHeadDims(n);
  const logits = new Float64Array(T * V);
  for (let t = 0; t < T; t++)
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += h[t * D + d] * (transW ? w[v * D + d] : w[d * V + v]);
      logits[t * V + v] = s;
    }
  return logits;
}

/** dh = G · Wᵀ and dW = hᵀ · G (or Gᵀ · h for transW), G = dMean · (softmax − onehot) / count. */
function lmHeadGrad(n: Node, dMean: Tensor, h: Tensor, w: Tensor, targets: Tensor): Float64Array[] {
  const { T, D, V, transW } = lmHeadDims(n);
  const logits = lmHeadLogits(n, h, w);
  const counted = countedRows(targets);
  const dh = new Float64Array(T * D);
  const dw = new Float64Array(D * V);
  for (let t = 0; t < T; t++) {
    if (targets[t] < 0) continue;
    softmaxRow(logits.subarray(t * V, (t + 1) * V)).forEach((p, v) => {
      const g = (dMean[0] * (p - (v === targets[t] ? 1 : 0))) / counted;
      for (let d = 0; d < D; d++) {
        const wi = transW ? v * D + d : d * V + v;
        dh[t * D + d] += g * w[wi];
        dw[wi] += g * h[t * D + d];
      }
    });
  }
  return [dh, dw];
}

type Impl<K extends OpName> = (node: NodeOf<K>, ins: readonly Tensor[], feeds: Feeds) => Tensor[];

const shapeOf = (n: Node, i: number): readonly number[] => n.inputs[i].node.types[n.inputs[i].index].shape;
const f64 = (t: TensorType): Float64Array => new Float64Array(numel(t));
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Token indices stably ordered by id, and rowStart[v] = #{t: ids[t] < v} (ids in [0, V): the caller checks). */
function sortIds(ids: ArrayLike<number>, V: number): [Int32Array, Int32Array] {
  const order = Int32Array.from({ length: ids.length }, (_, t) => t).sort((a, b) => ids[a] - ids[b] || a - b);
  const rowStart = new Int32Array(V + 1);
  for (let t = 0; t < ids.length; t++) rowStart[ids[t] + 1]++;
  for (let v = 1; v <= V; v++) rowStart[v] += rowStart[v - 1];
  return [order, rowStart];
}

/** op(a) [M,K] · op(b) [K,N] in float64, op = identity or transpose of the row-major stored matrix
 *  (a stored K×M when transA, b stored N×K when transB): the matmul op and the router's own product. */
function product(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number, transA = false, transB = false): Float64Array {
  const A = (i: number, k: number) => (transA ? a[k * M + i] : a[i * K + k]);
  const B = (k: number, j: number) => (transB ? b[j * K + k] : b[k * N + j]);
  const y = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let acc = 0;
    for (let k = 0; k < K; k++) acc += A(i, k) * B(k, j);
    y[i * N + j] = acc;
  }
  return y;
}

/** RMSNorm of T rows of D: y = x · rstd · w, rstd = 1/√(mean(x²) + eps) per row. One place for the
 *  rmsnorm op and the one fused into moe_combine, embedding, matmul and router (the norm fusions). */
function rmsnormRows(x: ArrayLike<number>, w: ArrayLike<number>, T: number, D: number, eps: number): { y: Float64Array; rstd: Float64Array } {
  const y = new Float64Array(T * D);
  const rstd = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let d = 0; d < D; d++) ss += x[t * D + d] ** 2;
    rstd[t] = 1 / Math.sqrt(ss / D + eps);
    for (let d = 0; d < D; d++) y[t * D + d] = x[t * D + d] * rstd[t] * w[d];
  }
  return { y, rstd };
}

/** x [T, heads·hd] with each head's (i, i + hd/2) pairs rotated by ±pos·theta^(−2i/hd), pos = t mod seqLen:
 *  the rope op, and the ropes fused into matmul and attention_grad. */
function ropeRotate(x: Tensor, T: number, a: { theta: number; heads: number; headDim: number; seqLen: number; inverse: boolean }): Float64Array {
  const { theta, heads, headDim: hd, seqLen, inverse } = a;
  const W = heads * hd;
  const half = hd / 2;
  const y = Float64Array.from(x);
  for (let t = 0; t < T; t++) {
    const p = t % seqLen;
    for (let i = 0; i < half; i++) {
      const angle = (inverse ? -1 : 1) * p * theta ** ((-2 * i) / hd);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      for (let h = 0; h < heads; h++) {
        const at = t * W + h * hd + i;
        const x1 = x[at];
        const x2 = x[at + half];
        y[at] = x1 * c - x2 * s;
        y[at + half] = x2 * c + x1 * s;
      }
    }
  }
  return y;
}

function feed(kind: string, name: string, t: TensorType, value: Tensor | undefined): Tensor {
  if (!value) throw new Error(`interpretGraph: missing ${kind} '${name}' (${formatType(t)})`);
  const wantInt = t.dtype === 'i32';
  if (wantInt !== value instanceof Int32Array) throw new Error(`interpretGraph: ${kind} '${name}' must be ${wantInt ? 'Int32Array' : 'Float64Array'}`);
  if (value.length !== numel(t)) throw new Error(`interpretGraph: ${kind} '${name}' has ${value.length} elements, ${formatType(t)} needs ${numel(t)}`);
  return value;
}

// GELU, tanh approximation: 0.5·x·(1 + tanh(k·(x + c·x³))), k = √(2/π), c = 0.044715.
const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;
const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(GELU_K * (x + GELU_C * x ** 3)));
function geluDerivative(x: number): number {
  const t = Math.tanh(GELU_K * (x + GELU_C * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_K * (1 + 3 * GELU_C * x * x);
}

/** Non-gated FFN activations and their derivatives (relu'(0) = 0, as in PyTorch). */
const ACTIVATIONS: Record<ActivationFn, { f: (x: number) => number; df: (x: number) => number }> = {
  gelu: { f: gelu, df: geluDerivative },
  relu: { f: (x) => Math.max(x, 0), df: (x) => (x > 0 ? 1 : 0) },
  silu: { f: (x) => x * sigmoid(x), df: (x) => sigmoid(x) * (1 + x * (1 - sigmoid(x))) },
};

const UNARY: Record<string, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  square: (x) => x * x,
  silu: (x) => x * sigmoid(x),
  sigmoid,
  relu: (x) => Math.max(x, 0),
  tanh: Math.tanh,
};

const BINARY: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  max: Math.max,
  min: Math.min,
};

/** Strides of `shape` aligned to an output of rank `rank`, 0 where the operand is broadcast. */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const o = outShape.length - shape.length + i;
    strides[o] = shape[i] === 1 && outShape[o] !== 1 ? 0 : s;
    s *= shape[i];
  }
  return strides;
}

/** [outer, n, inner] view of `shape` around `axis`. */
function aroundAxis(shape: readonly number[], axis: number): [number, number, number] {
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  return [outer, shape[axis], inner];
}

function softmaxRow(row: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(row));
  const e = Array.from(row, (x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

function logSumExp(row: ArrayLike<number>): number {
  const m = Math.max(...Array.from(row));
  return m + Math.log(Array.from(row).reduce((a, x) => a + Math.exp(x - m), 0));
}

/** Rows of a cross-entropy whose target is not ignored. */
const countedRows = (targets: Tensor): number => Array.from(targets).filter((x) => x >= 0).length;

/** Expert owning row r of a grouped (expert-sorted) buffer whose experts hold counts[e] rows
 *  each; −1 for padding rows past the kept total (capacity drops), which hold zeros. */
function expertOfRow(counts: Tensor, r: number): number {
  let end = 0;
  for (let e = 0; e < counts.length; e++) {
    end += counts[e];
    if (r < end) return e;
  }
  return -1;
}

/** W[e] as a K·N slice: the per-expert weight, or wc + wu[e] for a fused shared weight. */
function expertMatrix(weights: readonly Tensor[], e: number, kn: number): Float64Array {
  const w = new Float64Array(kn);
  if (weights.length === 1) {
    for (let i = 0; i < kn; i++) w[i] = weights[0][e * kn + i];
  } else {
    for (let i = 0; i < kn; i++) w[i] = weights[0][i] + weights[1][e * kn + i];
  }
  return w;
}

/** xs [R,K] · W[e] [K,N] per routed row (rows of no expert stay 0): grouped_matmul's product. */
function groupedProduct(xs: Tensor, weights: readonly Tensor[], counts: Tensor, R: number, K: number, N: number): Float64Array {
  const y = new Float64Array(R * N);
  for (let r = 0; r < R; r++) {
    const e = expertOfRow(counts, r);
    if (e < 0) continue;
    const w = expertMatrix(weights, e, K * N);
    for (let c = 0; c < N; c++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += xs[r * K + k] * w[k * N + c];
      y[r * N + c] = acc;
    }
  }
  return y;
}

/** dY [R,N] · W[e]ᵀ per routed row: grouped_matmul_grad_x's product [R,K]. */
function groupedProductGradX(dY: Tensor, weights: readonly Tensor[], counts: Tensor, R: number, K: number, N: number): Float64Array {
  const dXs = new Float64Array(R * K);
  for (let r = 0; r < R; r++) {
    const e = expertOfRow(counts, r);
    if (e < 0) continue;
    const w = expertMatrix(weights, e, K * N);
    for (let k = 0; k < K; k++) {
      let acc = 0;
      for (let c = 0; c < N; c++) acc += dY[r * N + c] * w[k * N + c];
      dXs[r * K + k] = acc;
    }
  }
  return dXs;
}

const swigluForward = (g: Tensor, u: Tensor): Float64Array => Float64Array.from(g, (x, i) => x * sigmoid(x) * u[i]);

function swigluBackward(dh: Tensor, g: Tensor, u: Tensor): [Float64Array, Float64Array] {
  const dg = new Float64Array(g.length);
  const du = new Float64Array(g.length);
  for (let i = 0; i < g.length; i++) {
    const s = sigmoid(g[i]);
    du[i] = dh[i] * g[i] * s;
    dg[i] = dh[i] * u[i] * s * (1 + g[i] * (1 - s));
  }
  return [dg, du];
}

/** Router scores of one row of logits. */
function routerScores(score: 'softmax' | 'sigmoid', row: ArrayLike<number>): number[] {
  return score === 'softmax' ? softmaxRow(row) : Array.from(row, sigmoid);
}

/** Top-k experts by score, descending, ties broken towards the lower index. */
function topK(scores: readonly number[], k: number): number[] {
  const order = scores.map((_, e) => e).sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, k);
}

/** The double-complement projection (I − U Uᵀ) G (I − V Vᵀ) of one K×N matrix G. */
function doubleComplement(g: Float64Array, u: Tensor, v: Tensor, K: number, N: number, r: number): Float64Array {
  // left = (I − U Uᵀ) G
  const utg = new Float64Array(r * N);
  for (let a = 0; a < r; a++) for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) utg[a * N + n] += u[k * r + a] * g[k * N + n];
  const left = Float64Array.from(g);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) for (let a = 0; a < r; a++) left[k * N + n] -= u[k * r + a] * utg[a * N + n];
  // left (I − V Vᵀ)
  const lv = new Float64Array(K * r);
  for (let k = 0; k < K; k++) for (let a = 0; a < r; a++) for (let n = 0; n < N; n++) lv[k * r + a] += left[k * N + n] * v[n * r + a];
  const res = Float64Array.from(left);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) for (let a = 0; a < r; a++) res[k * N + n] -= lv[k * r + a] * v[n * r + a];
  return res;
}

const OPS: { [K in OpName]: Impl<K> } = {
  input: (n, _ins, feeds) => [feed('input', n.attrs.name, n.types[0], feeds.inputs?.[n.attrs.name])],
  param: (n, _ins, feeds) => [feed('param', n.attrs.name, n.types[0], feeds.params?.[n.attrs.name])],
  const: (n) => [f64(n.types[0]).fill(n.attrs.value)],

  unary: (n, [x]) => {
    const f = UNARY[n.attrs.fn];
    return [Float64Array.from(x, f)];
  },

  binary: (n, [a, b]) => {
    const f = BINARY[n.attrs.fn];
    const outShape = broadcast(n.attrs.fn, shapeOf(n, 0), shapeOf(n, 1));
    const sa = broadcastStrides(shapeOf(n, 0), outShape);
    const sb = broadcastStrides(shapeOf(n, 1), outShape);
    const y = new Float64Array(numel(outShape));
    const idx = new Array<number>(outShape.length).fill(0);
    for (let i = 0; i < y.length; i++) {
      let ia = 0;
      let ib = 0;
      for (let d = 0; d < idx.length; d++) {
        ia += idx[d] * sa[d];
        ib += idx[d] * sb[d];
      }
      y[i] = f(a[ia], b[ib]);
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d] < outShape[d]) break;
        idx[d] = 0;
      }
    }
    return [y];
  },

  reduce: (n, [x]) => {
    const [outer, len, inner] = aroundAxis(shapeOf(n, 0), n.attrs.axis);
    const y = new Float64Array(outer * inner);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let acc = n.attrs.fn === 'max' ? -Infinity : 0;
        for (let j = 0; j < len; j++) {
          const v = x[(o * len + j) * inner + i];
          acc = n.attrs.fn === 'max' ? Math.max(acc, v) : acc + v;
        }
        y[o * inner + i] = n.attrs.fn === 'mean' ? acc / len : acc;
      }
    }
    return [y];
  },

  reshape: (_n, [x]) => [x.slice()],

  matmul: (n, [x, b, normWeight]) => {
    const { transA, transB } = n.attrs;
    const [ra, ca] = shapeOf(n, 0);
    const [rb, cb] = shapeOf(n, 1);
    const M = transA ? ca : ra;
    const K = transA ? ra : ca;
    const N = transB ? rb : cb;
    // fuse-norm-matmul: exactly the rmsnorm that was fused in, of A's rows, then the product of its y
    const normed = n.attrs.norm ? rmsnormRows(x, normWeight, ra, ca, n.attrs.norm.eps) : undefined;
    const y = product(normed ? normed.y : x, b, M, K, N, transA, transB);
    // fuse-matmul-rope: exactly the rope that was fused in, on the product.
    const rope = n.attrs.rope;
    if (normed) return [y, normed.y, normed.rstd];
    return [rope ? ropeRotate(y, M, { ...rope, heads: N / rope.headDim, inverse: false }) : y];
  },

  matmul_add: (n, [a, b, c]) => {
    const [y] = OPS.matmul({ ...n, op: 'matmul', inputs: n.inputs.slice(0, 2) } as never, [a, b], {}) as Float64Array[];
    for (let i = 0; i < y.length; i++) y[i] += c[i];
    return [y];
  },

  embedding: (n, [table, ids, normWeight]) => {
    const [V, D] = shapeOf(n, 0);
    const y = f64(n.types[0]);
    ids.forEach((id, t) => {
      if (id < 0 || id >= V) throw new Error(`embedding: id ${id} out of range [0, ${V})`);
      for (let d = 0; d < D; d++) y[t * D + d] = table[id * D + d];
    });
    // fuse-embedding-sort: the ids' stable sort and bucket starts, as embedding_sort computes them
    const sorted = n.attrs.sort ? sortIds(ids, V) : [];
    if (!n.attrs.norm) return [y, ...sorted];
    // fuse-embedding-norm: exactly the rmsnorm that was fused in, of the rows looked up
    const { y: normed, rstd } = rmsnormRows(y, normWeight, ids.length, D, n.attrs.norm.eps);
    return [y, normed, rstd, ...sorted];
  },

  embedding_grad: (n, [dOut, ids]) => {
    const D = shapeOf(n, 0)[1];
    const dTable = f64(n.types[0]);
    ids.forEach((id, t) => {
      for (let d = 0; d < D; d++) dTable[id * D + d] += dOut[t * D + d];
    });
    return [dTable];
  },

  rmsnorm: (n, [x, w]) => {
    const [T, D] = shapeOf(n, 0);
    const { y, rstd } = rmsnormRows(x, w, T, D, n.attrs.eps);
    return [y, rstd];
  },

  rmsnorm_grad: (n, [dy, x, w, rstd, addend]) => {
    // y = x·r·w with r = (mean x² + eps)^(-1/2) (the forward's rstd), so
    // dx = r·g − r³·x·mean(g·x) where g = dy·w; plus the optional addend, added last (as the
    // binary add it replaces did).
    const [T, D] = shapeOf(n, 1);
    const dx = new Float64Array(T * D);
    const dw = new Float64Array(D);
    for (let t = 0; t < T; t++) {
      let gx = 0;
      for (let d = 0; d < D; d++) gx += dy[t * D + d] * w[d] * x[t * D + d];
      const r = rstd[t];
      for (let d = 0; d < D; d++) {
        dx[t * D + d] = r * dy[t * D + d] * w[d] - r ** 3 * x[t * D + d] * (gx / D);
        dw[d] += dy[t * D + d] * x[t * D + d] * r;
      }
    }
    if (addend) for (let i = 0; i < dx.length; i++) dx[i] += addend[i];
    return [dx, dw];
  },

  layernorm: (n, [x, w, b]) => {
    const [T, D] = shapeOf(n, 0);
    const y = new Float64Array(T * D);
    const means = new Float64Array(T);
    const rstds = new Float64Array(T);
    for (let t = 0; t < T; t++) {
      let sum = 0;
      for (let d = 0; d < D; d++) sum += x[t * D + d];
      const mean = sum / D;
      let ss = 0;
      for (let d = 0; d < D; d++) ss += (x[t * D + d] - mean) ** 2;
      const rstd = 1 / Math.sqrt(ss / D + n.attrs.eps); // biased variance, as nn.LayerNorm
      means[t] = mean;
      rstds[t] = rstd;
      for (let d = 0; d < D; d++) y[t * D + d] = (x[t * D + d] - mean) * rstd * w[d] + b[d];
    }
    return [y, means, rstds];
  },

  layernorm_grad: (n, [dy, x, w, mean, rstd]) => {
    // x̂ = (x − μ)·r, y = x̂·w + b, g = dy·w:
    // dx = r·(g − mean(g) − x̂·mean(g·x̂)), dw = Σ_rows dy·x̂, db = Σ_rows dy.
    const [T, D] = shapeOf(n, 1);
    const dx = new Float64Array(T * D);
    const dw = new Float64Array(D);
    const db = new Float64Array(D);
    for (let t = 0; t < T; t++) {
      const r = rstd[t];
      const xhat = (d: number) => (x[t * D + d] - mean[t]) * r;
      let gMean = 0;
      let gxMean = 0;
      for (let d = 0; d < D; d++) {
        const g = dy[t * D + d] * w[d];
        gMean += g / D;
        gxMean += (g * xhat(d)) / D;
      }
      for (let d = 0; d < D; d++) {
        dx[t * D + d] = r * (dy[t * D + d] * w[d] - gMean - xhat(d) * gxMean);
        dw[d] += dy[t * D + d] * xhat(d);
        db[d] += dy[t * D + d];
      }
    }
    return [dx, dw, db];
  },

  rope: (n, [x, x2]) => {
    // A pair rotates each operand exactly as a rope of its own.
    const { pairHeads, ...a } = n.attrs;
    const T = shapeOf(n, 0)[0];
    return pairHeads === undefined ? [ropeRotate(x, T, a)] : [ropeRotate(x, T, a), ropeRotate(x2, T, { ...a, heads: pairHeads })];
  },

  attention: (n, [q, k, v]) => {
    const { heads: H, kvHeads: KVH, headDim: hd, seqLen: S } = n.attrs;
    const T = shapeOf(n, 0)[0];
    const scale = 1 / Math.sqrt(hd);
    const o = new Float64Array(T * H * hd);
    const lse = new Float64Array(T * H);
    for (let t = 0; t < T; t++) {
      const start = t - (t % S);
      for (let h = 0; h < H; h++) {
        const kvh = Math.floor(h / (H / KVH));
        const scores: number[] = [];
        for (let j = start; j <= t; j++) {
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[t * H * hd + h * hd + d] * k[j * KVH * hd + kvh * hd + d];
          scores.push(dot * scale);
        }
        const l = logSumExp(scores);
        lse[t * H + h] = l;
        scores.forEach((s, jj) => {
          const p = Math.exp(s - l);
          for (let d = 0; d < hd; d++) o[t * H * hd + h * hd + d] += p * v[(start + jj) * KVH * hd + kvh * hd + d];
        });
      }
    }
    return [o, lse];
  },

  attention_grad: (n, [dOut, q, k, v, o, lse]) => {
    // P = exp(scaled scores − lse); dS = P ⊙ (dOut·vᵀ − rowsum(dOut ⊙ out)).
    const { heads: H, kvHeads: KVH, headDim: hd, seqLen: S } = n.attrs;
    const T = shapeOf(n, 1)[0];
    const scale = 1 / Math.sqrt(hd);
    const dq = new Float64Array(q.length);
    const dk = new Float64Array(k.length);
    const dv = new Float64Array(v.length);
    const qi = (t: number, h: number, d: number) => t * H * hd + h * hd + d;
    const ki = (t: number, h: number, d: number) => t * KVH * hd + h * hd + d;
    for (let t = 0; t < T; t++) {
      const start = t - (t % S);
      for (let h = 0; h < H; h++) {
        const kvh = Math.floor(h / (H / KVH));
        let rowDot = 0;
        for (let d = 0; d < hd; d++) rowDot += dOut[qi(t, h, d)] * o[qi(t, h, d)];
        for (let j = start; j <= t; j++) {
          let s = 0;
          let dp = 0;
          for (let d = 0; d < hd; d++) {
            s += q[qi(t, h, d)] * k[ki(j, kvh, d)];
            dp += dOut[qi(t, h, d)] * v[ki(j, kvh, d)];
          }
          const p = Math.exp(s * scale - lse[t * H + h]);
          const ds = p * (dp - rowDot);
          for (let d = 0; d < hd; d++) {
            dq[qi(t, h, d)] += scale * ds * k[ki(j, kvh, d)];
            dk[ki(j, kvh, d)] += scale * ds * q[qi(t, h, d)];
            dv[ki(j, kvh, d)] += p * dOut[qi(t, h, d)];
          }
        }
      }
    }
    if (n.attrs.ropeTheta === undefined) return [dq, dk, dv];
    // fuse-attention-grad-rope: exactly the inverse rope pair that was fused in, on dq and dk.
    const back = { theta: n.attrs.ropeTheta, headDim: hd, seqLen: S, inverse: true };
    return [ropeRotate(dq, T, { ...back, heads: H }), ropeRotate(dk, T, { ...back, heads: KVH }), dv];
  },

  swiglu: (_n, [g, u]) => [swigluForward(g, u)],

  swiglu_grad: (_n, [dh, g, u]) => swigluBackward(dh, g, u),

  geglu: (_n, [g, u]) => [Float64Array.from(g, (x, i) => gelu(x) * u[i])],

  geglu_grad: (_n, [dh, g, u]) => {
    const dg = new Float64Array(g.length);
    const du = new Float64Array(g.length);
    for (let i = 0; i < g.length; i++) {
      du[i] = dh[i] * gelu(g[i]);
      dg[i] = dh[i] * u[i] * geluDerivative(g[i]);
    }
    return [dg, du];
  },

  activation: (n, [x]) => [Float64Array.from(x, ACTIVATIONS[n.attrs.fn].f)],

  activation_grad: (n, [dh, x]) => {
    const { df } = ACTIVATIONS[n.attrs.fn];
    return [Float64Array.from(x, (v, i) => dh[i] * df(v))];
  },

  router: (n, ins) => {
    // Choice by the scores plus the optional bias, among the experts of the `topGroups` best groups
    // (DeepSeek-V3: a group scores the sum of its two best biased scores with the bias, its best
    // score without); weights always from the unbiased scores.
    const ops = routerOperands(n.attrs, ins);
    const bias = ops.bias;
    // fuse-router-logits: exactly the rmsnorm and the product that were fused in, then the routing
    const [T, E] = [n.types[2].shape[0], n.types[2].shape[1]];
    const D = ops.x ? ops.x.length / T : 0;
    const normed = ops.x && n.attrs.project?.norm ? rmsnormRows(ops.x, ops.normWeight!, T, D, n.attrs.project.norm.eps) : undefined;
    const logits = ops.logits ? Float64Array.from(ops.logits) : product(normed ? normed.y : ops.x!, ops.weight!, T, D, E);
    const { topK: K, score, normalize, scale, groups = 1, topGroups = groups } = n.attrs;
    const size = E / groups;
    const idx = new Int32Array(T * K);
    const w = new Float64Array(T * K);
    const probs = new Float64Array(T * E);
    for (let t = 0; t < T; t++) {
      const p = routerScores(score, logits.subarray(t * E, (t + 1) * E));
      probs.set(p, t * E);
      const key = p.map((s, e) => s + (bias ? bias[e] : 0));
      const groupScore = Array.from({ length: groups }, (_, g) => {
        const best = topK(key.slice(g * size, (g + 1) * size), Math.min(size, bias ? 2 : 1));
        return best.reduce((a, e) => a + key[g * size + e], 0);
      });
      const kept = new Set(topK(groupScore, topGroups));
      const eligible = key.map((k, e) => (kept.has(Math.floor(e / size)) ? k : -Infinity));
      const chosen = topK(eligible, K);
      const sum = chosen.reduce((a, e) => a + p[e], 0);
      chosen.forEach((e, j) => {
        idx[t * K + j] = e;
        w[t * K + j] = (normalize ? p[e] / sum : p[e]) * scale;
      });
    }
    if (!n.attrs.project) return [idx, w, probs];
    return [idx, w, probs, logits, ...(normed ? [normed.y, normed.rstd] : [])];
  },

  router_grad: (n, [dW, probs, idx, dProbs]) => {
    // Selection held fixed: w_j = scale·p[idx_j] (/ Σ_l p[idx_l] when normalising), then through
    // the score function back to the logits (p are the forward's probabilities).
    const [T, E] = shapeOf(n, 1);
    const { topK: K, score, normalize, scale } = n.attrs;
    const dLogits = new Float64Array(T * E);
    for (let t = 0; t < T; t++) {
      const p = Array.from(probs.subarray(t * E, (t + 1) * E));
      const dp = Array.from(dProbs.subarray(t * E, (t + 1) * E));
      const sel = Array.from(idx.subarray(t * K, (t + 1) * K));
      const sum = sel.reduce((a, e) => a + p[e], 0);
      const weighted = sel.reduce((a, e, j) => a + dW[t * K + j] * p[e], 0);
      sel.forEach((e, j) => {
        dp[e] += normalize ? scale * (dW[t * K + j] / sum - weighted / (sum * sum)) : scale * dW[t * K + j];
      });
      const dot = p.reduce((a, pe, e) => a + pe * dp[e], 0);
      for (let e = 0; e < E; e++) dLogits[t * E + e] = score === 'softmax' ? p[e] * (dp[e] - dot) : dp[e] * p[e] * (1 - p[e]);
    }
    return [dLogits];
  },

  router_bias_update: (n, [bias, idx]) => {
    // DeepSeek-V3 aux-loss-free balancing: b_e += rate · sign(mean load − load_e).
    const E = bias.length;
    const load = new Float64Array(E);
    for (const e of idx) if (e >= 0 && e < E) load[e]++;
    const mean = idx.length / E;
    return [Float64Array.from(bias, (b, e) => b + n.attrs.rate * Math.sign(mean - load[e]))];
  },

  moe_dispatch: (n, ins) => {
    const [x, idx] = ins;
    if (n.attrs.aux) {
      // fuse-aux-loss-dispatch: exactly the dispatch, then the fused aux_loss(probs, idx, dLoss)
      const { aux, ...attrs } = n.attrs;
      const routed = OPS.moe_dispatch({ ...n, attrs, inputs: n.inputs.slice(0, 2), types: n.types.slice(0, 5) } as never, [x, idx], {});
      const auxNode = { ...n, op: 'aux_loss', attrs: aux, inputs: [n.inputs[2], n.inputs[1], n.inputs[3]], types: n.types.slice(5) };
      return [...routed, ...OPS.aux_loss(auxNode as never, [ins[2], idx, ins[3]], {})];
    }
    // Rows sorted by expert, stable in (t, j) order; an expert keeps its first C assignments
    // (C = ceil(capacityFactor·T·k / E), all when capacityFactor is 0), dropped ones get row −1.
    const [T, D] = shapeOf(n, 0);
    const { experts: E, topK: K, capacityFactor = 0 } = n.attrs;
    const R = T * K;
    const capacity = capacityFactor > 0 ? Math.min(R, Math.ceil((capacityFactor * R) / E)) : R;
    const assigned: number[][] = Array.from({ length: E }, () => []);
    idx.forEach((e, a) => {
      if (e < 0 || e >= E) throw new Error(`moe_dispatch: expert index ${e} out of range [0, ${E})`);
      assigned[e].push(a);
    });
    const counts = new Int32Array(E);
    const permRow = new Int32Array(R).fill(-1);
    const srcToken = new Int32Array(R).fill(-1);
    const srcSlot = new Int32Array(R).fill(-1);
    const xs = new Float64Array(R * D);
    let row = 0;
    for (let e = 0; e < E; e++) {
      const kept = assigned[e].slice(0, capacity);
      counts[e] = kept.length;
      for (const a of kept) {
        const t = Math.floor(a / K);
        permRow[a] = row;
        srcToken[row] = t;
        srcSlot[row] = a % K;
        for (let d = 0; d < D; d++) xs[row * D + d] = x[t * D + d];
        row++;
      }
    }
    return [xs, permRow, counts, srcToken, srcSlot];
  },

  moe_gather_grad: (n, ins) => {
    const K = n.attrs.topK;
    const [T, D] = n.types[0].shape;
    const { dXs, permRow, dXs2, project } = gatherGradOperands(n.attrs, ins);
    const dx = new Float64Array(T * D);
    for (let t = 0; t < T; t++) for (let j = 0; j < K; j++) {
      const row = permRow[t * K + j];
      if (row < 0) continue; // dropped by the capacity
      for (let d = 0; d < D; d++) dx[t * D + d] += dXs[row * D + d] + (dXs2 ? dXs2[row * D + d] : 0);
    }
    if (project) {
      // fuse-gather-grad-matmul: + a · bᵀ, as the matmul_add it absorbed added it to the un-permute
      const y = product(project.a, project.b, T, project.a.length / T, D, false, true);
      for (let i = 0; i < dx.length; i++) dx[i] += y[i];
    }
    return [dx];
  },

  // operands: xs, the weight(s), counts
  grouped_matmul: (n, ins) => {
    const [R, K] = shapeOf(n, 0);
    return [groupedProduct(ins[0], ins.slice(1, -1), ins[ins.length - 1], R, K, n.types[0].shape[1])];
  },

  // operands: dY, the weight(s), counts
  grouped_matmul_grad_x: (n, ins) => {
    const [R, N] = shapeOf(n, 0);
    const { dY, weights, counts, addend } = gradXOperands(n.attrs, ins);
    const y = groupedProductGradX(dY, weights, counts, R, n.types[0].shape[1], N);
    if (!addend) return [y];
    // fuse-grad-x-add: + the other data gradient, which the un-permute added row by row (a + b, the same sum)
    for (let i = 0; i < y.length; i++) y[i] += addend[i];
    return [y];
  },

  // fuse-swiglu-gemm: the GEMM, then SwiGLU (or its backward) on its result, in the unfused ops' arithmetic.
  // operands: grouped_matmul's, then g
  grouped_matmul_swiglu: (n, ins) => {
    const [R, K] = shapeOf(n, 0);
    const u = groupedProduct(ins[0], ins.slice(1, -2), ins[ins.length - 2], R, K, n.types[0].shape[1]);
    return [u, swigluForward(ins[ins.length - 1], u)];
  },
  // operands: grouped_matmul_grad_x's, then g, u
  grouped_matmul_grad_x_swiglu: (n, ins) => {
    const [R, N] = shapeOf(n, 0);
    const dh = groupedProductGradX(ins[0], ins.slice(1, -3), ins[ins.length - 3], R, n.types[0].shape[1], N);
    return swigluBackward(dh, ins[ins.length - 2], ins[ins.length - 1]);
  },

  grouped_matmul_grad_w: (n, [xs, dY, counts]) => {
    const [R, K] = shapeOf(n, 0);
    const N = shapeOf(n, 1)[1];
    const dW = f64(n.types[0]);
    for (let r = 0; r < R; r++) {
      const e = expertOfRow(counts, r);
      if (e < 0) continue;
      for (let k = 0; k < K; k++) for (let c = 0; c < N; c++) dW[(e * K + k) * N + c] += xs[r * K + k] * dY[r * N + c];
    }
    return [dW];
  },

  moe_combine: (n, [ys, permRow, w, addend, normWeight]) => {
    const K = n.attrs.topK;
    const [T, D] = n.types[0].shape;
    const y = new Float64Array(T * D);
    for (let t = 0; t < T; t++) for (let j = 0; j < K; j++) {
      const row = permRow[t * K + j];
      if (row < 0) continue; // dropped by the capacity
      for (let d = 0; d < D; d++) y[t * D + d] += w[t * K + j] * ys[row * D + d];
    }
    // the addend last, as the kernel (and the binary add it replaces) adds it
    if (addend) for (let i = 0; i < y.length; i++) y[i] += addend[i];
    if (!n.attrs.norm) return [y];
    // fuse-combine-norm: exactly the rmsnorm that was fused in, of the result
    const { y: normed, rstd } = rmsnormRows(y, normWeight, T, D, n.attrs.norm.eps);
    return [y, normed, rstd];
  },

  moe_combine_grad: (n, ins) => {
    if (n.attrs.normGrad) {
      // fuse-norm-grad-combine-grad: exactly the rmsnorm_grad it runs, then the combine backward of its dx
      const { normGrad, ...attrs } = n.attrs;
      const at = 6 + (attrs.router ? 3 : 0);
      const normInputs = [n.inputs[0], ...n.inputs.slice(at)];
      const normNode = { ...n, op: 'rmsnorm_grad', attrs: { eps: normGrad.eps }, inputs: normInputs, types: n.types.slice(-2) };
      const [dx, dw] = OPS.rmsnorm_grad(normNode as never, [ins[0], ...ins.slice(at)], {}) as Float64Array[];
      const combineNode = { ...n, attrs, inputs: n.inputs.slice(0, at), types: n.types.slice(0, -2) };
      const combined = OPS.moe_combine_grad(combineNode as never, [dx, ...ins.slice(1, at)], {}) as Float64Array[];
      return [...combined, dx, dw];
    }
    if (n.attrs.router) {
      // fuse-combine-router-grad: exactly the combine backward, then router_grad of its dWeights
      const [dYs, dW] = OPS.moe_combine_grad({ ...n, attrs: { topK: n.attrs.topK }, inputs: n.inputs.slice(0, 6), types: n.types.slice(0, 2) } as never, ins.slice(0, 6), {}) as Float64Array[];
      const routerNode = { ...n, op: 'router_grad', attrs: n.attrs.router, inputs: [n.inputs[3], ...n.inputs.slice(6)], types: n.types.slice(2) };
      const [dLogits] = OPS.router_grad(routerNode as never, [dW, ...ins.slice(6)], {});
      return [dYs, dW, dLogits];
    }
    const [dOut, ys, permRow, w] = ins;
    // srcToken/srcSlot (inputs 4, 5) are the inverse of permRow; the reference walks permRow.
    const K = n.attrs.topK;
    const [T, D] = shapeOf(n, 0);
    const dYs = new Float64Array(ys.length);
    const dW = new Float64Array(w.length);
    for (let t = 0; t < T; t++) for (let j = 0; j < K; j++) {
      const row = permRow[t * K + j];
      if (row < 0) continue; // dropped by the capacity
      for (let d = 0; d < D; d++) {
        dYs[row * D + d] += w[t * K + j] * dOut[t * D + d];
        dW[t * K + j] += dOut[t * D + d] * ys[row * D + d];
      }
    }
    return [dYs, dW];
  },

  aux_loss: (n, [x, idx, dLoss, addend]) => {
    if (addend) {
      // + the running total it is added to (fuse-aux-loss-sum), as the binary add did.
      const [loss, dx] = OPS.aux_loss({ ...n, inputs: n.inputs.slice(0, 3), types: n.types.slice(0, 2) } as never, [x, idx, dLoss], {});
      return [loss, dx, Float64Array.of(addend[0] + loss[0])];
    }
    if (dLoss) {
      // Fused with its gradient (fuse-aux-loss): the loss and aux_loss_grad(dLoss, x, idx).
      const [loss] = OPS.aux_loss({ ...n, inputs: n.inputs.slice(0, 2), types: n.types.slice(0, 1) } as never, [x, idx], {});
      const [dx] = OPS.aux_loss_grad({ ...n, op: 'aux_loss_grad', inputs: [n.inputs[2], n.inputs[0], n.inputs[1]], types: n.types.slice(1) } as never, [dLoss, x, idx], {});
      return [loss, dx];
    }
    const [T, E] = shapeOf(n, 0);
    const { kind, coef, topK: K } = n.attrs;
    if (kind === 'z_loss') {
      let acc = 0;
      for (let t = 0; t < T; t++) acc += logSumExp(x.subarray(t * E, (t + 1) * E)) ** 2;
      return [Float64Array.of((coef * acc) / T)];
    }
    const counts = new Float64Array(E);
    for (const e of idx) counts[e]++;
    let acc = 0;
    for (let e = 0; e < E; e++) {
      let meanProb = 0;
      for (let t = 0; t < T; t++) meanProb += x[t * E + e] / T;
      acc += (counts[e] / (T * K)) * meanProb;
    }
    return [Float64Array.of(coef * E * acc)];
  },

  aux_loss_grad: (n, [dLoss, x, idx]) => {
    const [T, E] = shapeOf(n, 1);
    const { kind, coef, topK: K } = n.attrs;
    const dx = new Float64Array(T * E);
    if (kind === 'z_loss') {
      for (let t = 0; t < T; t++) {
        const row = x.subarray(t * E, (t + 1) * E);
        const l = logSumExp(row);
        softmaxRow(row).forEach((p, e) => (dx[t * E + e] = (dLoss[0] * coef * 2 * l * p) / T));
      }
      return [dx];
    }
    const counts = new Float64Array(E);
    for (const e of idx) counts[e]++;
    for (let t = 0; t < T; t++) for (let e = 0; e < E; e++) dx[t * E + e] = (dLoss[0] * coef * E * counts[e]) / (T * K) / T;
    return [dx];
  },

  cross_entropy: (n, [logits, targets]) => {
    // (per-row −log softmax[target], mean over the rows whose target is not ignored (< 0))
    const [T, V] = shapeOf(n, 0);
    const loss = new Float64Array(T);
    let total = 0;
    for (let t = 0; t < T; t++) {
      if (targets[t] < 0) continue;
      if (targets[t] >= V) throw new Error(`cross_entropy: target ${targets[t]} out of range [0, ${V})`);
      const row = logits.subarray(t * V, (t + 1) * V);
      loss[t] = logSumExp(row) - row[targets[t]];
      total += loss[t];
    }
    const counted = countedRows(targets);
    return [loss, Float64Array.of(counted > 0 ? total / counted : 0)];
  },

  cross_entropy_fused: (n, [logits, targets, dMean, ...addends]) => {
    const [rows, mean] = OPS.cross_entropy(n as never, [logits, targets], {});
    const [d] = OPS.cross_entropy_grad({ ...n, inputs: [n.inputs[2], n.inputs[0], n.inputs[1]] } as never, [dMean, logits, targets], {});
    if (addends.length === 0) return [rows, mean, d];
    // fuse-loss-sum: the binary adds' order, ((mean + a1) + a2) + …
    return [rows, mean, d, Float64Array.of(addends.reduce((total, a) => total + a[0], mean[0]))];
  },

  cross_entropy_grad: (n, [dMean, logits, targets]) => {
    const [T, V] = shapeOf(n, 1);
    const d = new Float64Array(T * V);
    const counted = countedRows(targets);
    for (let t = 0; t < T; t++) {
      if (targets[t] < 0) continue;
      softmaxRow(logits.subarray(t * V, (t + 1) * V)).forEach((p, v) => (d[t * V + v] = (dMean[0] * (p - (v === targets[t] ? 1 : 0))) / counted));
    }
    return [d];
  },

  lm_head_xent: (n, [h, w, targets]) => {
    // cross_entropy of the whole logits h · W
    const { T, V } = lmHeadDims(n);
    const logits = lmHeadLogits(n, h, w);
    const loss = new Float64Array(T);
    let total = 0;
    for (let t = 0; t < T; t++) {
      if (targets[t] < 0) continue;
      if (targets[t] >= V) throw new Error(`lm_head_xent: target ${targets[t]} out of range [0, ${V})`);
      const row = logits.subarray(t * V, (t + 1) * V);
      loss[t] = logSumExp(row) - row[targets[t]];
      total += loss[t];
    }
    const counted = countedRows(targets);
    return [loss, Float64Array.of(counted > 0 ? total / counted : 0)];
  },

  lm_head_xent_grad: (n, [dMean, h, w, targets]) => lmHeadGrad(n, dMean, h, w, targets),

  lm_head_xent_fused: (n, [h, w, targets, dMean]) => {
    const [rows, mean] = OPS.lm_head_xent(n as never, [h, w, targets], {});
    return [rows, mean, ...lmHeadGrad(n, dMean, h, w, targets)];
  },

  expert_weight: (n, [wc, wu]) => {
    const kn = wc.length;
    const w = new Float64Array(wu.length);
    for (let e = 0; e < n.attrs.experts; e++) w.set(expertMatrix([wc, wu], e, kn), e * kn);
    return [w];
  },

  sd_split_grad: (n, [g, u, v]) => {
    const [E, K, N] = shapeOf(n, 0);
    const r = n.attrs.rank;
    const gc = new Float64Array(K * N);
    const gu = new Float64Array(E * K * N);
    for (let e = 0; e < E; e++) {
      const ge = Float64Array.from(g.subarray(e * K * N, (e + 1) * K * N));
      const ue = doubleComplement(ge, u, v, K, N, r);
      gu.set(ue, e * K * N);
      for (let i = 0; i < K * N; i++) gc[i] += (ge[i] - ue[i]) / (n.attrs.aggregate === 'mean' ? E : 1);
    }
    return [gc, gu];
  },

  sd_project_update: (n, [wc, wu, dc, du, u, v]) => {
    const [K, N] = shapeOf(n, 0);
    const r = n.attrs.rank;
    const wc2 = Float64Array.from(wc);
    const wu2 = Float64Array.from(wu);
    const dcD = doubleComplement(Float64Array.from(dc), u, v, K, N, r);
    for (let i = 0; i < K * N; i++) wc2[i] += dc[i] - dcD[i];
    for (let e = 0; e < n.attrs.experts; e++) {
      const de = doubleComplement(Float64Array.from(du.subarray(e * K * N, (e + 1) * K * N)), u, v, K, N, r);
      for (let i = 0; i < K * N; i++) wu2[e * K * N + i] += de[i];
    }
    return [wc2, wu2];
  },

  grad_norm: (n, grads) => {
    // [clip scale, global norm]: scale = min(1, maxNorm / (norm + 1e-6)), or 1 when maxNorm is 0.
    let sumSquares = 0;
    for (const g of grads) for (const x of g) sumSquares += x * x;
    const norm = Math.sqrt(sumSquares);
    const scale = n.attrs.maxNorm > 0 ? Math.min(1, n.attrs.maxNorm / (norm + 1e-6)) : 1;
    return [Float64Array.of(scale, norm)];
  },

  adamw: (n, [p, g, m, v, lrValue, stepValue, clip]) => {
    const { beta1, beta2, eps, weightDecay, output = 'param', resetEvery = 0 } = n.attrs;
    const lr = lrValue[0];
    // Bias correction counts the steps since the moments were last zeroed.
    const step = resetEvery > 0 ? ((stepValue[0] - 1) % resetEvery) + 1 : stepValue[0];
    const p2 = new Float64Array(p.length);
    const m2 = new Float64Array(p.length);
    const v2 = new Float64Array(p.length);
    for (let i = 0; i < p.length; i++) {
      const gs = g[i] * clip[0];
      m2[i] = beta1 * m[i] + (1 - beta1) * gs;
      v2[i] = beta2 * v[i] + (1 - beta2) * gs * gs;
      const mHat = m2[i] / (1 - beta1 ** step);
      const vHat = v2[i] / (1 - beta2 ** step);
      const delta = -lr * (mHat / (Math.sqrt(vHat) + eps) + weightDecay * p[i]);
      p2[i] = output === 'step' ? delta : p[i] + delta;
    }
    return [p2, m2, v2];
  },

  sgd: (n, [p, g, buf, lrValue, clip]) => {
    const { momentum, weightDecay, output = 'param' } = n.attrs;
    const p2 = new Float64Array(p.length);
    const b2 = new Float64Array(p.length);
    for (let i = 0; i < p.length; i++) {
      b2[i] = momentum * buf[i] + g[i] * clip[0] + weightDecay * p[i];
      const delta = -lrValue[0] * b2[i];
      p2[i] = output === 'step' ? delta : p[i] + delta;
    }
    return [p2, b2];
  },
};

/** Evaluates every output of `g` on the given input and param values. */
export function interpretGraph(g: Graph, feeds: Feeds): Record<string, Tensor> {
  const values = new Map<Node, Tensor[]>();
  for (const node of topoOrder(g)) {
    const ins = node.inputs.map((v) => values.get(v.node)![v.index]);
    const impl = OPS[node.op] as Impl<typeof node.op>;
    const outs = impl(node as never, ins, feeds);
    outs.forEach((t, i) => {
      const want = node.types[i];
      if (t.length !== numel(want) || (want.dtype === 'i32') !== t instanceof Int32Array) {
        throw new Error(`interpreter bug: ${node.op} output ${i} is not ${formatType(want)}`);
      }
    });
    values.set(node, outs);
  }
  const result: Record<string, Tensor> = {};
  for (const [name, v] of Object.entries(g.outputs)) result[name] = values.get(v.node)![v.index];
  return result;
}

/** Initial values of every param from its `init` attr. Each param draws from its own stream
 *  (forked by name), so adding a param never changes the others' values. */
export function initParams(g: Graph, seed: number | string): Record<string, Float64Array> {
  const root = new Rng(seed);
  const params: Record<string, Float64Array> = {};
  for (const node of topoOrder(g)) {
    if (node.op !== 'param') continue;
    const values = f64(node.types[0]);
    const init = node.attrs.init;
    if (init.kind === 'ones') values.fill(1);
    if (init.kind === 'normal') {
      const rng = root.fork(node.attrs.name);
      for (let i = 0; i < values.length; i++) values[i] = rng.normal(0, init.std);
    }
    params[node.attrs.name] = values;
  }
  return params;
}
