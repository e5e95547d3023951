// Rows per lane of the subgroup GEMMs on this adapter: 16 (SUBGROUP_TUNING, what GPUs get) against
// 32 (SUBGROUP_TUNING_CPU, what CPU adapters get since issue 8's third round), for the dense matmul
// at the demo's and qwen_tiny's shapes and the grouped expert GEMMs at the demo's, each pair of
// kernels on the same buffers, interleaved per round so drift in the machine's speed hits both.
// Reports ms per dispatch best / median and the median of the per-round ratios (32 ÷ 16). A plain
// copy of one SD expert gradient (4×64×128 floats) is timed alongside as this adapter's floor for a
// kernel that streams that much memory (docs/benchmarks.md, SD cost).
import { acquireDevice } from '../runtime/device.ts';
import { KernelExecutor } from '../runtime/executor.ts';
import type { KernelProgram } from '../compiler/codegen/kernel.ts';
import { elementwiseCase } from '../compiler/kernels/elementwise.ts';
import { groupedMatmulDwProgram, groupedMatmulProgram } from '../compiler/kernels/grouped-matmul.ts';
import { matmulProgram, matmulVariant, SUBGROUP_TUNING, SUBGROUP_TUNING_CPU, type MatmulParams } from '../compiler/kernels/matmul.ts';
import type { KernelBinding } from '../compiler/kernels/types.ts';
import { loadAverage, markdownTable, medianRatio, sourceRevision, stats, timeKernelsInterleaved, type BenchModule, type BenchOptions, type BenchReport } from './common.ts';

const DENSE: [string, MatmulParams][] = [
  ['LM head nn 512×1024×64', { M: 512, N: 1024, K: 64 }],
  ['LM head dW tn 64×1024×512', { M: 64, N: 1024, K: 512, transA: true }],
  ['LM head dX nt 512×64×1024', { M: 512, N: 64, K: 1024, transB: true }],
  ['projection nn 512×64×64', { M: 512, N: 64, K: 64 }],
  ['projection nt 512×64×64 acc', { M: 512, N: 64, K: 64, transB: true, accumulate: true }],
  ['projection dW tn 64×64×512', { M: 64, N: 64, K: 512, transA: true }],
  ['qwen_tiny LM head nn 1024×2048×128', { M: 1024, N: 2048, K: 128 }],
];
const fwd = (inner: number, out: number, weightLayout: 'io' | 'oi') => ({ rows: 1024, experts: 4, inner, out, weightLayout, sharedWeight: false });

async function run(opts: BenchOptions): Promise<BenchReport> {
  const ctx = await acquireDevice();
  const exec = KernelExecutor.shared(ctx);
  if (matmulVariant(ctx.caps) !== 'subgroup') throw new Error('gemm-rows: this adapter does not run the subgroup variant');
  const caps = { ...ctx.caps, cpuAdapter: true };
  const grouped: [string, (rows: number) => KernelProgram][] = [
    ['grouped forward io 64×128', (r) => groupedMatmulProgram(fwd(64, 128, 'io'), caps, r)],
    ['grouped forward io 128×64', (r) => groupedMatmulProgram(fwd(128, 64, 'io'), caps, r)],
    ['grouped dX oi 128×64', (r) => groupedMatmulProgram(fwd(128, 64, 'oi'), caps, r)],
    ['grouped dX oi 64×128', (r) => groupedMatmulProgram(fwd(64, 128, 'oi'), caps, r)],
    ['grouped dW io 64×128', (r) => groupedMatmulDwProgram({ rows: 1024, experts: 4, inDim: 64, outDim: 128, weightLayout: 'io' }, caps, r)],
  ];
  const cases: [string, KernelProgram[]][] = [
    ...DENSE.map(([name, p]) => [name, [SUBGROUP_TUNING, SUBGROUP_TUNING_CPU].map((t) => matmulProgram(p, ctx.caps, 'subgroup', t))] as [string, KernelProgram[]]),
    ...grouped.map(([name, mk]) => [name, [SUBGROUP_TUNING.rows, SUBGROUP_TUNING_CPU.rows].map(mk)] as [string, KernelProgram[]]),
    ['floor: copy of a 4×64×128 gradient', [elementwiseCase({ op: 'copy', aShape: [4 * 64 * 128] }).program]],
  ];
  const reps = 5;
  const rounds = opts.quick ? 10 : 30;
  const load = loadAverage();
  const rows = [];
  // Grouped GEMMs: every expert owns a quarter of the rows (counts), tokens gathered in order.
  const fill = (b: KernelBinding) =>
    b.name === 'counts' ? new Uint32Array(b.length).fill(256) : b.name === 'src_token' ? Int32Array.from({ length: b.length }, (_, i) => i % 512) : Float32Array.from({ length: b.length }, (_, i) => Math.sin(i));
  for (const [name, programs] of cases) {
    const { ms } = await timeKernelsInterleaved(ctx, exec, programs, { reps, rounds, fill });
    const row = { case: name, labels: programs.map((p) => p.label), ms: ms.map(stats), ratio: ms.length > 1 ? medianRatio(ms[0], ms[1]) : null };
    rows.push(row);
    process.stdout.write(`gemm-rows: ${name}: ${row.ms.map((s) => `${s.best.toFixed(3)} / ${s.median.toFixed(3)} ms`).join(' vs ')}${row.ratio !== null ? `, 32 ÷ 16 rows ${row.ratio.toFixed(3)} (median of rounds)` : ''}\n`);
  }
  const after = loadAverage();
  const json = { meta: { revision: sourceRevision(), date: new Date().toISOString(), adapter: ctx.adapterName, rounds, reps, load: { before: load, after } }, rows };
  const markdown = [
    '# Rows per lane of the subgroup GEMMs: 16 vs 32 on this adapter',
    '',
    `Revision ${json.meta.revision}; ${ctx.adapterName}; ${rounds} interleaved rounds of ${reps} dispatches per kernel; load ${load.one.toFixed(2)} → ${after.one.toFixed(2)}.`,
    '',
    markdownTable(
      ['case', '16 rows ms best / median', '32 rows ms best / median', '32 ÷ 16 (median of rounds)'],
      rows.map((r) => [r.case, `${r.ms[0].best.toFixed(3)} / ${r.ms[0].median.toFixed(3)}`, r.ms[1] ? `${r.ms[1].best.toFixed(3)} / ${r.ms[1].median.toFixed(3)}` : '—', r.ratio !== null ? `**${r.ratio.toFixed(3)}**` : '—']),
    ),
  ].join('\n');
  return { json, markdown };
}

export const gemmRowsBench: BenchModule = { name: 'gemm-rows', run };
