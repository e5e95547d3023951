// Shared vocabulary for kernel builders: every family exports `<family>Program(params, caps?)`
// returning a KernelProgram and `<family>Oracle(params)` returning its CPU reference.
import { ceilDiv } from '../codegen/kernel.ts';
export { ceilDiv, f32Literal, spreadWorkgroups, type KernelProgram, type KernelBinding } from '../codegen/kernel.ts';
export type { KernelCase, Tolerance } from '../codegen/kernel.ts';
export type { DeviceCaps } from '../../base/caps.ts';

/** A row's width in the units a CPU-adapter `rows` kernel walks it in: vec4 when 4 divides it. */
export function rowUnits(dim: number): { vec4: boolean; dimVec: number } {
  return dim % 4 === 0 ? { vec4: true, dimVec: dim / 4 } : { vec4: false, dimVec: dim };
}

/**
 * `count` values (floats or vectors) every lane of a subgroup needs, loaded once across `lanes`
 * lanes and handed out by subgroupBroadcast at constant lanes (lavapipe pays a check per active lane
 * for a load, even at an address every lane shares): load `slot` covers [first, first + lanes), and
 * value `index` is lane `lane` of load `slot`. The builders unroll both lists into their templates.
 */
export function laneSpread(count: number, lanes: number) {
  return {
    slots: Array.from({ length: ceilDiv(count, lanes) }, (_, slot) => ({ slot, first: slot * lanes })),
    picks: Array.from({ length: count }, (_, index) => ({ index, slot: Math.floor(index / lanes), lane: index % lanes })),
  };
}
