// Independent references for the SD tests: ml-matrix's SVD (a different algorithm from runtime/sd's
// Gram-eigen route) and small dense helpers on row-major [rows, cols] arrays.
import { Matrix, SingularValueDecomposition } from 'ml-matrix';

export type Dense = Float32Array | Float64Array;

export function toMatrix(a: ArrayLike<number>, rows: number, cols: number, offset = 0): Matrix {
  const m = new Matrix(rows, cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) m.set(i, j, a[offset + i * cols + j]);
  return m;
}

export function referenceSvd(a: ArrayLike<number>, rows: number, cols: number, offset = 0) {
  const svd = new SingularValueDecomposition(toMatrix(a, rows, cols, offset), { autoTranspose: true });
  return { s: svd.diagonal, u: svd.leftSingularVectors, v: svd.rightSingularVectors };
}

/** Rank-r truncation from the reference SVD, as a Matrix. */
export function referenceTruncation(a: ArrayLike<number>, rows: number, cols: number, r: number): Matrix {
  const { s, u, v } = referenceSvd(a, rows, cols);
  const out = Matrix.zeros(rows, cols);
  for (let j = 0; j < r; j++) {
    for (let i = 0; i < rows; i++) for (let k = 0; k < cols; k++) out.set(i, k, out.get(i, k) + s[j] * u.get(i, j) * v.get(k, j));
  }
  return out;
}

/** Orthogonal projector B Bᵀ for a row-major [n, r] basis. */
export function projector(basis: ArrayLike<number>, n: number, r: number): Matrix {
  const b = toMatrix(basis, n, r);
  return b.mmul(b.transpose());
}

/** Projector onto the top-r singular vectors of the reference SVD, left ('rows') or right ('cols'). */
export function referenceProjector(a: ArrayLike<number>, rows: number, cols: number, r: number, side: 'rows' | 'cols'): Matrix {
  const { u, v } = referenceSvd(a, rows, cols);
  const full = side === 'rows' ? u : v;
  const b = full.subMatrix(0, full.rows - 1, 0, r - 1);
  return b.mmul(b.transpose());
}

export function maxAbs(m: Matrix | ArrayLike<number>): number {
  const values = m instanceof Matrix ? m.to1DArray() : Array.from(m);
  return values.reduce((t, x) => Math.max(t, Math.abs(x)), 0);
}

export function maxAbsDiff(a: Matrix, b: Matrix): number {
  return maxAbs(Matrix.sub(a, b));
}

export function frobenius(m: Matrix): number {
  return m.norm('frobenius');
}

/** Expert e's proxy W_c + W_u(e) as float32 (what the device would hold). */
export function proxy(common: Float32Array, unique: Float32Array, e: number): Float32Array {
  const size = common.length;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = common[i] + unique[e * size + i];
  return out;
}
