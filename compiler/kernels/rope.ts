// Rotary position embedding (NeoX / HF Llama "rotate_half" convention) on x [T, heads·hd]: within
// each head, element i < hd/2 pairs with i + hd/2 and both rotate by angle = pos · theta^(−2i/hd),
// pos = t mod S (row t belongs to sequence ⌊t/S⌋). The backward is the same kernel rotating by −angle
// (`inverse`), since the rotation is orthogonal. Two variants, chosen from the adapter (ropeVariant):
//   'element' (GPUs: cpuAdapter false)  one thread per (t, head, i): the most parallelism.
//   'row'     (CPU adapters)            one invocation per token row t: cos/sin of each angle i formed
//             once and applied to every head. On a CPU adapter the trigonometry is the cost, so this
//             does 1/heads of it, and 1/(heads·hd/2) as many invocations.
//   'row4'    (CPU adapters, hd/2 % 4 == 0)  the row kernel taking angles i..i+3 at once, every
//             binding read and written as vec4s: lavapipe turns each per-lane access into a gather,
//             so this issues a quarter of them. The demo's q+k pair (512 tokens, 4+4 heads of 16):
//             0.61–0.66 (forward) and 0.45–0.68 (backward) × the row kernel's time; qwen_tiny's
//             4+4 heads of 32: 0.77–0.82 (`npm run bench -- row-variants`, docs/results/issue8/).
//
// With `pairHeads` one dispatch rotates two tensors of the same tokens (q and k, or their gradients:
// fuse-rope-pair): x2 [T, pairHeads·hd] → out2. The row variant applies each cos/sin to the heads
// of both; the element variant numbers the second tensor's threads after the first's.
//
// Precision: inverse frequencies are computed in float64 here and written as literals scaled to
// turns (1/2π); the shader reduces pos·turns to [−½, ½) before sin/cos, so the trigonometry stays
// in [−π, π] where WGSL bounds its error, whatever S is.
import type { RowKernelCaps } from '../../base/caps.ts';
import { InternalError } from '../../base/errors.ts';
import { ceilDiv, f32Literal, spreadWorkgroups, type KernelCase, type KernelProgram } from './types.ts';

export interface RopeParams {
  readonly tokens: number;
  /** Sequence length S: position = t mod S. */
  readonly seqLen: number;
  readonly heads: number;
  /** Even. */
  readonly headDim: number;
  readonly theta: number;
  /** Rotate by −angle: the backward pass (dx from dOut). */
  readonly inverse: boolean;
  /** Rotate `x` in place (one read_write binding) instead of writing `out`; each thread reads and
   *  writes only its own pair, so no element is read after another thread overwrote it. */
  readonly inPlace?: boolean;
  /** Heads of a second tensor x2 rotated by the same dispatch into out2 (not with inPlace). */
  readonly pairHeads?: number;
}

const WORKGROUP = 256;
/** Token rows per workgroup of the row variant. */
const ROW_WORKGROUP = 64;

export type RopeVariant = 'element' | 'row' | 'row4';

/** Row kernel on CPU adapters (4 angles per step when head_dim/2 is a multiple of 4), one thread
 *  per element elsewhere (see the header). */
export function ropeVariant(caps: RowKernelCaps, headDim?: number): RopeVariant {
  if (!caps.cpuAdapter) return 'element';
  return headDim !== undefined && (headDim / 2) % 4 === 0 ? 'row4' : 'row';
}

function checkParams(p: RopeParams): void {
  for (const k of ['tokens', 'seqLen', 'heads', 'headDim'] as const) {
    if (!(Number.isInteger(p[k]) && p[k] > 0)) throw new Error(`rope: ${k} must be a positive integer, got ${p[k]}`);
  }
  if (p.headDim % 2 !== 0) throw new Error(`rope: headDim must be even, got ${p.headDim}`);
  if (!(p.theta > 0 && Number.isFinite(p.theta))) throw new Error(`rope: theta must be positive, got ${p.theta}`);
  if (p.pairHeads !== undefined) {
    if (!(Number.isInteger(p.pairHeads) && p.pairHeads > 0)) throw new InternalError(`rope: pairHeads must be a positive integer, got ${p.pairHeads}`);
    if (p.inPlace) throw new InternalError('rope: a pair is rotated out of place only');
  }
}

/** theta^(−2i/hd) for i < hd/2, float64. */
export function ropeInverseFrequencies(headDim: number, theta: number): number[] {
  return Array.from({ length: headDim / 2 }, (_, i) => theta ** (-(2 * i) / headDim));
}

/** theta^(−2i/hd)/2π as f32 literals, four angles per entry (vec4<f32> constructor arguments): the
 *  row4 kernel's table, and attention_bwd_row's when it rotates dq and dk back (hd/2 % 4 == 0). */
export function ropeTurnsPerPosition4(headDim: number, theta: number): string[] {
  const turns = ropeInverseFrequencies(headDim, theta).map((f) => f32Literal(f / (2 * Math.PI)));
  return Array.from({ length: turns.length / 4 }, (_, q) => turns.slice(4 * q, 4 * q + 4).join(', '));
}

export function ropeProgram(p: RopeParams, caps: RowKernelCaps, variant: RopeVariant = ropeVariant(caps, p.headDim)): KernelProgram {
  checkParams(p);
  if (variant === 'row4' && (p.headDim / 2) % 4 !== 0) throw new InternalError(`rope: the row4 variant needs head_dim/2 a multiple of 4, got head_dim ${p.headDim}`);
  const half = p.headDim / 2;
  const n1 = p.tokens * p.heads * half;
  const pair = p.pairHeads !== undefined;
  const pairHeads = p.pairHeads ?? 0;
  const n = n1 + p.tokens * pairHeads * half;
  const row = variant !== 'element';
  const vec4 = variant === 'row4';
  const workgroup = row ? ROW_WORKGROUP : WORKGROUP;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(row ? p.tokens : n, workgroup));
  const turnsPerPosition = ropeInverseFrequencies(p.headDim, p.theta).map((f) => f32Literal(f / (2 * Math.PI)));
  const turnsPerPosition4 = vec4 ? ropeTurnsPerPosition4(p.headDim, p.theta) : [];
  const width = p.heads * p.headDim;
  const width2 = pairHeads * p.headDim;
  const inPlace = p.inPlace ?? false;
  const heads = pair ? `${p.heads}+${pairHeads}` : `${p.heads}`;
  return {
    template: vec4 ? 'rope_row4' : row ? 'rope_row' : 'rope',
    label: `rope_${p.inverse ? 'bwd' : 'fwd'}${inPlace ? '_inplace' : ''}_${p.tokens}x${heads}x${p.headDim}_s${p.seqLen}${row ? `_${variant}` : ''}`,
    params: {
      n, n1, tokens: p.tokens, width, width2, half, heads: p.heads, pair, pairHeads, headDim: p.headDim, seqLen: p.seqLen, theta: p.theta, inverse: p.inverse,
      turnsPerPosition, inPlace, output: inPlace ? 'x' : 'out', dispatchX,
      ...(vec4 ? { half4: half / 4, width4: width / 4, width24: width2 / 4, headDim4: p.headDim / 4, turnsPerPosition4 } : {}),
    },
    bindings: inPlace
      ? [{ name: 'x', access: 'readwrite', type: 'f32', length: p.tokens * width, vec4 }]
      : [
          { name: 'x', access: 'read', type: 'f32', length: p.tokens * width, vec4 },
          { name: 'out', access: 'write', type: 'f32', length: p.tokens * width, vec4 },
          ...(pair
            ? [
                { name: 'x2', access: 'read' as const, type: 'f32' as const, length: p.tokens * width2, vec4 },
                { name: 'out2', access: 'write' as const, type: 'f32' as const, length: p.tokens * width2, vec4 },
              ]
            : []),
        ],
    workgroupSize: [workgroup, 1, 1],
    dispatch,
    features: [],
  };
}

/** float64 reference: rotate each (i, i + hd/2) pair by ±pos·freq_i (of x2 too, for a pair). */
export function ropeReference(p: RopeParams, inputs: Readonly<Record<string, ArrayLike<number>>>): { out: Float64Array; out2?: Float64Array } {
  const { pairHeads, ...single } = p;
  if (pairHeads !== undefined) return { out: ropeReference(single, inputs).out, out2: ropeReference({ ...single, heads: pairHeads }, { x: inputs.x2 }).out };
  const half = p.headDim / 2;
  const freqs = ropeInverseFrequencies(p.headDim, p.theta);
  const out = new Float64Array(p.tokens * p.heads * p.headDim);
  for (let t = 0; t < p.tokens; t++) {
    const pos = t % p.seqLen;
    for (let h = 0; h < p.heads; h++) {
      const base = (t * p.heads + h) * p.headDim;
      for (let i = 0; i < half; i++) {
        const angle = (p.inverse ? -1 : 1) * pos * freqs[i];
        const a = inputs.x[base + i];
        const b = inputs.x[base + i + half];
        out[base + i] = a * Math.cos(angle) - b * Math.sin(angle);
        out[base + i + half] = b * Math.cos(angle) + a * Math.sin(angle);
      }
    }
  }
  return { out };
}

/** Oracle: the reference with f32 output. */
export const ropeOracle = (p: RopeParams) => (inputs: Readonly<Record<string, ArrayLike<number>>>): Record<string, Float32Array> => {
  const r = ropeReference(p, inputs);
  return { [p.inPlace ? 'x' : 'out']: Float32Array.from(r.out), ...(r.out2 ? { out2: Float32Array.from(r.out2) } : {}) };
};

/** The rotation's absolute error bound: pos·freq is formed in f32, an angle error of about S·2⁻²⁴ rad
 *  at the largest positions (the rope kernel's, and what a kernel that ropes its output adds). */
export const ropeAtol = (seqLen: number): number => 2e-5 + seqLen * 2e-7;

export function ropeCase(p: RopeParams, caps: RowKernelCaps): KernelCase {
  return {
    program: ropeProgram(p, caps),
    oracle: ropeOracle(p),
    tolerance: { atol: ropeAtol(p.seqLen), rtol: 1e-5 },
  };
}
