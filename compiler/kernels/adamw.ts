// In-place AdamW step (PyTorch semantics: decoupled weight decay p ← p·(1 − lr·wd), bias-corrected
// moments) over one parameter buffer or a packed arena of several parameters in one dispatch.
// lr, the step number (for 1 − β^t) and the clip scale are read from small device buffers, so one
// compiled pipeline serves every step of the run: the LR schedule and the grad-norm kernel write
// those buffers on the device, and nothing is recompiled or read back per step.
//
// Invariants:
// - Betas, eps and weight decays are baked (they are fixed for a run); per-parameter weight decay
//   inside a packed arena comes from `segments`, contiguous ranges covering [0, length), e.g.
//   wd = 0 for norms and biases.
// - `resetEvery` N > 0: bias correction uses t = ((step − 1) mod N) + 1, the steps since the moments
//   were last zeroed (SD-MoE `moments reset` zeroes them after every step s with s mod N = 0), so
//   the first update after a reset is a fresh Adam step; derived from the global step, so resuming
//   a run needs no extra state.
// - `output: 'step'`: the param is left alone and the step Δ = p_new − p (weight decay included)
//   is written over `grad` (dead after the update), for a later stage to transform and apply
//   (SD-MoE `project update`).
// - The gradient is multiplied by clip[0] (from grad-norm) before the moment update.
//
// SD-MoE seam (gradient transform): the step consumes whatever buffer is bound as `g`. To transform
// gradients before the moments (SD-MoE's spectral split G → (G_c, G_u), or any projection), the
// compiler inserts a separate kernel stage between the backward pass and this one that reads the
// raw per-expert gradient G^(e) and writes the transformed gradients of W_c and W_u[e], and binds
// those outputs as `g` here. This kernel stays transform-agnostic, so the transform is testable in
// isolation against its own oracle, and the clip is computed on whichever gradient the compiler
// chooses to feed the grad-norm stage (the raw or the transformed one).
import { InternalError } from '../../base/errors.ts';
import { elementwiseLayout, layoutParams, type ElementwiseCaps } from './elementwise-layout.ts';
import { f32Literal, type KernelCase, type KernelProgram } from './types.ts';

export interface AdamWSegment {
  readonly start: number;
  readonly end: number;
  readonly weightDecay: number;
}

export interface AdamWParams {
  /** Elements updated (the whole buffer or packed arena). */
  readonly length: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Weight decay for every element, or per-range decays (`segments`) for a packed arena. */
  readonly weightDecay: number | readonly AdamWSegment[];
  /** Restart bias correction every N steps (0 or absent: never). */
  readonly resetEvery?: number;
  /** 'param' (default): update the param in place; 'step': write Δ over the gradient instead. */
  readonly output?: 'param' | 'step';
}


/** The weight-decay ranges of a (packed) optimizer buffer, checked contiguous and covering it;
 *  shared by every optimizer kernel that takes AdamWSegment decays (adamw, sgd). */
export function decaySegments(kernel: string, length: number, weightDecay: number | readonly AdamWSegment[]): readonly AdamWSegment[] {
  if (typeof weightDecay === 'number') return [{ start: 0, end: length, weightDecay }];
  let expected = 0;
  for (const s of weightDecay) {
    if (s.start !== expected || s.end <= s.start) throw new InternalError(`${kernel}: weight-decay segments must be contiguous and non-empty; got [${s.start}, ${s.end}) after ${expected}`);
    expected = s.end;
  }
  if (expected !== length) throw new InternalError(`${kernel}: weight-decay segments cover ${expected} of ${length} elements`);
  return weightDecay;
}

/** `caps`: the elementwise layout (compiler/kernels/elementwise-layout.ts) (CPU adapters: 64 invocations × 16 vectors,
 *  each invocation forming lr, the bias corrections and the clip scale once; GPUs and no caps: 256 × 1).
 *  On lavapipe 0.75 of the 256 × 1 layout's time over the demo's 360 960-float slab, 0.77 over
 *  qwen_tiny's 3.4 M (`npm run bench -- row-variants`). */
export function adamwProgram(p: AdamWParams, caps?: ElementwiseCaps): KernelProgram {
  if (p.length < 1) throw new InternalError('adamw: empty parameter buffer');
  if (!(p.beta1 >= 0 && p.beta1 < 1 && p.beta2 >= 0 && p.beta2 < 1 && p.eps > 0)) throw new InternalError(`adamw: betas must be in [0, 1) and eps positive`);
  const segments = decaySegments('adamw', p.length, p.weightDecay);
  const resetEvery = p.resetEvery ?? 0;
  if (!(Number.isInteger(resetEvery) && resetEvery >= 0)) throw new InternalError(`adamw: resetEvery must be a non-negative integer, got ${resetEvery}`);
  const writeStep = p.output === 'step';
  const uniformDecay = segments.every((s) => s.weightDecay === segments[0].weightDecay);
  // lavapipe turns every per-lane buffer access into scalar loads, so one vec4 access per
  // tensor is ~4× cheaper than four f32 ones; packed optimizer slabs are 64-float aligned.
  const vec4 = p.length % 4 === 0 && segments.every((s) => s.start % 4 === 0 && s.end % 4 === 0);
  const width = vec4 ? 4 : 1;
  const layout = elementwiseLayout(p.length, vec4, caps);
  return {
    template: 'adamw',
    label: `adamw_${p.length}${uniformDecay ? `_wd${segments[0].weightDecay}` : `_seg${segments.length}`}${resetEvery > 0 ? `_reset${resetEvery}` : ''}${writeStep ? '_step' : ''}${vec4 ? '_v4' : ''}${layout.suffix}`,
    params: {
      length: p.length,
      beta1: f32Literal(p.beta1),
      beta2: f32Literal(p.beta2),
      oneMinusBeta1: f32Literal(1 - p.beta1),
      oneMinusBeta2: f32Literal(1 - p.beta2),
      eps: f32Literal(p.eps),
      uniformDecay,
      weightDecay: f32Literal(segments[0].weightDecay),
      // Segment bounds in the units the kernel indexes (vec4s or floats).
      segments: segments.map((s) => ({ start: s.start / width, end: s.end / width, weightDecay: f32Literal(s.weightDecay) })),
      ...layoutParams(layout),
      resetEvery,
      writeStep,
    },
    bindings: [
      { name: 'param', access: writeStep ? 'read' : 'readwrite', type: 'f32', length: p.length, vec4 },
      { name: 'grad', access: writeStep ? 'readwrite' : 'read', type: 'f32', length: p.length, vec4 },
      { name: 'm', access: 'readwrite', type: 'f32', length: p.length, vec4, fill: { kind: 'float', lo: -0.1, hi: 0.1 } },
      { name: 'v', access: 'readwrite', type: 'f32', length: p.length, vec4, fill: { kind: 'float', lo: 0, hi: 0.02 } },
      { name: 'lr', access: 'read', type: 'f32', length: 1, fill: { kind: 'float', lo: 1e-4, hi: 1e-2 } },
      { name: 'step', access: 'read', type: 'u32', length: 1, fill: { kind: 'int', lo: 1, hi: 200 } },
      { name: 'clip', access: 'read', type: 'f32', length: 1, fill: { kind: 'float', lo: 0.2, hi: 1 } },
    ],
    workgroupSize: [layout.workgroup, 1, 1],
    dispatch: layout.dispatch,
    features: [],
  };
}

type Inputs = Readonly<Record<string, ArrayLike<number>>>;

export function adamwOracle(p: AdamWParams) {
  return (inputs: Inputs): Record<string, Float32Array> => {
    const param = Float32Array.from(inputs.param);
    const grad = Float32Array.from(inputs.grad);
    const m = Float32Array.from(inputs.m);
    const v = Float32Array.from(inputs.v);
    const lr = inputs.lr[0];
    const t = p.resetEvery ? ((inputs.step[0] - 1) % p.resetEvery) + 1 : inputs.step[0];
    const scale = inputs.clip[0];
    const bc1 = 1 - p.beta1 ** t;
    const bc2 = 1 - p.beta2 ** t;
    for (const s of decaySegments('adamw', p.length, p.weightDecay)) {
      for (let i = s.start; i < s.end; i++) {
        const g = inputs.grad[i] * scale;
        const mi = p.beta1 * inputs.m[i] + (1 - p.beta1) * g;
        const vi = p.beta2 * inputs.v[i] + (1 - p.beta2) * g * g;
        const delta = -inputs.param[i] * lr * s.weightDecay - ((lr / bc1) * mi) / (Math.sqrt(vi) / Math.sqrt(bc2) + p.eps);
        if (p.output === 'step') grad[i] = delta;
        else param[i] = inputs.param[i] + delta;
        m[i] = mi;
        v[i] = vi;
      }
    }
    return p.output === 'step' ? { grad, m, v } : { param, m, v };
  };
}

export function adamwCase(p: AdamWParams, caps?: ElementwiseCaps): KernelCase {
  return { program: adamwProgram(p, caps), oracle: adamwOracle(p), tolerance: { atol: 1e-6, rtol: 1e-5 } };
}
