// SD-MoE test fixtures shared by the device checks: random orthonormal bases for every U_k / V_k
// of a graph, found by param role (zero bases would make the gradient split trivial).
import { Matrix, QrDecomposition } from 'ml-matrix';
import type { Rng } from '../../base/rng.ts';
import { topoOrder } from '../../compiler/ir/graph.ts';
import type { Graph } from '../../compiler/ir/types.ts';

/** Q of the QR of a Gaussian rows × cols matrix, row-major: orthonormal columns. */
export function orthonormal(rng: Rng, rows: number, cols: number): Float32Array {
  const z = new Matrix(Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.normal())));
  return Float32Array.from(new QrDecomposition(z).orthogonalMatrix.to2DArray().flat());
}

/** Orthonormal values for every SD basis param (role sd/basis_u|basis_v) of `g`, by param name. */
export function orthonormalBases(g: Graph, rng: Rng): Record<string, Float32Array> {
  const fixed: Record<string, Float32Array> = {};
  for (const n of topoOrder(g)) {
    const role = n.op === 'param' ? n.attrs.role : undefined;
    if (n.op === 'param' && role?.kind === 'sd' && (role.part === 'basis_u' || role.part === 'basis_v')) fixed[n.attrs.name] = orthonormal(rng, n.attrs.shape[0], n.attrs.shape[1]);
  }
  return fixed;
}
