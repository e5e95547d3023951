// Float64 vector kernels shared by the host-side SD linear algebra (linalg.ts, eigen.ts): the leaf
// both import, so neither repeats them.
// Unrolled by four: V8 does not vectorise, and the independent partial sums roughly double throughput
// on the O(K³) Gram–Schmidt of Algorithm 1. The summation order is fixed, so results stay deterministic.
export function dot(a: Float64Array, b: Float64Array): number {
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

export function axpy(alpha: number, x: Float64Array, y: Float64Array): void {
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
