// Float64 vector kernels shared by the host-side SD linear algebra (linalg.ts, eigen.ts): the leaf
// both import, so neither repeats them.
//
// Vectors and work arrays are plain number[] (V8's packed double arrays), not Float64Array. Any
// process that has read a GPU buffer back has detached an ArrayBuffer (GPUBuffer#unmap detaches the
// mapped range), and V8 then invalidates its process-wide "ArrayBufferDetaching" protector: from
// then on every typed-array access in optimised code also checks that its buffer is still attached.
// Measured in this repository (Node 20, no load): a dot-product loop over a Float64Array ran 0.72 ms
// before and 1.35 ms after one `structuredClone(buf, { transfer: [buf] })`, the same loop over a
// number[] 0.45 ms either way; the demo_sd re-basing's host SVDs took 3.4 ms in a fresh process and
// 4.5–4.8 ms in the training process, which has always detached (`node --trace-protector-invalidation`
// shows the first unmap doing it). Typed arrays stay at the edges: device data in (Float32Array,
// read once into a number[] copy) and out (Float32Array for the device).
//
// Unrolled by four: V8 does not vectorise, and the independent partial sums roughly double throughput
// on the O(K³) Gram–Schmidt of Algorithm 1. The summation order is fixed, so results stay deterministic.

/** A float64 vector: a packed-double number[] (see the header for why not a Float64Array). */
export type Vec = number[];

/**
 * n zeros as a packed double array: pushed (`new Array(n)` starts as holes), and of doubles from the
 * start (a pushed 0 would make a small-integer array that turns into a double one at its first
 * fractional store, inside the hot loop, leaving that loop's code handling both kinds). A 0 stored
 * into a double array stays a double: the array never goes back to small integers.
 */
export function zeros(n: number): Vec {
  const out: Vec = [];
  for (let i = 0; i < n; i++) out.push(0.5);
  for (let i = 0; i < n; i++) out[i] = 0;
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
