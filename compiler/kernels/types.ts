// Shared vocabulary for kernel builders: every family exports `<family>Program(params, caps?)`
// returning a KernelProgram and `<family>Oracle(params)` returning its CPU reference.
export { ceilDiv, f32Literal, spreadWorkgroups, type KernelProgram, type KernelBinding } from '../codegen/kernel.ts';
export type { KernelCase, Tolerance } from '../codegen/kernel.ts';
export type { DeviceCaps } from '../../base/caps.ts';
