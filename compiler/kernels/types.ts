// Shared vocabulary for kernel builders: every family exports `<family>Program(params, caps?)`
// returning a KernelProgram and `<family>Oracle(params)` returning its CPU reference.
export { ceilDiv, f32Literal, spreadWorkgroups, type KernelProgram, type KernelBinding } from '../codegen/kernel.ts';
export type { KernelCase, Tolerance } from '../codegen/kernel.ts';
export type { DeviceCaps } from '../../base/caps.ts';

/** A row's width in the units a CPU-adapter `rows` kernel walks it in: vec4 when 4 divides it. */
export function rowUnits(dim: number): { vec4: boolean; dimVec: number } {
  return dim % 4 === 0 ? { vec4: true, dimVec: dim / 4 } : { vec4: false, dimVec: dim };
}
