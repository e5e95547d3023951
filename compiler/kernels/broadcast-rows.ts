// out[r, c] = row[c] · scale[0] for r < rows: spreads a per-column vector over every row, scaled
// by a device-side scalar. The load-balance loss's gradient w.r.t. the router probabilities is
// the same for every token, so the aux kernel writes one row and this kernel expands it.
import { ceilDiv, spreadWorkgroups, type KernelCase, type KernelProgram } from './types.ts';

export interface BroadcastRowsParams {
  readonly rows: number;
  readonly cols: number;
}

const WORKGROUP = 256;

export function broadcastRowsProgram(p: BroadcastRowsParams): KernelProgram {
  const n = p.rows * p.cols;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(n, WORKGROUP));
  return {
    template: 'broadcast_rows',
    label: `broadcast_rows_${p.rows}x${p.cols}`,
    params: { n, cols: p.cols, dispatchX },
    bindings: [
      { name: 'row', access: 'read', type: 'f32', length: p.cols },
      { name: 'scale', access: 'read', type: 'f32', length: 1 },
      { name: 'out', access: 'write', type: 'f32', length: n },
    ],
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

export function broadcastRowsOracle(p: BroadcastRowsParams) {
  return (inputs: Readonly<Record<string, ArrayLike<number>>>): Record<string, Float32Array> => {
    const out = new Float32Array(p.rows * p.cols);
    for (let r = 0; r < p.rows; r++) for (let c = 0; c < p.cols; c++) out[r * p.cols + c] = inputs.row[c] * inputs.scale[0];
    return { out };
  };
}

export function broadcastRowsCase(p: BroadcastRowsParams): KernelCase {
  return { program: broadcastRowsProgram(p), oracle: broadcastRowsOracle(p), tolerance: { atol: 1e-7, rtol: 1e-6 } };
}
