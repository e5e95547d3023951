// Core IR vocabulary: tensor types and the attribute record of every op. An IR node is an
// immutable record { op, inputs, attrs, types }; `Node` is the discriminated union over `op`, so
// `switch (node.op)` narrows `node.attrs`. Nodes are only ever built through compiler/ir/build.ts.
export type DType = 'f32' | 'i32';

export interface TensorType {
  readonly dtype: DType;
  readonly shape: readonly number[];
}

export type ElementwiseUnary = 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'square' | 'silu' | 'sigmoid' | 'relu' | 'tanh';
/**
 * Non-gated FFN activations. `gelu` is GELU with the tanh approximation,
 * 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (PyTorch `approximate='tanh'`, HF `gelu_pytorch_tanh`),
 * the same GELU `geglu` uses; `relu`'s derivative at 0 is 0 (PyTorch's convention).
 */
export type ActivationFn = 'gelu' | 'relu' | 'silu';
export type ElementwiseBinary = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min';

export type ParamInit =
  | { readonly kind: 'normal'; readonly std: number }
  | { readonly kind: 'ones' }
  | { readonly kind: 'zeros' };

export type ExpertMatrix = 'gate' | 'up' | 'down';

/**
 * What a parameter is, for the stages that must find particular ones (SD-MoE init and re-basing,
 * expert metrics, the optimizer state of a param). Absent on ordinary weights. Later stages look
 * params up by role, never by a name suffix, so renaming a param cannot silently switch SD off.
 *   router   the router matrix of MoE layer `layer`
 *   experts  the routed experts' [E, K, N] matrices of one kind (a baseline model)
 *   sd       one of the four tensors of a spectrally decoupled matrix: W_c [K,N] (`common`),
 *            W_u [E,K,N] (`unique`), U_k [K,r] (`basis_u`), V_k [N,r] (`basis_v`); `target`
 *            names the decoupled matrix and links the four
 *   adam     an AdamW moment of param `of`
 *   momentum an SGD momentum buffer of param `of`
 *   router_bias  the per-expert selection bias of MoE layer `layer` (DeepSeek-V3 aux-loss-free
 *            balancing): not trained by the optimizer (group `frozen`), moved after every step by
 *            `router_bias_update` at `rate`, checkpointed like any param
 */
export type ParamRole =
  | { readonly kind: 'router'; readonly layer: number }
  | { readonly kind: 'experts'; readonly layer: number; readonly matrix: ExpertMatrix }
  | { readonly kind: 'sd'; readonly part: 'common' | 'unique' | 'basis_u' | 'basis_v'; readonly layer: number; readonly matrix: ExpertMatrix; readonly target: string }
  | { readonly kind: 'adam'; readonly moment: 'm' | 'v'; readonly of: string }
  | { readonly kind: 'momentum'; readonly of: string }
  | { readonly kind: 'router_bias'; readonly layer: number; readonly rate: number };

/** The forward rope a matmul applies to its product (fuse-matmul-rope): heads = N / headDim. */
export interface MatmulRope {
  readonly theta: number;
  readonly headDim: number;
  readonly seqLen: number;
}

/** Attributes of every op. Scalars, flat arrays and small records of scalars, so the textual form (JSON) stays simple. */
export interface OpAttrs {
  input: { name: string; dtype: DType; shape: readonly number[] };
  param: { name: string; shape: readonly number[]; init: ParamInit; group: string; role?: ParamRole };
  const: { value: number; shape: readonly number[] };
  unary: { fn: ElementwiseUnary };
  binary: { fn: ElementwiseBinary };
  reduce: { fn: 'sum' | 'max' | 'mean'; axis: number; keepDims: boolean };
  reshape: { shape: readonly number[] };
  /** With `rope` (fuse-matmul-rope) the product's rows are token rows (position = row mod seqLen) and
   *  each head of headDim columns comes out rotated by the rope (rotate_half), as a rope of it would.
   *  With `norm` (fuse-norm-matmul) A is RMS-normalised first by a third operand w [K] (A neither
   *  transposed nor roped): outputs (y·B, y, rstd), y and rstd as an rmsnorm of A would give. */
  matmul: { transA: boolean; transB: boolean; rope?: MatmulRope; norm?: { eps: number } };
  matmul_add: { transA: boolean; transB: boolean };
  /** With `norm` (fuse-embedding-norm) the lookup also RMS-normalises its rows by a third operand w [D]:
   *  outputs (out, y, rstd), y and rstd as an rmsnorm of out would give. With `sort` (fuse-embedding-sort)
   *  two more outputs after those: sortedTokens i32[T] (token indices stably ordered by id) and rowStart
   *  i32[V + 1] (rowStart[v] = #{t: ids[t] < v}), which an embedding_grad of the same ids takes as its
   *  third and fourth operands instead of sorting them itself. */
  embedding: { norm?: { eps: number }; sort?: boolean };
  embedding_grad: { vocab: number };
  rmsnorm: { eps: number };
  rmsnorm_grad: { eps: number };
  /** PyTorch nn.LayerNorm over the last axis with weight and bias: y = (x − mean)·rstd·w + b,
   *  rstd = 1/sqrt(var + eps), biased variance. Outputs y, per-row mean, per-row rstd. */
  layernorm: { eps: number };
  layernorm_grad: { eps: number };
  /** With a second operand (fuse-rope-pair) `pairHeads` are its heads; both share every other attr. */
  rope: { theta: number; heads: number; headDim: number; seqLen: number; inverse: boolean; pairHeads?: number };
  attention: { heads: number; kvHeads: number; headDim: number; seqLen: number };
  /** With `ropeTheta` (fuse-attention-grad-rope) dq and dk come out rotated back by the inverse of the
   *  forward's rope (theta `ropeTheta`, this headDim and seqLen), as a rope(inverse) of them would. */
  attention_grad: { heads: number; kvHeads: number; headDim: number; seqLen: number; ropeTheta?: number };
  swiglu: Record<string, never>;
  swiglu_grad: Record<string, never>;
  /** h = gelu(g) ⊙ u with GELU's tanh approximation (see ActivationFn). */
  geglu: Record<string, never>;
  geglu_grad: Record<string, never>;
  /** Non-gated FFN activation h = fn(x), with a fused backward (`relu` has no `unary` rule). */
  activation: { fn: ActivationFn };
  activation_grad: { fn: ActivationFn };
  /** Inputs: logits [T,E], optionally the selection bias [E] (added to the scores for the choice
   *  only). `groups` > 1 (absent = 1): DeepSeek-V3 group-limited routing, experts in `groups` equal
   *  groups of which the `topGroups` best stay eligible (compiler/kernels/router.ts).
   *  With `project` (fuse-router-logits) the router computes its logits itself: inputs x [T,D], the
   *  router matrix [D,E], with `project.norm` the RMSNorm weight [D] of x's rows, then the optional
   *  bias; outputs (idx, weights, probs, logits) and with the norm its (y, rstd) (routerOperands). */
  router: { score: 'softmax' | 'sigmoid'; topK: number; normalize: boolean; scale: number; groups?: number; topGroups?: number; project?: RouterProject };
  router_grad: { score: 'softmax' | 'sigmoid'; topK: number; normalize: boolean; scale: number };
  /** capacityFactor absent or 0: dropless. */
  /** bias [E], idx [T,k] → bias + rate·sign(T·k/E − load_e), load_e = assignments to e (DeepSeek-V3). */
  router_bias_update: { rate: number };
  /** With `aux` (fuse-aux-loss-dispatch) the dispatch also takes a fused load-balance aux loss over its
   *  own idx: operands probs [T,E] and dLoss [] appended, the loss [] and dL/dprobs [T,E] appended to the
   *  outputs (the aux_loss node's (x, idx, dLoss) → (loss, dx), its attrs here). */
  moe_dispatch: { experts: number; topK: number; capacityFactor?: number; aux?: OpAttrs['aux_loss'] };
  /** With `project` (fuse-gather-grad-matmul) the un-permute also adds a [T,E] · [D,E]ᵀ product, its last
   *  two operands (the router logits' input gradient dl · W_rᵀ, a K = E matmul_add that read the un-permute). */
  moe_gather_grad: { topK: number; project?: true };
  grouped_matmul: { experts: number; sharedWeight: boolean };
  /** With `addend` (fuse-grad-x-add) a last operand [R,K] after counts, added to the product (the other
   *  grouped data gradient of the same rows, which the un-permute summed with this one). */
  grouped_matmul_grad_x: { experts: number; sharedWeight: boolean; addend?: true };
  grouped_matmul_grad_w: { experts: number };
  /** fuse-swiglu-gemm: the up GEMM with SwiGLU in its epilogue, operands of grouped_matmul then g [R,N]
   *  → (u = the GEMM's result, h = silu(g) ⊙ u). */
  grouped_matmul_swiglu: { experts: number; sharedWeight: boolean };
  /** fuse-swiglu-gemm: the data gradient dh = dY · W[e]ᵀ with SwiGLU's backward in its epilogue,
   *  operands of grouped_matmul_grad_x then g, u [R,K] → (dg, du); dh is never materialised. */
  grouped_matmul_grad_x_swiglu: { experts: number; sharedWeight: boolean };
  /** With `norm` (fuse-combine-norm) the combine, which then has its addend, also RMS-normalises its
   *  result by a fifth operand w [D]: outputs (out, y, rstd), y and rstd as an rmsnorm of out would give. */
  moe_combine: { topK: number; norm?: { eps: number } };
  /** With `router` (fuse-combine-router-grad, router_grad's attrs) the combine backward also differentiates
   *  the router from its own dWeights: operands probs, idx, dProbs appended (router_grad's 2nd to 4th), dLogits
   *  appended to the outputs. With `normGrad` (fuse-norm-grad-combine-grad) d_out is the dx (+ addend) of an
   *  rmsnorm_grad the node runs itself: operand 0 is that norm's dy, and its x, w, rstd (and the addend when
   *  `addend`) come last (after the router's); its dx and dw are the last two outputs. */
  moe_combine_grad: { topK: number; router?: OpAttrs['router_grad']; normGrad?: { eps: number; addend: boolean } };
  aux_loss: { kind: 'load_balance' | 'z_loss'; coef: number; experts: number; topK: number };
  aux_loss_grad: { kind: 'load_balance' | 'z_loss'; coef: number; experts: number; topK: number };
  cross_entropy: Record<string, never>;
  cross_entropy_grad: Record<string, never>;
  /** Operands logits, targets, dMean, then any scalar addends (fuse-loss-sum): with addends, a fourth
   *  result sum = ((mean + a1) + a2) + …, the step's total loss the binary adds formed. */
  cross_entropy_fused: Record<string, never>;
  /** The LM head and cross-entropy in one op, so the logits [T, V] are never whole (the kernels
   *  walk them in row chunks): h [T,D] · W (W [D,V], or [V,D] used transposed with `transW`, the
   *  tied embedding), targets [T] → (per-row loss [T], mean []); `_grad`: dMean, h, W, targets →
   *  (dh, dW); `_fused`: h, W, targets, dMean → (rows, mean, dh, dW) in one pass over the chunks. */
  lm_head_xent: { transW: boolean };
  lm_head_xent_grad: { transW: boolean };
  lm_head_xent_fused: { transW: boolean };
  /** `project` (spectral only, default 'gradient'): 'update' gives W_c and W_u their raw gradients
   *  (sum/mean rule) and leaves the projection to `sd_project_update` after AdamW. */
  expert_weight: { experts: number; spectral: boolean; aggregate: 'sum' | 'mean'; project?: 'gradient' | 'update' };
  sd_split_grad: { experts: number; rank: number; aggregate: 'sum' | 'mean' };
  grad_norm: { maxNorm: number };
  /** Adds the SD-MoE projected AdamW steps to W_c and W_u (in place): W_c += Δ_c − D(Δ_c),
   *  W_u(i) += D(Δ_u(i)), D(X) = (I − U Uᵀ) X (I − V Vᵀ). */
  sd_project_update: { experts: number; rank: number };
  /**
   * `output` 'param' (default): the updated param; 'step': the step Δ = p_new − p (weight decay
   * included) instead, written over the gradient, which is dead after the update.
   * `resetEvery` N > 0: bias correction uses t = ((step − 1) mod N) + 1, for moments zeroed every
   * N steps (SD-MoE `moments reset`); absent or 0: t = step.
   */
  adamw: { beta1: number; beta2: number; eps: number; weightDecay: number; output?: 'param' | 'step'; resetEvery?: number };
  /**
   * SGD with momentum, torch.optim.SGD semantics (L2 weight decay added to the clipped gradient,
   * dampening 0, no nesterov): d = clip·g + wd·p, buf = μ·buf + d, p − lr·buf. `output` as adamw's.
   */
  sgd: { momentum: number; weightDecay: number; output?: 'param' | 'step' };
}

export type OpName = keyof OpAttrs;

interface NodeBase<K extends OpName> {
  readonly op: K;
  readonly inputs: readonly Value[];
  readonly attrs: Readonly<OpAttrs[K]>;
  /** Output types; most ops have exactly one output. */
  readonly types: readonly TensorType[];
}

export type Node = { [K in OpName]: NodeBase<K> }[OpName];
export type NodeOf<K extends OpName> = NodeBase<K>;

/** One output of a node. Values are compared by (node, index), never by object identity. */
export interface Value {
  readonly node: Node;
  readonly index: number;
}

/**
 * What an output is, for the passes that consume outputs by kind: `grad`, the gradient of the param
 * named `param` (autodiff adds one per trainable param; the optimizer pass consumes them). Passes
 * look outputs up by this, never by their name (`grad.<p>` is only what the text and tests show).
 */
export type OutputRole = { readonly kind: 'grad'; readonly param: string };

/** A whole program: named inputs are the graph's `input`/`param` nodes, outputs are named values. */
export interface Graph {
  readonly name: string;
  readonly outputs: Readonly<Record<string, Value>>;
  /** Roles of some outputs (by output name); an output without one is a plain result. */
  readonly roles?: Readonly<Record<string, OutputRole>>;
}

/** fuse-router-logits: the router's own product x·W (x RMS-normalised first with `norm`). */
export interface RouterProject {
  readonly norm?: { readonly eps: number };
}

/**
 * A router node's operands by role: `logits`, or with `project` the product's `x`, `weight` and
 * `normWeight` (with project.norm); then the optional selection `bias`. The one reading of the
 * positional layout (infer, interpreter, autodiff and lowering take operands from here).
 */
export function routerOperands<T>(attrs: OpAttrs['router'], inputs: readonly T[]): {
  readonly logits?: T;
  readonly x?: T;
  readonly weight?: T;
  readonly normWeight?: T;
  readonly bias?: T;
  /** How many operands come before the bias. */
  readonly fixed: number;
} {
  const project = attrs.project;
  if (!project) return { logits: inputs[0], bias: inputs[1], fixed: 1 };
  const fixed = project.norm ? 3 : 2;
  return { x: inputs[0], weight: inputs[1], normWeight: project.norm ? inputs[2] : undefined, bias: inputs[fixed], fixed };
}

/**
 * A moe_gather_grad's operands by role: dXs, permRow, then the second dXs2 (fuse-gather-grad-add),
 * then with `project` (fuse-gather-grad-matmul) the product's a [T,E] and b [D,E]. Given the operand
 * indices instead of the operands, it names each one's index (for lowerings that bind by index).
 */
export function gatherGradOperands<T>(attrs: OpAttrs['moe_gather_grad'], inputs: readonly T[]): {
  readonly dXs: T;
  readonly permRow: T;
  readonly dXs2?: T;
  readonly project?: { readonly a: T; readonly b: T };
} {
  const second = inputs.length === (attrs.project ? 5 : 3);
  const n = inputs.length;
  return { dXs: inputs[0], permRow: inputs[1], dXs2: second ? inputs[2] : undefined, project: attrs.project ? { a: inputs[n - 2], b: inputs[n - 1] } : undefined };
}

/** A grouped_matmul_grad_x's operands by role: dY, the weight(s) (W, or W_c and W_u), counts, then
 *  the addend with `addend` (fuse-grad-x-add). */
export function gradXOperands<T>(attrs: OpAttrs['grouped_matmul_grad_x'], inputs: readonly T[]): { readonly dY: T; readonly weights: readonly T[]; readonly counts: T; readonly addend?: T } {
  const w = attrs.sharedWeight ? 2 : 1;
  return { dY: inputs[0], weights: inputs.slice(1, 1 + w), counts: inputs[1 + w], addend: attrs.addend ? inputs[2 + w] : undefined };
}

export const sameValue = (a: Value, b: Value): boolean => a.node === b.node && a.index === b.index;
export const typeOf = (v: Value): TensorType => v.node.types[v.index];
export const numel = (t: TensorType | readonly number[]): number =>
  ('shape' in t ? t.shape : t).reduce((p: number, d: number) => p * d, 1);
/** Most scalar addends a fused cross-entropy sums into the total loss (fuse-loss-sum): each is a
 *  storage binding of the masked-mean kernel, within WebGPU's 8 storage buffers per stage beside its
 *  own four. */
export const MAX_LOSS_ADDENDS = 4;

export const formatType = (t: TensorType): string => `${t.dtype}[${t.shape.join(',')}]`;
