// The strided layout of the elementwise-style kernels (swiglu, activation, AdamW, SGD, grad_accum,
// the SD proxies): an invocation handles `items` vectors, strided by the workgroup size so
// neighbouring invocations touch neighbouring memory; a vector is a vec4 when the element count
// allows, else one f32. Chosen from the adapter, never a flag:
// - CPU adapters (caps.cpuAdapter: lavapipe, SwiftShader): 64 invocations × 16 vectors per
//   workgroup. There a workgroup is a serial loop with a fixed cost: one thread per scalar in
//   256-wide workgroups took 655-830 µs for the demo's 1024×128 SwiGLU forward on lavapipe, one vec4
//   per invocation ~270 µs, 64 × 32 vec4s ~200 µs (interleaved, GPU timestamps). The optimizer and
//   proxy kernels measured 0.64–0.77 of their 256 × 1 time (`npm run bench -- row-variants`). The
//   templates hide the loop's trip count from the shader compiler: unrolled, pipelines compiled for
//   2-10 s.
// - GPUs (cpuAdapter false or no caps): 256 invocations × 1 vector, the usual coalesced layout.
// Invariants: vectors past the end are skipped by a guard; n need not be a multiple of anything.
import type { DeviceCaps } from '../../base/caps.ts';
import { InternalError } from '../../base/errors.ts';
import type { Dim3 } from '../codegen/kernel.ts';
import { ceilDiv, spreadWorkgroups, type KernelBinding } from './types.ts';

/** What the elementwise layout reads from the device (a full DeviceCaps fits). */
export type ElementwiseCaps = Pick<DeviceCaps, 'cpuAdapter'>;

export interface ElementwiseLayout {
  readonly vec4: boolean;
  /** Vectors (vec4 or f32) in the whole tensor. */
  readonly vectors: number;
  /** Vectors per invocation. */
  readonly items: number;
  readonly workgroup: number;
  readonly dispatch: Dim3;
  readonly dispatchX: number;
  /** Label suffix of the CPU layout (`_cpu`), empty for the GPU one. */
  readonly suffix: string;
}

const CPU_LAYOUT = { workgroup: 64, items: 16 } as const;
const GPU_LAYOUT = { workgroup: 256, items: 1 } as const;

/** The layout of an elementwise kernel over `elements` values; `vec4` only when they split evenly. */
export function elementwiseLayout(elements: number, vec4: boolean, caps: ElementwiseCaps | undefined): ElementwiseLayout {
  if (vec4 && elements % 4 !== 0) throw new InternalError(`elementwise layout: vec4 over ${elements} elements`);
  const cpu = caps?.cpuAdapter === true;
  const { workgroup, items } = cpu ? CPU_LAYOUT : GPU_LAYOUT;
  const vectors = vec4 ? elements / 4 : elements;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(vectors, workgroup * items));
  return { vec4, vectors, items, workgroup, dispatch, dispatchX, suffix: cpu ? '_cpu' : '' };
}

/** Template params of a layout (the template guards with `vectors`, strides with `span`). */
export function layoutParams(l: ElementwiseLayout) {
  return { vec4: l.vec4, vectors: l.vectors, items: l.items, span: l.items * l.workgroup, dispatchX: l.dispatchX };
}

/** Marks a binding as vec4 when the layout is (its length stays in f32 elements). */
export const asLayout = (l: ElementwiseLayout) => (b: KernelBinding): KernelBinding => (l.vec4 ? { ...b, vec4: true } : b);
