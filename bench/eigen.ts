// The host eigensolvers of SD-MoE re-basing (runtime/sd/eigen.ts) against ml-matrix's, the solver
// they replaced: Gram matrices of the demo's W_c (64×128 → 64×64) and qwen_tiny's (128×128), the
// same matrices for every solver, solvers interleaved per round so drift in the machine's speed
// hits all alike. Measures `symmetricEigen` (the full solver, a flat-array port of ml-matrix's
// tred2/tql2, bit-identical to it) and `symmetricEigenTop` (only the top k = 8 pairs, what
// re-basing runs below a 256 Gram). Host-only: no device work.
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { Rng } from '../base/rng.ts';
import { symmetricEigen, symmetricEigenTop } from '../runtime/sd/eigen.ts';
import { loadAverage, markdownTable, nowMs, sourceRevision, stats, type BenchModule, type BenchOptions, type BenchReport } from './common.ts';

const SHAPES = [
  { label: 'demo W_c 64×128', rows: 64, cols: 128 },
  { label: 'qwen_tiny W_c 128×128', rows: 128, cols: 128 },
] as const;
const MATRICES = 12;
const RANK = 8;

function grams(rows: number, cols: number): Float64Array[] {
  const rng = new Rng(`bench-eigen/${rows}x${cols}`);
  return Array.from({ length: MATRICES }, () => {
    const a = rng.fillNormal(new Float32Array(rows * cols));
    const g = new Float64Array(rows * rows);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let k = 0; k < cols; k++) s += a[i * cols + k] * a[j * cols + k];
        g[i * rows + j] = g[j * rows + i] = s;
      }
    }
    return g;
  });
}

async function run(opts: BenchOptions): Promise<BenchReport> {
  const rounds = opts.quick ? 10 : 30;
  const results = [];
  for (const shape of SHAPES) {
    const n = shape.rows;
    const gs = grams(shape.rows, shape.cols);
    const objects = gs.map((g) => new Matrix(Array.from({ length: n }, (_, i) => Array.from(g.subarray(i * n, (i + 1) * n)))));
    const solvers: [string, () => void][] = [
      ['ml-matrix EigenvalueDecomposition (before)', () => objects.forEach((m) => new EigenvalueDecomposition(m, { assumeSymmetric: true }))],
      ['symmetricEigen (full)', () => gs.forEach((g) => symmetricEigen(g, n))],
      [`symmetricEigenTop (k = ${RANK})`, () => gs.forEach((g) => symmetricEigenTop(g, n, RANK))],
    ];
    solvers.forEach(([, f]) => f()); // warm-up (JIT)
    const ms = solvers.map(() => [] as number[]);
    for (let r = 0; r < rounds; r++) {
      solvers.forEach(([, f], i) => {
        const t0 = nowMs();
        f();
        ms[i].push((nowMs() - t0) / MATRICES);
      });
    }
    for (const [i, [name]] of solvers.entries()) {
      const s = stats(ms[i]);
      process.stdout.write(`  ${shape.label}: ${name} ${s.best.toFixed(3)} / ${s.median.toFixed(3)} ms per matrix (best / median)\n`);
      results.push({ shape: shape.label, solver: name, msPerMatrix: s });
    }
  }
  const load = loadAverage();
  const markdown = [
    '# Host eigensolvers of SD-MoE re-basing (runtime/sd/eigen.ts) against ml-matrix',
    '',
    `Revision ${sourceRevision()}; load average ${load.one.toFixed(2)}; ${MATRICES} Gram matrices per shape, ${rounds} interleaved rounds.`,
    '',
    markdownTable(
      ['Gram of', 'solver', 'ms per matrix, best', 'median'],
      results.map((r) => [r.shape, r.solver, r.msPerMatrix.best.toFixed(3), r.msPerMatrix.median.toFixed(3)]),
    ),
  ].join('\n');
  return { json: { revision: sourceRevision(), load, rounds, matrices: MATRICES, results }, markdown };
}

export const eigenBench: BenchModule = { name: 'eigen', run };
