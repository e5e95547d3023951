// Inverts the dispatch permutation: for every assignment (t, j) with expert-sorted row
// r = perm_row[t·k + j], writes src_token[r] = t and src_slot[r] = j. The combine backward needs
// the row → assignment direction to stay race-free; dropless routing makes perm_row a bijection,
// so every row is written exactly once.
import { Rng } from '../../runtime/rng.ts';
import { ceilDiv, spreadWorkgroups, type KernelCase, type KernelProgram } from './types.ts';

export interface MoeInvertParams {
  readonly tokens: number;
  readonly topK: number;
}

const WORKGROUP = 256;

export function moeInvertProgram(p: MoeInvertParams): KernelProgram {
  const rows = p.tokens * p.topK;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(rows, WORKGROUP));
  return {
    template: 'moe_invert',
    label: `moe_invert_${p.tokens}x${p.topK}`,
    params: { rows, topK: p.topK, dispatchX },
    bindings: [
      { name: 'perm_row', access: 'read', type: 'i32', length: rows },
      { name: 'src_token', access: 'write', type: 'i32', length: rows },
      { name: 'src_slot', access: 'write', type: 'i32', length: rows },
    ],
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

export function moeInvertOracle(p: MoeInvertParams) {
  return (inputs: Readonly<Record<string, ArrayLike<number>>>): Record<string, Int32Array> => {
    const rows = p.tokens * p.topK;
    const srcToken = new Int32Array(rows);
    const srcSlot = new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      const r = inputs.perm_row[i];
      srcToken[r] = Math.floor(i / p.topK);
      srcSlot[r] = i % p.topK;
    }
    return { src_token: srcToken, src_slot: srcSlot };
  };
}

/** Random permutations as input: the checker's integer fill would not be a bijection. */
export function moeInvertCase(p: MoeInvertParams): KernelCase {
  const makeInputs = (seed: number) => {
    const perm = Array.from({ length: p.tokens * p.topK }, (_, i) => i);
    new Rng(seed).shuffle(perm);
    return { perm_row: Int32Array.from(perm) };
  };
  return { program: moeInvertProgram(p), oracle: moeInvertOracle(p), tolerance: { atol: 0, rtol: 0 }, makeInputs };
}
