// Symmetric eigensolvers on flat float64 arrays (number[], vector.ts says why not Float64Array) for the
// SD-MoE host steps (runtime/sd/linalg.ts).
// symmetricEigen (every pair; init and diagnostics need the whole spectrum) is ml-matrix's (JAMA's,
// public domain) Householder tridiagonalisation (tred2) and implicit QL with accumulated rotations
// (tql2), ported line for line: bit-identical results (backward stable; orthonormal eigenvectors to
// working precision, also for repeated eigenvalues), 1.8–2.7× as fast as ml-matrix's
// EigenvalueDecomposition with its nested-array conversions (medians of 11 interleaved A/B rounds at
// n = 64 and 128, Node 20, load ≈ 9 on 2 cores), which works through a Matrix object (get/set per
// element, nested arrays in and out) and was ≈ 40 % of a re-basing's profile.
// symmetricEigenTop (re-basing: top k ≪ n) stops tred2 after the reduction, takes the eigenvalues
// by QL without vectors, the top k vectors by inverse iteration (LAPACK dstein's cluster rule)
// and maps them back through the reflectors: about a third of the work at n = 64, k = 8. It
// certifies its answer on the input matrix (residuals and orthonormality) and returns null
// otherwise, so its callers fall back to the full solver and never depend on an unchecked result.
// Invariants: the input is a row-major n×n symmetric matrix (only read, never mutated); the vectors
// are stored as rows (vector j = vectors[j·n .. j·n + n)), as ml-matrix stores them internally while
// iterating (transposed, so the hot loops run along contiguous memory); values are descending, exact
// ties by ascending tql2 index; every start vector comes from a fixed seed (deterministic).

import { Rng } from '../../base/rng.ts';
import { axpy, dot, matCopy, matZeros, zeros, type Mat, type Vec } from './vector.ts';

export interface SymmetricEigen {
  /** Eigenvalues, descending. */
  values: Vec;
  /** Orthonormal eigenvectors as rows: row j belongs to values[j]. */
  vectors: Mat;
}

/** Eigenpairs of the symmetric row-major n×n matrix `a`, eigenvalues descending. */
export function symmetricEigen(a: ArrayLike<number>, n: number): SymmetricEigen {
  if (a.length !== n * n) throw new Error(`symmetricEigen: expected ${n}×${n} values, got ${a.length}`);
  // z[i·n + j] holds the logical V(j, i) (ml-matrix's transposed storage); a is symmetric, so copying
  // it straight is the transposed copy.
  const z = matCopy(a);
  const d = zeros(n);
  const e = zeros(n);
  if (n === 0) return { values: d, vectors: z };
  tred2(n, e, d, z);
  tql2(n, e, d, z);
  // tql2 sorts ascending; descending order with ties by ascending index (what ml-matrix's output gave
  // linalg.ts before this port, so exact ties such as a zero matrix's keep their vectors' order).
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[y] - d[x] || x - y);
  const values = zeros(n);
  const vectors = matZeros(n * n);
  for (let j = 0; j < n; j++) {
    const src = order[j];
    values[j] = d[src];
    for (let i = 0; i < n; i++) vectors[j * n + i] = z[src * n + i];
  }
  return { values, vectors };
}

function hypot(a: number, b: number): number {
  // ml-matrix's `hypotenuse`: scaled to avoid overflow/underflow.
  let r = 0;
  if (Math.abs(a) > Math.abs(b)) {
    r = b / a;
    return Math.abs(a) * Math.sqrt(1 + r * r);
  }
  if (b !== 0) {
    r = a / b;
    return Math.abs(b) * Math.sqrt(1 + r * r);
  }
  return 0;
}

/** Householder reduction to tridiagonal form; z is V transposed (z[a·n + b] = V(b, a)). */
function tred2(n: number, e: Vec, d: Vec, z: Mat): void {
  householderReduce(n, e, d, z);
  accumulateReflectors(n, e, d, z);
}

/**
 * tred2's first half. Afterwards the tridiagonal T has diagonal z[i·n + i] and subdiagonal e[i]
 * (between i − 1 and i, e[0] unused), and step i's reflector H_i = I − u uᵀ / d[i] (identity when
 * d[i] = 0) has u = z[i·n .. i·n + i) on coordinates 0..i−1; a = H_{n−1}⋯H_1 T H_1⋯H_{n−1}.
 */
function householderReduce(n: number, e: Vec, d: Vec, z: Mat): void {
  let f: number, g: number, h: number, hh: number, scale: number;
  for (let j = 0; j < n; j++) d[j] = z[j * n + n - 1];
  for (let i = n - 1; i > 0; i--) {
    scale = 0;
    h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = z[j * n + i - 1];
        z[j * n + i] = 0;
        z[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      f = d[i - 1];
      g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h = h - f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        const zj = j * n;
        z[i * n + j] = f;
        g = e[j] + z[zj + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += z[zj + k] * d[k];
          e[k] += z[zj + k] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        const zj = j * n;
        for (let k = j; k <= i - 1; k++) z[zj + k] -= f * e[k] + g * d[k];
        d[j] = z[zj + i - 1];
        z[zj + i] = 0;
      }
    }
    d[i] = h;
  }
}

/** tred2's second half: accumulates the reflectors left by `householderReduce` into z (all n vectors). */
function accumulateReflectors(n: number, e: Vec, d: Vec, z: Mat): void {
  let g: number, h: number;
  for (let i = 0; i < n - 1; i++) {
    const zi = i * n;
    const zi1 = (i + 1) * n;
    z[zi + n - 1] = z[zi + i];
    z[zi + i] = 1;
    h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = z[zi1 + k] / h;
      for (let j = 0; j <= i; j++) {
        const zj = j * n;
        g = 0;
        for (let k = 0; k <= i; k++) g += z[zi1 + k] * z[zj + k];
        for (let k = 0; k <= i; k++) z[zj + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) z[zi1 + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = z[j * n + n - 1];
    z[j * n + n - 1] = 0;
  }
  z[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

/**
 * Implicit QL on the tridiagonal (d, e[i] between i and i + 1, e[n − 1] = 0), in place: d ends as
 * the eigenvalues (unsorted); with z, the rotations are accumulated into its rows. `hyp` is the
 * sqrt(a² + b²) used: the full solver passes the scaled `hypot` (bit-identical to ml-matrix), the
 * eigenvalue-only route `fastHypot`.
 */
function implicitQl(n: number, d: Vec, e: Vec, z: Mat | null, hyp: (a: number, b: number) => number): void {
  let g: number, h: number, p: number, r: number, dl1: number, c: number, c2: number, c3: number, el1: number, s: number, s2: number;
  let f = 0;
  let tst1 = 0;
  const eps = Number.EPSILON;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      do {
        g = d[l];
        p = (d[l + 1] - g) / (2 * e[l]);
        r = hyp(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        dl1 = d[l + 1];
        h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f = f + h;
        p = d[m];
        c = 1;
        c2 = c;
        c3 = c;
        el1 = e[l + 1];
        s = 0;
        s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = hyp(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          if (z) {
            const zi = i * n;
            const zi1 = zi + n;
            for (let k = 0; k < n; k++) {
              h = z[zi1 + k];
              z[zi1 + k] = s * z[zi + k] + c * h;
              z[zi + k] = c * z[zi + k] - s * h;
            }
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] = d[l] + f;
    e[l] = 0;
  }
}

/** Implicit QL on the tridiagonal (d, e), rotations accumulated into the rows of z; sorts ascending. */
function tql2(n: number, e: Vec, d: Vec, z: Mat): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  implicitQl(n, d, e, z, hypot);
  let p: number;
  for (let i = 0; i < n - 1; i++) {
    let k = i;
    p = d[i];
    for (let j = i + 1; j < n; j++) {
      if (d[j] < p) {
        k = j;
        p = d[j];
      }
    }
    if (k !== i) {
      d[k] = d[i];
      d[i] = p;
      const zi = i * n;
      const zk = k * n;
      for (let j = 0; j < n; j++) {
        p = z[zi + j];
        z[zi + j] = z[zk + j];
        z[zk + j] = p;
      }
    }
  }
}

/** Eigenvalues of the symmetric tridiagonal (d, e[i] between i − 1 and i), ascending: tql2 without vectors. */
function tridiagonalEigenvalues(n: number, diag: Vec, sub: Vec): Vec {
  const d = diag.slice();
  const e = zeros(n);
  for (let i = 1; i < n; i++) e[i - 1] = sub[i];
  implicitQl(n, d, e, null, fastHypot);
  // Float64Array's numeric sort (−0 before +0, NaN last), as before the number[] port.
  return Array.from(Float64Array.from(d).sort());
}

/**
 * sqrt(a² + b²) without the divisions of the scaled form when the squares can neither overflow nor
 * underflow (the common case by far); the eigenvalue-only QL calls it ~n²/2 times. Not used by the
 * full solver, which stays bit-identical to ml-matrix.
 */
function fastHypot(a: number, b: number): number {
  const s = a * a + b * b;
  return s > 1e-280 && s < 1e280 ? Math.sqrt(s) : hypot(a, b);
}

/** Largest |a_ij|-row sum of the tridiagonal: a bound on its spectral norm. */
function tridiagonalNorm(n: number, d: Vec, e: Vec): number {
  let norm = 0;
  for (let i = 0; i < n; i++) norm = Math.max(norm, Math.abs(d[i]) + (i > 0 ? Math.abs(e[i]) : 0) + (i + 1 < n ? Math.abs(e[i + 1]) : 0));
  return norm;
}

/**
 * One solve (T − μI) y = x in place, by Gaussian elimination with partial pivoting (EISPACK tinvit's
 * factorisation; zero pivots become `tiny`, so a shift that is exactly an eigenvalue still solves).
 */
class ShiftedTridiagonal {
  private readonly mult: Vec;
  private readonly swap: boolean[];
  private readonly u0: Vec;
  private readonly u1: Vec;
  private readonly u2: Vec;

  /** Work arrays for size n, reused by every `factor` (typed-array allocations are not free). */
  constructor(n: number) {
    this.mult = zeros(n);
    this.swap = zeros(n).map(() => false);
    this.u0 = zeros(n);
    this.u1 = zeros(n);
    this.u2 = zeros(n);
  }

  /** Factors T − μI for the tridiagonal (d, e) of this size. */
  factor(d: Vec, e: Vec, mu: number, tiny: number): void {
    const n = this.mult.length;
    this.swap.fill(false);
    let u = d[0] - mu;
    let v = n > 1 ? e[1] : 0;
    for (let i = 1; i < n; i++) {
      const x = e[i];
      const next = i + 1 < n ? e[i + 1] : 0;
      if (Math.abs(x) >= Math.abs(u)) {
        // Row i becomes the pivot row of column i − 1.
        const m = x === 0 ? 0 : u / x;
        this.mult[i] = m;
        this.swap[i] = true;
        this.u0[i - 1] = x === 0 ? tiny : x;
        this.u1[i - 1] = d[i] - mu;
        this.u2[i - 1] = next;
        u = v - m * (d[i] - mu);
        v = -m * next;
      } else {
        const m = x / u;
        this.mult[i] = m;
        this.u0[i - 1] = u;
        this.u1[i - 1] = v;
        this.u2[i - 1] = 0;
        u = d[i] - mu - m * v;
        v = next;
      }
    }
    this.u0[n - 1] = u === 0 ? tiny : u;
  }

  solve(y: Vec): void {
    const n = y.length;
    const { mult, swap, u0, u1, u2 } = this;
    for (let i = 1; i < n; i++) {
      if (swap[i]) {
        const t = y[i - 1];
        y[i - 1] = y[i];
        y[i] = t - mult[i] * y[i];
      } else {
        y[i] -= mult[i] * y[i - 1];
      }
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = y[i];
      if (i + 1 < n) s -= u1[i] * y[i + 1];
      if (i + 2 < n) s -= u2[i] * y[i + 2];
      y[i] = s / u0[i];
    }
  }
}

function normalize(x: Vec): number {
  const norm = Math.sqrt(dot(x, x));
  if (norm > 0) for (let i = 0; i < x.length; i++) x[i] /= norm;
  return norm;
}

/** x ← x − Σ_q (qᵀx) q over the orthonormal rows of `done`, twice (classical Gram–Schmidt, "twice is enough"). */
function orthogonalizeRows(x: Vec, done: readonly Vec[]): void {
  for (let pass = 0; pass < 2; pass++) {
    for (const q of done) {
      const c = dot(q, x);
      if (c !== 0) axpy(-c, q, x);
    }
  }
}

/** Residual test tolerances of the top-k route, relative to ||a||₂ (bounded by the max row sum). */
export const TOP_EIGEN_RESIDUAL = 1e-10;
const TOP_EIGEN_ORTHOGONALITY = 1e-10;
const INVERSE_ITERATIONS = 6;
/** Eigenvalues closer than this × ||T|| form a cluster whose vectors are orthogonalised explicitly (dstein's 1e-3). */
const CLUSTER = 1e-3;

/**
 * Top-k eigenpairs of a symmetric row-major n×n matrix without forming all n eigenvectors:
 * Householder tridiagonalisation (the first half of tred2), every eigenvalue by implicit QL without
 * vectors (O(n²)), the top k eigenvectors of the tridiagonal by inverse iteration with Gram–Schmidt
 * against the vectors already found (so clustered or repeated eigenvalues still give an orthonormal
 * set), and back through the k reflectors (O(n²k)). About a third of the full solver's flops at
 * n = 64, k = 8 (the rotations accumulated into all n vectors are the bulk of tql2).
 * Every result is checked a posteriori on `a` itself: ||a x_j − λ_j x_j|| ≤ TOP_EIGEN_RESIDUAL·||a||
 * and |x_iᵀx_j − δ_ij| ≤ TOP_EIGEN_ORTHOGONALITY; null when a check fails (the caller then runs the
 * full solver), so the answer is the top-k eigenpairs to that tolerance or nothing.
 */
export function symmetricEigenTop(input: ArrayLike<number>, n: number, k: number): SymmetricEigen | null {
  if (input.length !== n * n) throw new Error(`symmetricEigenTop: expected ${n}×${n} values, got ${input.length}`);
  if (!Number.isInteger(k) || k < 0 || k > n) throw new Error(`symmetricEigenTop: k = ${k} outside [0, ${n}]`);
  // One number[] copy serves the reduction (z) and the certificate (a): typed-array reads are slower.
  const a = matCopy(input);
  const z = matCopy(a);
  const e = zeros(n);
  const h = zeros(n);
  if (n > 0) householderReduce(n, e, h, z);
  const diag = zeros(n);
  for (let i = 0; i < n; i++) diag[i] = z[i * n + i];
  const ascending = tridiagonalEigenvalues(n, diag, e);
  const values = zeros(k);
  for (let j = 0; j < k; j++) values[j] = ascending[n - 1 - j];
  const norm = tridiagonalNorm(n, diag, e);
  if (!(norm > 0)) {
    // a = 0 (T is a's similarity transform): any orthonormal set is an eigenbasis; the unit
    // vectors are what the full solver returns.
    if (norm !== 0) return null;
    const vectors = zeros(k * n);
    for (let j = 0; j < k; j++) vectors[j * n + j] = 1;
    return { values, vectors };
  }
  const tridiagonalVectors = inverseIteration(n, diag, e, values, norm);
  if (!tridiagonalVectors) return null;
  const vectors = backTransform(n, k, z, h, tridiagonalVectors);
  if (!certified(a, n, k, values, vectors)) return null;
  return { values, vectors };
}

/**
 * Top-k eigenvectors of the tridiagonal for the given (descending) eigenvalues, as rows of a k×n
 * array (null on breakdown). Like LAPACK's dstein, a vector is orthogonalised (every iteration) only
 * against earlier vectors of its cluster (eigenvalues closer than CLUSTER·||T||): inverse iteration
 * makes vectors of well-separated eigenvalues orthogonal to about eps·||T||/gap by itself, and
 * `certified` checks the final orthogonality anyway.
 */
function inverseIteration(n: number, diag: Vec, e: Vec, values: Vec, norm: number): Vec | null {
  const k = values.length;
  const rows: Vec[] = [];
  const start = new Rng('sd-inverse-iteration');
  const tiny = Number.EPSILON * norm;
  const tol = 4 * n * tiny;
  const solver = new ShiftedTridiagonal(n);
  let clusterStart = 0;
  for (let j = 0; j < k; j++) {
    if (j > 0 && values[j - 1] - values[j] > CLUSTER * norm) clusterStart = j;
    const cluster: Vec[] = [];
    for (let i = clusterStart; i < j; i++) cluster.push(rows[i]);
    solver.factor(diag, e, values[j], tiny);
    const x = zeros(n);
    rows.push(x);
    // Any start with a component along the wanted vector works; uniform draws are cheaper than normal ones.
    for (let i = 0; i < n; i++) x[i] = start.nextFloat() - 0.5;
    normalize(x);
    let converged = false;
    for (let it = 0; it < INVERSE_ITERATIONS && !converged; it++) {
      solver.solve(x);
      orthogonalizeRows(x, cluster);
      if (!(normalize(x) > 0)) return null;
      converged = tridiagonalResidual(n, diag, e, values[j], x) <= tol;
    }
  }
  // Rows (separate arrays while iterating: a number[] has no views) → one flat k×n array.
  const out: Vec = [];
  for (const x of rows) for (let i = 0; i < n; i++) out.push(x[i]);
  return out;
}

/** ||T x − λ x|| for the tridiagonal (diag, e). */
function tridiagonalResidual(n: number, diag: Vec, e: Vec, lambda: number, x: Vec): number {
  let r2 = 0;
  for (let i = 0; i < n; i++) {
    let t = (diag[i] - lambda) * x[i];
    if (i > 0) t += e[i] * x[i - 1];
    if (i + 1 < n) t += e[i + 1] * x[i + 1];
    r2 += t * t;
  }
  return Math.sqrt(r2);
}

/** x = H_{n−1}⋯H_1 y for each row y of `ys` (innermost H_1 first); reflectors as householderReduce left them. */
function backTransform(n: number, k: number, z: Mat, h: Vec, ys: Vec): Vec {
  const out = ys.slice();
  for (let i = 1; i < n; i++) {
    const hi = h[i];
    if (hi === 0) continue;
    const zi = i * n;
    for (let j = 0; j < k; j++) {
      const xj = j * n;
      let s = 0;
      for (let c = 0; c < i; c++) s += z[zi + c] * out[xj + c];
      s /= hi;
      if (s !== 0) for (let c = 0; c < i; c++) out[xj + c] -= s * z[zi + c];
    }
  }
  return out;
}

/**
 * ||a x_j − λ_j x_j|| ≤ TOP_EIGEN_RESIDUAL·||a||₁ and |x_iᵀx_j − δ_ij| ≤ TOP_EIGEN_ORTHOGONALITY for the rows x_j
 * (||a||₁, the max row sum, bounds ||a||₂). False on NaN.
 */
function certified(a: Mat, n: number, k: number, values: Vec, vectors: Vec): boolean {
  let aNorm = 0;
  for (let i = 0; i < n; i++) {
    let row = 0;
    for (let c = 0; c < n; c++) row += Math.abs(a[i * n + c]);
    aNorm = Math.max(aNorm, row);
  }
  const bound = TOP_EIGEN_RESIDUAL * aNorm;
  for (let j = 0; j < k; j++) {
    const xj = j * n;
    const lambda = values[j];
    let r2 = 0;
    for (let i = 0; i < n; i++) {
      const ai = i * n;
      let s = 0;
      for (let c = 0; c < n; c++) s += a[ai + c] * vectors[xj + c];
      const t = s - lambda * vectors[xj + i];
      r2 += t * t;
    }
    if (!(Math.sqrt(r2) <= bound)) return false;
    for (let i = 0; i <= j; i++) {
      const xi = i * n;
      let s = 0;
      for (let c = 0; c < n; c++) s += vectors[xi + c] * vectors[xj + c];
      if (!(Math.abs(s - (i === j ? 1 : 0)) <= TOP_EIGEN_ORTHOGONALITY)) return false;
    }
  }
  return true;
}
