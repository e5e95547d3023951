// One fresh process of `npm run bench -- host-detach` (see there): times a Float64Array loop, the
// same loop over a number[], and a demo_sd re-basing, alternating, in a process that has detached an
// ArrayBuffer or not (argv[2]: 'attached' | 'detached'), and prints the samples as one JSON line.
// A fresh process because the protector, once invalidated, stays so, and the bench harness's own
// imports (tsx loading CommonJS packages) already invalidate it.
import { rebase } from '../runtime/sd/rebase.ts';
import { Rng } from '../base/rng.ts';

function typedLoop(a: Float64Array): number {
  let s = 0;
  const n = a.length;
  for (let r = 0; r < 200; r++) for (let i = 0; i < n; i++) s += a[i] * a[(i * 7) & (n - 1)];
  return s;
}
// The same loop: each function sees one array kind (monomorphic, as in the real code).
function arrayLoop(a: number[]): number {
  let s = 0;
  const n = a.length;
  for (let r = 0; r < 200; r++) for (let i = 0; i < n; i++) s += a[i] * a[(i * 7) & (n - 1)];
  return s;
}

const [phase, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 40);
if (phase === 'detached') {
  const buf = new ArrayBuffer(8);
  structuredClone(buf, { transfer: [buf] });
}
const rng = new Rng('host-detach-bench');
const typed = new Float64Array(4096).map(() => rng.normal());
const plain = Array.from(typed);
const shapes = [[64, 128], [64, 128], [128, 64], [64, 128], [64, 128], [128, 64]];
// A W_c near rank 8 plus drift, as after training (the spectrum's tail decides the eigensolver's work).
const data = shapes.map(([rows, cols]) => {
  const common = new Float32Array(rows * cols);
  for (let j = 0; j < 8; j++) {
    const u = Array.from({ length: rows }, () => rng.normal());
    const v = Array.from({ length: cols }, () => rng.normal());
    for (let i = 0; i < rows; i++) for (let k = 0; k < cols; k++) common[i * cols + k] += (0.05 / (1 + j)) * u[i] * v[k];
  }
  for (let i = 0; i < common.length; i++) common[i] += 0.002 * rng.normal();
  return { rows, cols, common, uk: new Float32Array(rows * 8), vk: new Float32Array(cols * 8) };
});
const rebaseAll = () => data.forEach((m) => rebase({ ...m, unique: null, experts: 4, rank: 8, residual: 'keep', reproject: false }));
const time = (f: () => unknown) => {
  const t = performance.now();
  f();
  return performance.now() - t;
};
for (let i = 0; i < 20; i++) {
  typedLoop(typed);
  arrayLoop(plain);
  rebaseAll();
}
const samples = { typed: [] as number[], array: [] as number[], rebase: [] as number[] };
for (let i = 0; i < rounds; i++) {
  samples.typed.push(time(() => typedLoop(typed)));
  samples.array.push(time(() => arrayLoop(plain)));
  samples.rebase.push(time(rebaseAll));
}
process.stdout.write(`${JSON.stringify({ phase, samples })}\n`);
