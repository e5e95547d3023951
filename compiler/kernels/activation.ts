// FFN activations other than SwiGLU (compiler/kernels/swiglu.ts): gated GeGLU, h = gelu(g) ⊙ u,
// and the non-gated h = act(x) for act ∈ {gelu, relu, silu}, each with a backward program.
// GELU is the tanh approximation everywhere (the IR's ActivationFn documents why): the kernels
// compute it as x·sigmoid(2z), the oracles below as 0.5·x·(1 + tanh z), so the device and the
// reference agree through an identity, not by sharing a formula. Lengths need not be multiples of
// anything. Layout: the elementwise layout (compiler/kernels/elementwise-layout.ts) (vec4 when the length is a multiple of 4; CPU
// adapters get 64-invocation workgroups of 16 vectors per invocation, GPUs 256 × 1 vector; the
// measurements are in compiler/kernels/swiglu.ts's header).
import type { ActivationFn } from '../ir/types.ts';
import { asLayout, elementwiseLayout, layoutParams, type ElementwiseCaps } from './elementwise-layout.ts';
import { f32Literal, type KernelBinding, type KernelCase, type KernelProgram } from './types.ts';

export interface ActivationParams {
  /** Elements (rows × hidden). */
  readonly length: number;
  readonly fn: ActivationFn;
  /** act(g) ⊙ u (GeGLU for gelu) instead of act(x). */
  readonly gated: boolean;
}

export const GELU_K = Math.sqrt(2 / Math.PI);
export const GELU_C = 0.044715;
/** Pre-activations of random test inputs: wide enough to reach both tails of every function. */
const PRE_FILL = { kind: 'float', lo: -4, hi: 4 } as const;

function checkParams(p: ActivationParams): void {
  if (!(Number.isInteger(p.length) && p.length > 0)) throw new Error(`activation: length must be a positive integer, got ${p.length}`);
  if (!['gelu', 'relu', 'silu'].includes(p.fn)) throw new Error(`activation: unknown function ${p.fn}`);
}

const name = (p: ActivationParams): string => (p.gated ? (p.fn === 'gelu' ? 'geglu' : `${p.fn}_glu`) : p.fn);

function common(p: ActivationParams, caps: ElementwiseCaps | undefined) {
  checkParams(p);
  const layout = elementwiseLayout(p.length, p.length % 4 === 0, caps);
  return {
    layout,
    tag: `${layout.suffix}${layout.vec4 ? '' : '_f32'}`,
    params: {
      ...layoutParams(layout),
      n: p.length,
      fnName: p.fn,
      gated: p.gated,
      gelu: p.fn === 'gelu',
      relu: p.fn === 'relu',
      silu: p.fn === 'silu',
      geluK: f32Literal(GELU_K),
      geluC: f32Literal(GELU_C),
      twoGeluK: f32Literal(2 * GELU_K),
      threeGeluC: f32Literal(3 * GELU_C),
    },
  };
}

function preActivation(p: ActivationParams): KernelBinding[] {
  return p.gated
    ? [
        { name: 'g', access: 'read', type: 'f32', length: p.length, fill: PRE_FILL },
        { name: 'u', access: 'read', type: 'f32', length: p.length },
      ]
    : [{ name: 'x', access: 'read', type: 'f32', length: p.length, fill: PRE_FILL }];
}

export function activationProgram(p: ActivationParams, caps?: ElementwiseCaps): KernelProgram {
  const { layout, tag, params } = common(p, caps);
  const bindings: KernelBinding[] = [...preActivation(p), { name: 'h', access: 'write', type: 'f32', length: p.length }];
  return {
    template: 'activation',
    label: `${name(p)}_fwd_${p.length}${tag}`,
    params,
    bindings: bindings.map(asLayout(layout)),
    workgroupSize: [layout.workgroup, 1, 1],
    dispatch: layout.dispatch,
    features: [],
  };
}

export function activationBackwardProgram(p: ActivationParams, caps?: ElementwiseCaps): KernelProgram {
  const { layout, tag, params } = common(p, caps);
  const outputs: KernelBinding[] = p.gated
    ? [
        { name: 'dg', access: 'write', type: 'f32', length: p.length },
        { name: 'du', access: 'write', type: 'f32', length: p.length },
      ]
    : [{ name: 'dx', access: 'write', type: 'f32', length: p.length }];
  return {
    template: 'activation_backward',
    label: `${name(p)}_bwd_${p.length}${tag}`,
    params,
    bindings: [{ name: 'dh', access: 'read', type: 'f32', length: p.length } as KernelBinding, ...preActivation(p), ...outputs].map(asLayout(layout)),
    workgroupSize: [layout.workgroup, 1, 1],
    dispatch: layout.dispatch,
    features: [],
  };
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** float64 activation values and derivatives, written independently of the WGSL forms. */
export const ACTIVATION_REFERENCE: Record<ActivationFn, { f: (x: number) => number; df: (x: number) => number }> = {
  gelu: {
    f: (x) => 0.5 * x * (1 + Math.tanh(GELU_K * (x + GELU_C * x ** 3))),
    df: (x) => {
      const t = Math.tanh(GELU_K * (x + GELU_C * x ** 3));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_K * (1 + 3 * GELU_C * x * x);
    },
  },
  relu: { f: (x) => (x > 0 ? x : 0), df: (x) => (x > 0 ? 1 : 0) },
  silu: { f: (x) => x * sigmoid(x), df: (x) => sigmoid(x) * (1 + x * (1 - sigmoid(x))) },
};

type Inputs = Readonly<Record<string, ArrayLike<number>>>;

/** float64 forward reference: h from x, or from g and u when gated. */
export function activationReference(p: ActivationParams, inputs: Inputs): { h: Float64Array } {
  const { f } = ACTIVATION_REFERENCE[p.fn];
  const pre = p.gated ? inputs.g : inputs.x;
  return { h: Float64Array.from({ length: p.length }, (_, i) => f(pre[i]) * (p.gated ? inputs.u[i] : 1)) };
}

/** float64 backward reference: dx, or dg and du when gated. */
export function activationBackwardReference(p: ActivationParams, inputs: Inputs): Record<string, Float64Array> {
  const { f, df } = ACTIVATION_REFERENCE[p.fn];
  const { dh } = inputs;
  if (!p.gated) return { dx: Float64Array.from({ length: p.length }, (_, i) => dh[i] * df(inputs.x[i])) };
  const { g, u } = inputs;
  return {
    dg: Float64Array.from({ length: p.length }, (_, i) => dh[i] * u[i] * df(g[i])),
    du: Float64Array.from({ length: p.length }, (_, i) => dh[i] * f(g[i])),
  };
}

const toF32 = (r: Record<string, Float64Array>): Record<string, Float32Array> =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Float32Array.from(v)]));

const TOLERANCE = { atol: 1e-5, rtol: 1e-5 };

export function activationCase(p: ActivationParams, caps?: ElementwiseCaps): KernelCase {
  return { program: activationProgram(p, caps), oracle: (inputs) => toF32(activationReference(p, inputs)), tolerance: TOLERANCE };
}

export function activationBackwardCase(p: ActivationParams, caps?: ElementwiseCaps): KernelCase {
  return { program: activationBackwardProgram(p, caps), oracle: (inputs) => toF32(activationBackwardReference(p, inputs)), tolerance: TOLERANCE };
}
