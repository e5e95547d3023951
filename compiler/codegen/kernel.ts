// The typed description of one GPU kernel. Builders (compiler/kernels/*) decide everything here;
// the Handlebars template named by `template` only renders `params` and `bindings`. A program is
// plain immutable data, so it can be hashed (pipeline cache key), printed, and blessed as a golden.
import { createHash } from 'node:crypto';
import { stableJson } from '../../base/stable-json.ts';

export type ScalarType = 'f32' | 'u32' | 'i32';

/** Host-side contents of one binding. */
export type HostArray = Float32Array | Int32Array | Uint32Array;


/** How the random-input checker fills a binding: floats in [lo,hi) or integers in [lo,hi). */
export type InputFill =
  | { readonly kind: 'float'; readonly lo: number; readonly hi: number }
  | { readonly kind: 'int'; readonly lo: number; readonly hi: number };

export interface KernelBinding {
  readonly name: string;
  /** `read` inputs, `write` outputs (read_write storage, contents undefined before the kernel),
   *  `readwrite` buffers updated in place, `uniform` small parameter blocks. */
  readonly access: 'read' | 'write' | 'readwrite' | 'uniform';
  readonly type: ScalarType;
  /** Number of (scalar) elements the kernel touches. */
  readonly length: number;
  /** Declared as array<vec4<type>> for 16-byte loads (the caller guarantees alignment). */
  readonly vec4?: boolean;
  /** Declared as array<vec2<type>> for 8-byte loads (the caller guarantees alignment; not with vec4). */
  readonly vec2?: boolean;
  /** How tests fill this binding with random data (defaults to floats in [-1, 1)). */
  readonly fill?: InputFill;
}

export type Dim3 = readonly [number, number, number];

export interface KernelProgram {
  /** Template file: templates/<template>.wgsl.hbs */
  readonly template: string;
  /** Human-readable name including the shape, e.g. `matmul_nt_b2_65x33x17`. */
  readonly label: string;
  /** Everything the template renders. Only JSON-serialisable values (they are hashed). */
  readonly params: Readonly<Record<string, unknown>>;
  readonly bindings: readonly KernelBinding[];
  readonly workgroupSize: Dim3;
  /** Workgroups to dispatch. */
  readonly dispatch: Dim3;
  /** Optional WebGPU features the shader needs (the builder only asks for what the device has). */
  readonly features: readonly GPUFeatureName[];
}

/** Pipeline cache key: template name plus a hash of everything that shapes the shader. */
export function pipelineKey(p: KernelProgram): string {
  const h = createHash('sha256')
    .update(stableJson({ params: p.params, bindings: p.bindings.map((b) => [b.name, b.access, b.type, b.vec4 === true, ...(b.vec2 === true ? ['vec2'] : [])]), wg: p.workgroupSize, f: p.features }))
    .digest('hex')
    .slice(0, 16);
  return `${p.template}:${h}`;
}

/** A WGSL f32 literal that round-trips `x` (templates must not format numbers themselves). */
export function f32Literal(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`cannot write ${x} as a WGSL literal`);
  const s = Number.isInteger(x) ? x.toFixed(1) : String(Math.fround(x));
  return `${s}f`;
}

export const MAX_WORKGROUPS_PER_DIM = 65535;

/**
 * Spreads `count` workgroups over x and y so neither exceeds the WebGPU per-dimension limit.
 * Shaders recover the linear workgroup index as `wid.x + wid.y * dispatchX`.
 */
export function spreadWorkgroups(count: number): { dispatch: Dim3; dispatchX: number } {
  const groups = Math.max(1, count);
  if (groups <= MAX_WORKGROUPS_PER_DIM) return { dispatch: [groups, 1, 1], dispatchX: groups };
  const y = Math.ceil(groups / MAX_WORKGROUPS_PER_DIM);
  const x = Math.ceil(groups / y);
  return { dispatch: [x, y, 1], dispatchX: x };
}

export const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
}

/** A kernel paired with the plain CPU implementation it must agree with. */
export interface KernelCase {
  readonly program: KernelProgram;
  /** Computes every written binding from the inputs (keys: binding names). */
  readonly oracle: (inputs: Readonly<Record<string, HostArray>>) => Record<string, HostArray>;
  readonly tolerance: Tolerance;
  /** Inputs with structure the per-binding random fill cannot express (e.g. a permutation). */
  readonly makeInputs?: (seed: number) => Record<string, HostArray>;
}
