// SD-MoE proxy weights: out[e] = W_c + W_u(e) for every expert e (digest §2.2, eq. 8), materialised
// once per step for the grouped expert GEMMs. The generic broadcast add computes every operand
// index with a division per dimension and loads scalars; this kernel needs none of that: W_u and
// the output are contiguous [E, K·N], W_c repeats every K·N elements. The vec4 variant (K·N a
// multiple of 4) moves 4 elements per load, which on lavapipe (per-lane loads scalarised) is most
// of the cost.
// A batch: several SD matrices of one shape in one dispatch (the planner's proxy batches,
// compiler/codegen/batches.ts): member j reads W_c at wc[wcAt[j]…] and W_u at wu[wuAt[j]…] and
// writes out[outAt[j]…], offsets in vectors into the bound buffers (the param slabs, the batch's
// output buffer). On lavapipe one dispatch of the demo_sd's six matrices took 0.54–0.56 of six
// dispatches' time ad hoc, 0.874 in `npm run bench -- row-variants` (the batch pair, a busier
// minute). One member at offset 0 is the plain kernel.
// Invariants: members do not overlap in `out`; offsets are whole vectors.
import { elementwiseLayout, layoutParams, type ElementwiseCaps } from './elementwise-layout.ts';
import type { KernelCase, KernelProgram } from './types.ts';

export interface SdProxyParams {
  readonly experts: number;
  /** K·N: elements of one expert matrix. */
  readonly matrix: number;
}

/** Where one batch member's operands and result sit, in f32 elements from the start of each bound buffer. */
export interface SdProxyMember {
  readonly wc: number;
  readonly wu: number;
  readonly out: number;
}

const SINGLE: readonly SdProxyMember[] = [{ wc: 0, wu: 0, out: 0 }];

/** `caps`: the elementwise layout (compiler/kernels/elementwise-layout.ts) (CPU adapters: 64 invocations × 16 vectors;
 *  GPUs and no caps: 256 × 1). On lavapipe the CPU layout took 0.70–0.72 of the 256 × 1 layout's time at the
 *  demo's 4×64×128, 0.64–0.74 at qwen_tiny's 8×128×128 (`npm run bench -- row-variants`).
 *  `members`: the batch (default: one matrix at offset 0). */
export function sdProxyProgram(p: SdProxyParams, caps?: ElementwiseCaps, members: readonly SdProxyMember[] = SINGLE): KernelProgram {
  if (!Number.isInteger(p.experts) || p.experts < 1 || !Number.isInteger(p.matrix) || p.matrix < 1) {
    throw new Error(`sd_proxy: experts and matrix must be positive integers, got ${p.experts}, ${p.matrix}`);
  }
  if (members.length < 1) throw new Error('sd_proxy: a batch needs a member');
  const vec4 = p.matrix % 4 === 0;
  const width = vec4 ? 4 : 1;
  for (const m of members) {
    if (![m.wc, m.wu, m.out].every((o) => Number.isInteger(o) && o >= 0 && o % width === 0)) throw new Error(`sd_proxy: member offsets must be whole ${vec4 ? 'vec4s' : 'elements'}, got ${JSON.stringify(m)}`);
  }
  const per = p.experts * p.matrix;
  const outs = [...members].sort((a, b) => a.out - b.out);
  for (let j = 1; j < outs.length; j++) if (outs[j].out < outs[j - 1].out + per) throw new Error(`sd_proxy: batch members overlap in out at ${outs[j].out}`);
  const layout = elementwiseLayout(members.length * per, vec4, caps);
  const end = (key: keyof SdProxyMember, size: number) => Math.max(...members.map((m) => m[key] + size));
  const table = (key: keyof SdProxyMember) => members.map((m) => `${m[key] / width}u`).join(', ');
  const batch = members === SINGLE ? '' : `_b${members.length}`;
  return {
    template: 'sd-proxy',
    label: `sd_proxy_e${p.experts}_${p.matrix}${vec4 ? '_v4' : ''}${batch}${layout.suffix}`,
    params: { ...layoutParams(layout), matrix: p.matrix / width, per: per / width, count: members.length, wcAt: table('wc'), wuAt: table('wu'), outAt: table('out') },
    bindings: [
      { name: 'wc', access: 'read', type: 'f32', length: end('wc', p.matrix), vec4 },
      { name: 'wu', access: 'read', type: 'f32', length: end('wu', per), vec4 },
      { name: 'out', access: 'write', type: 'f32', length: end('out', per), vec4 },
    ],
    workgroupSize: [layout.workgroup, 1, 1],
    dispatch: layout.dispatch,
    features: [],
  };
}

export function sdProxyOracle(p: SdProxyParams, members: readonly SdProxyMember[] = SINGLE) {
  return ({ wc, wu }: Readonly<Record<string, ArrayLike<number>>>): Record<string, Float32Array> => {
    const per = p.experts * p.matrix;
    // Elements between members are never written: they keep the zeros a new buffer starts with.
    const out = new Float32Array(Math.max(...members.map((m) => m.out + per)));
    for (const m of members) {
      for (let e = 0; e < p.experts; e++) for (let i = 0; i < p.matrix; i++) out[m.out + e * p.matrix + i] = wc[m.wc + i] + wu[m.wu + e * p.matrix + i];
    }
    return { out };
  };
}

export function sdProxyCase(p: SdProxyParams, caps?: ElementwiseCaps, members: readonly SdProxyMember[] = SINGLE): KernelCase {
  // One f32 addition: the result is the correctly rounded sum.
  return { program: sdProxyProgram(p, caps, members), oracle: sdProxyOracle(p, members), tolerance: { atol: 0, rtol: 1e-7 } };
}
