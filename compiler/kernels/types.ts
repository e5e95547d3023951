// Shared vocabulary for kernel builders: every family exports `<family>Program(params, caps?)`
// returning a KernelProgram and `<family>Oracle(params)` returning its CPU reference.
export { ceilDiv, f32Literal, spreadWorkgroups, type KernelProgram, type KernelBinding } from '../codegen/kernel.ts';
export type { KernelCase, Tolerance } from '../../runtime/kernel-check.ts';
export type { DeviceCaps } from '../../runtime/device.ts';
