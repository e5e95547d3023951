// One fresh process of `npm run bench -- rebase-warmup`: re-bases the demo_sd's six matrices (four
// 64×128, two 128×64; 4 experts, rank 8, residual keep) `events` times, with or without the trainer's
// warm-up first (runtime/train/spectral.ts#warmRebase), and prints the times as one JSON line.
import { rebase } from '../runtime/sd/rebase.ts';
import { warmRebase, type SpectralMatrix } from '../runtime/train/spectral.ts';
import type { SpectralConfig } from '../compiler/config/types.ts';
import { Rng } from '../base/rng.ts';

const [mode, eventsArg] = process.argv.slice(2);
const events = Number(eventsArg ?? 20);
const rng = new Rng('rebase-warmup-bench');
const shapes = [[64, 128], [64, 128], [128, 64], [64, 128], [64, 128], [128, 64]];
const matrices = shapes.map(([rows, cols], i) => ({ name: `m${i}`, layer: 0, matrix: 'up', params: { common: '', unique: '', uk: '', vk: '' }, moments: [], rows, cols, experts: 4, rank: 8, std: 0.02 }) as SpectralMatrix);
const spectral = { residual: 'keep', reproject: false } as SpectralConfig;
const data = matrices.map((m) => ({ common: Float32Array.from({ length: m.rows * m.cols }, () => rng.normal() * 0.02), uk: new Float32Array(m.rows * m.rank), vk: new Float32Array(m.cols * m.rank) }));
const t0 = performance.now();
if (mode === 'warm') await warmRebase(matrices, spectral);
const warmupMs = performance.now() - t0;
const eventMs: number[] = [];
for (let e = 0; e < events; e++) {
  const t = performance.now();
  matrices.forEach((m, i) => rebase({ ...data[i], unique: null, rows: m.rows, cols: m.cols, experts: m.experts, rank: m.rank, residual: 'keep', reproject: false }));
  eventMs.push(performance.now() - t);
}
process.stdout.write(`${JSON.stringify({ mode, warmupMs, eventMs })}\n`);
