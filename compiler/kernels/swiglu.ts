// SwiGLU: h = silu(g) ⊙ u over [T, F], and its backward (dg, du) as a separate program. The gate
// and up halves come either as two tensors g, u [T, F] or packed per row as [T, 2F] = [g | u]
// (what a fused gate+up GEMM writes); the packed backward writes dgu in the same packed layout.
//
// Layout: compiler/kernels/elementwise-layout.ts (vec4 when the element count, packed: the row half
// F, is a multiple of 4, else one f32; the template is the same text either way through `alias V`).
import { asLayout, elementwiseLayout, layoutParams, type ElementwiseCaps } from './elementwise-layout.ts';
import type { KernelBinding, KernelCase, KernelProgram } from './types.ts';


export interface SwigluParams {
  readonly tokens: number;
  readonly hidden: number;
  /** Gate and up halves packed per row as [g | u] in one [T, 2F] tensor. */
  readonly packed: boolean;
}

function checkParams(p: SwigluParams): void {
  if (!(Number.isInteger(p.tokens) && p.tokens > 0 && Number.isInteger(p.hidden) && p.hidden > 0)) {
    throw new Error(`swiglu: tokens and hidden must be positive integers, got ${p.tokens}x${p.hidden}`);
  }
}

function shapeTag(p: SwigluParams): string {
  return `${p.packed ? 'packed_' : ''}${p.tokens}x${p.hidden}`;
}

function gateUpBindings(p: SwigluParams) {
  const n = p.tokens * p.hidden;
  return p.packed
    ? [{ name: 'gu', access: 'read' as const, type: 'f32' as const, length: 2 * n, fill: { kind: 'float' as const, lo: -4, hi: 4 } }]
    : [
        { name: 'g', access: 'read' as const, type: 'f32' as const, length: n, fill: { kind: 'float' as const, lo: -4, hi: 4 } },
        { name: 'u', access: 'read' as const, type: 'f32' as const, length: n },
      ];
}

function common(p: SwigluParams, caps: ElementwiseCaps | undefined) {
  const n = p.tokens * p.hidden;
  // Packed rows split into [g | u] halves of F: vec4 needs F (hence n) to be a multiple of 4.
  const layout = elementwiseLayout(n, p.hidden % 4 === 0, caps);
  const tag = layout.vec4 ? '' : '_f32';
  return { n, layout, tag: `${layout.suffix}${tag}`, params: { ...layoutParams(layout), n, hidden: p.hidden, halfVectors: layout.vec4 ? p.hidden / 4 : p.hidden, packed: p.packed } };
}

export function swigluProgram(p: SwigluParams, caps?: ElementwiseCaps): KernelProgram {
  checkParams(p);
  const { n, layout, tag, params } = common(p, caps);
  const bindings: KernelBinding[] = [...gateUpBindings(p), { name: 'h', access: 'write', type: 'f32', length: n }];
  return {
    template: 'swiglu',
    label: `swiglu_fwd_${shapeTag(p)}${tag}`,
    params,
    bindings: bindings.map(asLayout(layout)),
    workgroupSize: [layout.workgroup, 1, 1],
    dispatch: layout.dispatch,
    features: [],
  };
}

export function swigluBackwardProgram(p: SwigluParams, caps?: ElementwiseCaps): KernelProgram {
  checkParams(p);
  const { n, layout, tag, params } = common(p, caps);
  const bindings: KernelBinding[] = [
    { name: 'dh', access: 'read', type: 'f32', length: n },
    ...gateUpBindings(p),
    ...(p.packed
      ? [{ name: 'dgu', access: 'write' as const, type: 'f32' as const, length: 2 * n }]
      : [
          { name: 'dg', access: 'write' as const, type: 'f32' as const, length: n },
          { name: 'du', access: 'write' as const, type: 'f32' as const, length: n },
        ]),
  ];
  return {
    template: 'swiglu_backward',
    label: `swiglu_bwd_${shapeTag(p)}${tag}`,
    params,
    bindings: bindings.map(asLayout(layout)),
    workgroupSize: [layout.workgroup, 1, 1],
    dispatch: layout.dispatch,
    features: [],
  };
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Splits the inputs into separate g and u arrays whatever the layout. */
function gateAndUp(p: SwigluParams, inputs: Readonly<Record<string, ArrayLike<number>>>): { g: Float64Array; u: Float64Array } {
  const n = p.tokens * p.hidden;
  const g = new Float64Array(n);
  const u = new Float64Array(n);
  for (let t = 0; t < p.tokens; t++) {
    for (let f = 0; f < p.hidden; f++) {
      const i = t * p.hidden + f;
      g[i] = p.packed ? inputs.gu[t * 2 * p.hidden + f] : inputs.g[i];
      u[i] = p.packed ? inputs.gu[t * 2 * p.hidden + p.hidden + f] : inputs.u[i];
    }
  }
  return { g, u };
}

/** float64 reference forward: h = silu(g) · u. */
export function swigluReference(p: SwigluParams, inputs: Readonly<Record<string, ArrayLike<number>>>): { h: Float64Array } {
  const { g, u } = gateAndUp(p, inputs);
  const h = new Float64Array(g.length);
  for (let i = 0; i < g.length; i++) h[i] = g[i] * sigmoid(g[i]) * u[i];
  return { h };
}

/** float64 reference backward; returns dgu (packed) or dg, du. */
export function swigluBackwardReference(p: SwigluParams, inputs: Readonly<Record<string, ArrayLike<number>>>): Record<string, Float64Array> {
  const { g, u } = gateAndUp(p, inputs);
  const dg = new Float64Array(g.length);
  const du = new Float64Array(g.length);
  for (let i = 0; i < g.length; i++) {
    const s = sigmoid(g[i]);
    du[i] = inputs.dh[i] * g[i] * s;
    dg[i] = inputs.dh[i] * u[i] * s * (1 + g[i] * (1 - s));
  }
  if (!p.packed) return { dg, du };
  const dgu = new Float64Array(2 * g.length);
  for (let t = 0; t < p.tokens; t++) {
    for (let f = 0; f < p.hidden; f++) {
      dgu[t * 2 * p.hidden + f] = dg[t * p.hidden + f];
      dgu[t * 2 * p.hidden + p.hidden + f] = du[t * p.hidden + f];
    }
  }
  return { dgu };
}

const toF32 = (r: Record<string, Float64Array>): Record<string, Float32Array> =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Float32Array.from(v)]));

export const swigluOracle = (p: SwigluParams) => (inputs: Readonly<Record<string, ArrayLike<number>>>) => toF32(swigluReference(p, inputs));
export const swigluBackwardOracle = (p: SwigluParams) => (inputs: Readonly<Record<string, ArrayLike<number>>>) => toF32(swigluBackwardReference(p, inputs));

const TOLERANCE = { atol: 1e-5, rtol: 1e-5 };

export function swigluCase(p: SwigluParams, caps?: ElementwiseCaps): KernelCase {
  return { program: swigluProgram(p, caps), oracle: swigluOracle(p), tolerance: TOLERANCE };
}

export function swigluBackwardCase(p: SwigluParams, caps?: ElementwiseCaps): KernelCase {
  return { program: swigluBackwardProgram(p, caps), oracle: swigluBackwardOracle(p), tolerance: TOLERANCE };
}
