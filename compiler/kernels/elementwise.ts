// Elementwise kernels: out = op(a) or op(a, b) with NumPy broadcasting. The builder resolves the
// broadcast into per-dimension strides (0 on broadcast dimensions) so the template only walks a
// list; shapes that need no broadcasting take the contiguous path (one index, no divisions).
//
// Layouts, chosen from the shape and the device (never a user flag):
// - vec4 (contiguous, element count a multiple of 4): every binding is read as array<vec4<f32>>,
//   so an invocation moves 16 bytes per operand. On a CPU adapter (DeviceCaps.cpuAdapter:
//   lavapipe, SwiftShader) each invocation also takes VEC4_PER_LANE_CPU vec4s, strided by the
//   workgroup size, in workgroups of CPU_WORKGROUP: there every workgroup is a serial loop with a
//   fixed cost. Measured on lavapipe (GPU timestamps, 8 dispatches per pass, load ~11), add of
//   512×64: scalar 172 µs, vec4 256×1 90, 128×2 74, 64×4 74, 32×8 98 (the 8-deep unrolled loop
//   also compiles for 2 s); 4096×256: scalar 3965, 256×1 1352, 128×2 1139, 32×8 1892.
//   Any other adapter (a real GPU) gets one vec4 per invocation in workgroups of WORKGROUP.
// - scalar (broadcasting, or a count not a multiple of 4): one element per invocation.
import type { ElementwiseCaps } from './elementwise-layout.ts';
import { ceilDiv, spreadWorkgroups, type KernelCase, type KernelProgram } from './types.ts';

interface OpDef {
  readonly arity: 1 | 2;
  /** WGSL expression over `x` (and `y` for binary ops). */
  readonly wgsl: string;
  /** The expression over vec4 x (and y) where `wgsl` is not valid for vectors. */
  readonly wgslVec4?: string;
  readonly cpu: (x: number, y: number) => number;
}

export const ELEMENTWISE_OPS = {
  copy: { arity: 1, wgsl: 'x', cpu: (x) => x },
  neg: { arity: 1, wgsl: '-x', cpu: (x) => -x },
  exp: { arity: 1, wgsl: 'exp(x)', cpu: (x) => Math.exp(x) },
  log: { arity: 1, wgsl: 'log(x)', cpu: (x) => Math.log(x) },
  sqrt: { arity: 1, wgsl: 'sqrt(x)', cpu: (x) => Math.sqrt(x) },
  rsqrt: { arity: 1, wgsl: 'inverseSqrt(x)', cpu: (x) => 1 / Math.sqrt(x) },
  abs: { arity: 1, wgsl: 'abs(x)', cpu: (x) => Math.abs(x) },
  square: { arity: 1, wgsl: 'x * x', cpu: (x) => x * x },
  relu: { arity: 1, wgsl: 'max(x, 0.0f)', wgslVec4: 'max(x, vec4<f32>(0.0f))', cpu: (x) => Math.max(x, 0) },
  sigmoid: { arity: 1, wgsl: '1.0f / (1.0f + exp(-x))', cpu: (x) => 1 / (1 + Math.exp(-x)) },
  silu: { arity: 1, wgsl: 'x / (1.0f + exp(-x))', cpu: (x) => x / (1 + Math.exp(-x)) },
  tanh: { arity: 1, wgsl: 'tanh(x)', cpu: (x) => Math.tanh(x) },
  add: { arity: 2, wgsl: 'x + y', cpu: (x, y) => x + y },
  sub: { arity: 2, wgsl: 'x - y', cpu: (x, y) => x - y },
  mul: { arity: 2, wgsl: 'x * y', cpu: (x, y) => x * y },
  div: { arity: 2, wgsl: 'x / y', cpu: (x, y) => x / y },
  max: { arity: 2, wgsl: 'max(x, y)', cpu: (x, y) => Math.max(x, y) },
  min: { arity: 2, wgsl: 'min(x, y)', cpu: (x, y) => Math.min(x, y) },
} satisfies Record<string, OpDef>;

export type ElementwiseOp = keyof typeof ELEMENTWISE_OPS;

export interface ElementwiseParams {
  readonly op: ElementwiseOp;
  readonly aShape: readonly number[];
  /** Omitted for unary ops. */
  readonly bShape?: readonly number[];
}

export type { ElementwiseCaps } from './elementwise-layout.ts';
/** No adapter information: the GPU layout. */
const GPU_CAPS: ElementwiseCaps = { cpuAdapter: false };

const WORKGROUP = 256;
/** CPU adapters: invocations per workgroup and vec4s per invocation (measured, see the header). */
const CPU_WORKGROUP = 128;
const VEC4_PER_LANE_CPU = 2;
const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

/** NumPy broadcast of two shapes; throws on incompatible dimensions. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
    out.push(Math.max(da, db));
  }
  return out;
}

/** Row-major strides of `shape` aligned to `outShape`, 0 where the dimension is broadcast. */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const o = outShape.length - shape.length + i;
    strides[o] = shape[i] === 1 ? 0 : stride;
    stride *= shape[i];
  }
  return strides;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function elementwiseProgram(p: ElementwiseParams, caps: ElementwiseCaps = GPU_CAPS): KernelProgram {
  const op = ELEMENTWISE_OPS[p.op];
  const binary = op.arity === 2;
  if (binary !== (p.bShape !== undefined)) throw new Error(`op ${p.op} takes ${op.arity} operand(s)`);
  const outShape = binary ? broadcastShapes(p.aShape, p.bShape!) : [...p.aShape];
  const n = size(outShape);
  const aStrides = broadcastStrides(p.aShape, outShape);
  const bStrides = binary ? broadcastStrides(p.bShape!, outShape) : [];
  const contiguous = sameShape(p.aShape, outShape) && (!binary || sameShape(p.bShape!, outShape));
  const outStrides = outShape.map((_, i) => size(outShape.slice(i + 1)));
  const label = `ew_${p.op}_${outShape.join('x') || 'scalar'}${contiguous ? '' : `_bc_${p.aShape.join('x')}${binary ? `_${p.bShape!.join('x')}` : ''}`}`;
  const fill = {
    a: p.op === 'log' || p.op.endsWith('sqrt') ? { kind: 'float' as const, lo: 0.1, hi: 2 } : undefined,
    b: p.op === 'div' ? { kind: 'float' as const, lo: 0.5, hi: 2 } : undefined,
  };
  if (contiguous && n % 4 === 0) {
    // Every operand has exactly n elements, so all bindings are whole vec4 arrays.
    const vectors = n / 4;
    const wg = caps.cpuAdapter ? CPU_WORKGROUP : WORKGROUP;
    const perLane = caps.cpuAdapter ? VEC4_PER_LANE_CPU : 1;
    const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(vectors, wg * perLane));
    return {
      template: 'elementwise',
      label: `${label}_v4${caps.cpuAdapter ? `x${perLane}` : ''}`,
      params: { op: p.op, expr: (op as OpDef).wgslVec4 ?? op.wgsl, n, vectors, binary, vec4: true, contiguous, dims: [], dispatchX, perLane, span: wg * perLane },
      bindings: [
        { name: 'a', access: 'read', type: 'f32', length: n, vec4: true, fill: fill.a },
        ...(binary ? [{ name: 'b', access: 'read' as const, type: 'f32' as const, length: n, vec4: true, fill: fill.b }] : []),
        { name: 'out', access: 'write', type: 'f32', length: n, vec4: true },
      ],
      workgroupSize: [wg, 1, 1],
      dispatch,
      features: [],
    };
  }
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(n, WORKGROUP));
  // Size-1 output dimensions contribute nothing to any index, so the template never sees them.
  const dims = outShape
    .map((d, i) => ({ d, outStride: outStrides[i], aStride: aStrides[i], bStride: binary ? bStrides[i] : 0 }))
    .filter((x) => x.d > 1)
    .map(({ outStride, aStride, bStride }) => ({ outStride, aStride, bStride }));
  return {
    template: 'elementwise',
    label,
    params: { op: p.op, expr: op.wgsl, n, binary, vec4: false, contiguous, dims, dispatchX },
    bindings: [
      { name: 'a', access: 'read', type: 'f32', length: size(p.aShape), fill: fill.a },
      ...(binary ? [{ name: 'b', access: 'read' as const, type: 'f32' as const, length: size(p.bShape!), fill: fill.b }] : []),
      { name: 'out', access: 'write', type: 'f32', length: n },
    ],
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

/** Plain CPU reference: iterate output multi-indices, map each to its operand positions. */
export function elementwiseOracle(p: ElementwiseParams) {
  return (inputs: Readonly<Record<string, ArrayLike<number>>>): Record<string, Float32Array> => {
    const op = ELEMENTWISE_OPS[p.op];
    const outShape = p.bShape ? broadcastShapes(p.aShape, p.bShape) : [...p.aShape];
    const out = new Float32Array(size(outShape));
    const index = (shape: readonly number[], multi: number[]): number => {
      let flat = 0;
      for (let i = 0; i < shape.length; i++) {
        const coord = shape[i] === 1 ? 0 : multi[multi.length - shape.length + i];
        flat = flat * shape[i] + coord;
      }
      return flat;
    };
    const multi = new Array<number>(outShape.length).fill(0);
    for (let flat = 0; flat < out.length; flat++) {
      let rem = flat;
      for (let d = outShape.length - 1; d >= 0; d--) {
        multi[d] = rem % outShape[d];
        rem = Math.floor(rem / outShape[d]);
      }
      const x = inputs.a[index(p.aShape, multi)];
      const y = p.bShape ? inputs.b[index(p.bShape, multi)] : 0;
      out[flat] = op.cpu(x, y);
    }
    return { out };
  };
}

export function elementwiseCase(p: ElementwiseParams, caps: ElementwiseCaps = GPU_CAPS): KernelCase {
  return { program: elementwiseProgram(p, caps), oracle: elementwiseOracle(p), tolerance: { atol: 1e-6, rtol: 1e-5 } };
}
