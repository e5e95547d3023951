// SD-MoE proxy weights: out[e] = W_c + W_u(e) for every expert e (digest §2.2, eq. 8), materialised
// once per step for the grouped expert GEMMs. The generic broadcast add computes every operand
// index with a division per dimension and loads scalars; this kernel needs none of that: W_u and
// the output are contiguous [E, K·N], W_c repeats every K·N elements. The vec4 variant (K·N a
// multiple of 4) moves 4 elements per load, which on lavapipe (per-lane loads scalarised) is most
// of the cost.
import { elementwiseLayout, layoutParams, type ElementwiseCaps } from './elementwise-layout.ts';
import type { KernelCase, KernelProgram } from './types.ts';

export interface SdProxyParams {
  readonly experts: number;
  /** K·N: elements of one expert matrix. */
  readonly matrix: number;
}

/** `caps`: the elementwise layout (compiler/kernels/elementwise-layout.ts) (CPU adapters: 64 invocations × 16 vectors;
 *  GPUs and no caps: 256 × 1). On lavapipe the CPU layout took 0.70–0.72 of the 256 × 1 layout's time at the
 *  demo's 4×64×128, 0.64–0.74 at qwen_tiny's 8×128×128 (`npm run bench -- row-variants`). */
export function sdProxyProgram(p: SdProxyParams, caps?: ElementwiseCaps): KernelProgram {
  if (!Number.isInteger(p.experts) || p.experts < 1 || !Number.isInteger(p.matrix) || p.matrix < 1) {
    throw new Error(`sd_proxy: experts and matrix must be positive integers, got ${p.experts}, ${p.matrix}`);
  }
  const vec4 = p.matrix % 4 === 0;
  const width = vec4 ? 4 : 1;
  const layout = elementwiseLayout(p.experts * p.matrix, vec4, caps);
  return {
    template: 'sd-proxy',
    label: `sd_proxy_e${p.experts}_${p.matrix}${vec4 ? '_v4' : ''}${layout.suffix}`,
    params: { ...layoutParams(layout), matrix: p.matrix / width },
    bindings: [
      { name: 'wc', access: 'read', type: 'f32', length: p.matrix, vec4 },
      { name: 'wu', access: 'read', type: 'f32', length: p.experts * p.matrix, vec4 },
      { name: 'out', access: 'write', type: 'f32', length: p.experts * p.matrix, vec4 },
    ],
    workgroupSize: [layout.workgroup, 1, 1],
    dispatch: layout.dispatch,
    features: [],
  };
}

export function sdProxyOracle(p: SdProxyParams) {
  return ({ wc, wu }: Readonly<Record<string, ArrayLike<number>>>): Record<string, Float32Array> => {
    const out = new Float32Array(p.experts * p.matrix);
    for (let e = 0; e < p.experts; e++) for (let i = 0; i < p.matrix; i++) out[e * p.matrix + i] = wc[i] + wu[e * p.matrix + i];
    return { out };
  };
}

export function sdProxyCase(p: SdProxyParams, caps?: ElementwiseCaps): KernelCase {
  // One f32 addition: the result is the correctly rounded sum.
  return { program: sdProxyProgram(p, caps), oracle: sdProxyOracle(p), tolerance: { atol: 0, rtol: 1e-7 } };
}
