// SD-MoE proxy weights: out[e] = W_c + W_u(e) for every expert e (digest §2.2, eq. 8), materialised
// once per step for the grouped expert GEMMs. The generic broadcast add computes every operand
// index with a division per dimension and loads scalars; this kernel needs none of that: W_u and
// the output are contiguous [E, K·N], W_c repeats every K·N elements. The vec4 variant (K·N a
// multiple of 4) moves 4 elements per load, which on lavapipe (per-lane loads scalarised) is most
// of the cost.
// Variants (sdProxyVariant, from the shape and DeviceCaps, never a user flag):
//   flat  any shape, one element (or vec4 when K·N allows) per invocation over all experts.      GPUs
//   grid  CPU adapters (lavapipe, SwiftShader), K·N a multiple of 4 and W_c within 64 KiB: the expert
//         is the workgroup's (no per-lane remainder: lavapipe has no vector integer division), W_c a
//         uniform buffer (a branch-free gather; a storage load at a per-lane address is a branch per
//         lane and component), 4 vec4s per invocation. 4×8192 (the demo's): 72 → 59 µs best of
//         interleaved passes on lavapipe (load 11).
import { ceilDiv, spreadWorkgroups, type DeviceCaps, type KernelCase, type KernelProgram } from './types.ts';

export interface SdProxyParams {
  readonly experts: number;
  /** K·N: elements of one expert matrix. */
  readonly matrix: number;
}

const WORKGROUP = 256;

export type SdProxyVariant = 'flat' | 'grid';

/** WebGPU's default maxUniformBufferBindingSize (the device does not ask for more). */
const UNIFORM_BYTES = 65536;

/** Invocations per workgroup and vec4s per invocation of the grid variant (measured on lavapipe: 1 per invocation was slower than flat). */
const GRID = { wg: 64, perLane: 4 } as const;

export function sdProxyVariant(p: SdProxyParams, caps?: Pick<DeviceCaps, 'cpuAdapter'>): SdProxyVariant {
  return caps?.cpuAdapter === true && p.matrix % 4 === 0 && p.matrix * 4 <= UNIFORM_BYTES ? 'grid' : 'flat';
}

function check(p: SdProxyParams): void {
  if (!Number.isInteger(p.experts) || p.experts < 1 || !Number.isInteger(p.matrix) || p.matrix < 1) {
    throw new Error(`sd_proxy: experts and matrix must be positive integers, got ${p.experts}, ${p.matrix}`);
  }
}

export function sdProxyProgram(p: SdProxyParams, variant: SdProxyVariant = 'flat'): KernelProgram {
  check(p);
  if (variant === 'grid') return sdProxyGridProgram(p);
  const vec4 = p.matrix % 4 === 0;
  const width = vec4 ? 4 : 1;
  const threads = (p.experts * p.matrix) / width;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(threads, WORKGROUP));
  return {
    template: 'sd-proxy',
    label: `sd_proxy_e${p.experts}_${p.matrix}${vec4 ? '_v4' : ''}`,
    params: { threads, matrix: p.matrix / width, dispatchX },
    bindings: [
      { name: 'wc', access: 'read', type: 'f32', length: p.matrix, vec4 },
      { name: 'wu', access: 'read', type: 'f32', length: p.experts * p.matrix, vec4 },
      { name: 'out', access: 'write', type: 'f32', length: p.experts * p.matrix, vec4 },
    ],
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch,
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

function sdProxyGridProgram(p: SdProxyParams): KernelProgram {
  if (p.matrix % 4 !== 0 || p.matrix * 4 > UNIFORM_BYTES) throw new Error(`sd_proxy: the grid variant needs K·N a multiple of 4 and W_c within ${UNIFORM_BYTES} bytes, got ${p.matrix}`);
  const m4 = p.matrix / 4;
  const groupsX = ceilDiv(m4, GRID.wg * GRID.perLane);
  if (groupsX > 65535 || p.experts > 65535) throw new Error(`sd_proxy: ${p.experts} experts of ${p.matrix} elements exceed one dispatch`);
  return {
    template: 'sd-proxy-grid',
    label: `sd_proxy_e${p.experts}_${p.matrix}_grid`,
    params: { matrix4: m4, perLane: GRID.perLane },
    bindings: [
      { name: 'wc', access: 'uniform', type: 'f32', length: p.matrix },
      { name: 'wu', access: 'read', type: 'f32', length: p.experts * p.matrix, vec4: true },
      { name: 'out', access: 'write', type: 'f32', length: p.experts * p.matrix, vec4: true },
    ],
    workgroupSize: [GRID.wg, 1, 1],
    dispatch: [groupsX, p.experts, 1],
    features: [],
  };
}

export function sdProxyCase(p: SdProxyParams, variant: SdProxyVariant = 'flat'): KernelCase {
  // One f32 addition: the result is the correctly rounded sum.
  return { program: sdProxyProgram(p, variant), oracle: sdProxyOracle(p), tolerance: { atol: 0, rtol: 1e-7 } };
}
