// Float64 vector kernels shared by the host-side SD linear algebra (linalg.ts, eigen.ts): the leaf
// both import, so neither repeats them.
//
// Vectors and work arrays are plain number[] (V8's packed double arrays), not Float64Array. Any
// process that has read a GPU buffer back has detached an ArrayBuffer (GPUBuffer#unmap detaches the
// mapped range), and V8 then invalidates its process-wide "ArrayBufferDetaching" protector: from
// then on every typed-array access in optimised code also checks that its buffer is still attached.
// `npm run bench -- host-detach` (fresh processes that did or did not detach one buffer;
// docs/results/issue7/stop23/host-detach-1.md): a dot-product loop over a Float64Array 0.71 ms median
// attached, 1.14 detached; the same loop over a number[] 0.51 either way. The training process has
// always detached (`node --trace-protector-invalidation` shows the first unmap doing it); the bench's
// re-basing child run on the Float64Array code (d9060ff) took 4.73–5.23 ms detached, 4.04–4.16 on this. Typed arrays stay at the edges: device data in (Float32Array,
// read once into a number[] copy) and out (Float32Array for the device), and for whole matrices past
// MAT_ARRAY_MAX elements (Mat): a JS array lives on the V8 heap and cannot exceed ~134 M doubles
// (V8 aborts the process, uncatchably), where a pretrained model's expert matrix can reach that
// (7168 × 18432 = 132 M), so `sdmoec analyze` of such a matrix keeps the typed array it used before.
//
// Unrolled by four: V8 does not vectorise, and the independent partial sums roughly double throughput
// on the O(K³) Gram–Schmidt of Algorithm 1. The summation order is fixed, so results stay deterministic.

/** A float64 vector (or a Gram-side n×n matrix): a number[] of doubles (see the header for why not a Float64Array). */
export type Vec = number[];

/** A row-major matrix of a whole weight's size: a number[] up to MAT_ARRAY_MAX elements, a Float64Array past it. */
export type Mat = number[] | Float64Array;

/** 2^24 doubles (128 MiB): demo and qwen-sized matrices are far below, a 4096² one just fits. */
export const MAT_ARRAY_MAX = 1 << 24;

/**
 * n zeros as an array of doubles from the start: filled with a fraction first (a 0 would make a
 * small-integer array that turns into a double one at its first fractional store, inside the hot
 * loop, leaving that loop's code handling both kinds), then with 0, which a double array keeps as a
 * double. fill, not push: pushing 58.7 M elements took 7.8 s (ad hoc, Node 20), a fill a fraction.
 * `new Array(n)` makes the array holey; its loads check for holes (ad hoc, a detached process: a loop
 * over 4 M holey doubles 161 ms against 154 packed, 287 over a Float64Array).
 */
export function zeros(n: number): Vec {
  return new Array<number>(n).fill(0.5).fill(0);
}

/** A float64 copy of `a` as a Vec. */
export function toVec(a: ArrayLike<number>): Vec {
  const out = zeros(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i];
  return out;
}

/** n zeros as a Mat (a typed array past MAT_ARRAY_MAX elements). */
export function matZeros(n: number): Mat {
  return n <= MAT_ARRAY_MAX ? zeros(n) : new Float64Array(n);
}

/** A float64 copy of `a` as a Mat. */
export function matCopy(a: ArrayLike<number>): Mat {
  const out = matZeros(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i];
  return out;
}

export function dot(a: Vec, b: Vec): number {
  const n = a.length;
  const n4 = n - (n % 4);
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (let i = 0; i < n4; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (let i = n4; i < n; i++) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

export function axpy(alpha: number, x: Vec, y: Vec): void {
  const n = y.length;
  const n4 = n - (n % 4);
  for (let i = 0; i < n4; i += 4) {
    y[i] += alpha * x[i];
    y[i + 1] += alpha * x[i + 1];
    y[i + 2] += alpha * x[i + 2];
    y[i + 3] += alpha * x[i + 3];
  }
  for (let i = n4; i < n; i++) y[i] += alpha * x[i];
}
