// In-place SGD step with momentum and L2 weight decay, PyTorch's torch.optim.SGD semantics
// (dampening 0, nesterov off), over one parameter buffer or a packed slab of several params:
//   d = clip·g + wd·p;   buf = μ·buf + d;   p = p − lr·buf
// torch.optim.SGD's weight_decay is coupled (L2: added to the gradient before the momentum), not
// decoupled as in AdamW, and so is this one. PyTorch starts the buffer as a copy of the first d;
// the buffer here starts at zero, and μ·0 + d = d, the same step. With μ = 0 the buffer holds d
// (plain SGD). lr and the clip scale are read from device buffers (one pipeline for every step).
//
// Invariants:
// - The clip scale (grad-norm's [0]) multiplies the gradient before weight decay, as
//   clip_grad_norm_ on .grad before optimizer.step() does in PyTorch.
// - Per-parameter weight decay inside a slab comes from `segments` (contiguous, covering
//   [0, length)), like AdamW's (wd = 0 for norms and biases).
// - `output: 'step'`: the param is left alone and the step Δ = −lr·buf is written over `grad`
//   (dead after the update) for SD-MoE `project update` to project and apply.
import { InternalError } from '../../base/errors.ts';
import { decaySegments, type AdamWSegment } from './adamw.ts';
import { elementwiseLayout, layoutParams, type ElementwiseCaps } from './elementwise-layout.ts';
import { f32Literal, type KernelCase, type KernelProgram } from './types.ts';

export interface SgdParams {
  readonly length: number;
  readonly momentum: number;
  /** L2 weight decay for every element, or per-range decays for a packed slab. */
  readonly weightDecay: number | readonly AdamWSegment[];
  /** 'param' (default): update the param in place; 'step': write Δ over the gradient instead. */
  readonly output?: 'param' | 'step';
}

/** `caps`: the elementwise layout (compiler/kernels/elementwise-layout.ts), as AdamW (CPU adapters 64 × 16 vectors, GPUs 256 × 1). */
export function sgdProgram(p: SgdParams, caps?: ElementwiseCaps): KernelProgram {
  if (p.length < 1) throw new InternalError('sgd: empty parameter buffer');
  if (!(p.momentum >= 0 && p.momentum < 1)) throw new InternalError(`sgd: momentum must be in [0, 1), got ${p.momentum}`);
  const segments = decaySegments('sgd', p.length, p.weightDecay);
  const writeStep = p.output === 'step';
  const uniformDecay = segments.every((s) => s.weightDecay === segments[0].weightDecay);
  const vec4 = p.length % 4 === 0 && segments.every((s) => s.start % 4 === 0 && s.end % 4 === 0);
  const width = vec4 ? 4 : 1;
  const layout = elementwiseLayout(p.length, vec4, caps);
  return {
    template: 'sgd',
    label: `sgd_${p.length}_m${p.momentum}${uniformDecay ? `_wd${segments[0].weightDecay}` : `_seg${segments.length}`}${writeStep ? '_step' : ''}${vec4 ? '_v4' : ''}${layout.suffix}`,
    params: {
      length: p.length,
      momentum: f32Literal(p.momentum),
      uniformDecay,
      weightDecay: f32Literal(segments[0].weightDecay),
      segments: segments.map((s) => ({ start: s.start / width, end: s.end / width, weightDecay: f32Literal(s.weightDecay) })),
      ...layoutParams(layout),
      writeStep,
    },
    bindings: [
      { name: 'param', access: writeStep ? 'read' : 'readwrite', type: 'f32', length: p.length, vec4 },
      { name: 'grad', access: writeStep ? 'readwrite' : 'read', type: 'f32', length: p.length, vec4 },
      { name: 'momentum_buf', access: 'readwrite', type: 'f32', length: p.length, vec4, fill: { kind: 'float', lo: -0.1, hi: 0.1 } },
      { name: 'lr', access: 'read', type: 'f32', length: 1, fill: { kind: 'float', lo: 1e-3, hi: 1e-1 } },
      { name: 'clip', access: 'read', type: 'f32', length: 1, fill: { kind: 'float', lo: 0.2, hi: 1 } },
    ],
    workgroupSize: [layout.workgroup, 1, 1],
    dispatch: layout.dispatch,
    features: [],
  };
}

type Inputs = Readonly<Record<string, ArrayLike<number>>>;

export function sgdOracle(p: SgdParams) {
  return (inputs: Inputs): Record<string, Float32Array> => {
    const param = Float32Array.from(inputs.param);
    const grad = Float32Array.from(inputs.grad);
    const buf = Float32Array.from(inputs.momentum_buf);
    const lr = inputs.lr[0];
    const scale = inputs.clip[0];
    for (const s of decaySegments('sgd', p.length, p.weightDecay)) {
      for (let i = s.start; i < s.end; i++) {
        const d = inputs.grad[i] * scale + s.weightDecay * inputs.param[i];
        buf[i] = p.momentum * inputs.momentum_buf[i] + d;
        const delta = -lr * buf[i];
        if (p.output === 'step') grad[i] = delta;
        else param[i] = inputs.param[i] + delta;
      }
    }
    return p.output === 'step' ? { grad, momentum_buf: buf } : { param, momentum_buf: buf };
  };
}

export function sgdCase(p: SgdParams, caps?: ElementwiseCaps): KernelCase {
  return { program: sgdProgram(p, caps), oracle: sgdOracle(p), tolerance: { atol: 1e-6, rtol: 1e-5 } };
}
