// Central finite differences for checking CPU reference backward passes against their forwards.

/** ∂loss/∂x by central differences (x is perturbed in place and restored). */
export function numericGradient(loss: (x: Float64Array) => number, x: Float64Array, step = 1e-6): Float64Array {
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const saved = x[i];
    x[i] = saved + step;
    const up = loss(x);
    x[i] = saved - step;
    const down = loss(x);
    x[i] = saved;
    grad[i] = (up - down) / (2 * step);
  }
  return grad;
}

export const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
