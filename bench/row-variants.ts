// Per-row kernel variants on this adapter (issue 8): for each kernel whose CPU-adapter layout was
// changed, the layout it had before against the one the compiler picks now, at the demo's and
// qwen_tiny's shapes, on the same buffers, interleaved per round so drift in the machine's speed
// hits both alike. Reports µs per dispatch best / median and the median of the per-round ratios
// (new ÷ old). Both variants of every pair stay buildable (and oracle-tested: test/kernels) so the
// comparison can be re-run on any adapter.
//   rope      row (scalar, an angle per step) → row4 (vec4, four angles per step), the q+k pair
//   rmsnorm   lane (scalar row walk) → lane4 (vec4 row walk, trip count hidden from LLVM), forward
//             and the fused dx + dw backward with the residual addend; then lane4 → lane4_sg (w loaded by
//             one lane and handed out by subgroupBroadcast)
//   sd_proxy  256 invocations × 1 vec4 (the GPU layout) → 64 × 16 vec4s (the elementwise kernels' CPU layout)
//   adamw     the same two layouts over an optimizer slab (the demo's 360 960 floats, qwen_tiny's 3.4 M)
//   sgd, grad_accum  the same two layouts over the demo's slab (`optimizer sgd`, `grad_accum N`)
//   sd_split_ap, sd_split_out_pc, sd_project_fused, the rows matmul  operands every lane reads alike loaded per
//             lane (no subgroups) → loaded once per lane or by lane 0 and handed out by subgroupBroadcast
//   adamw     one weight decay → two decay ranges over the demo's slab (matrices and norm gains in one slab)
//   matmul    8 columns (qwen_tiny's router): subgroup GEMM → rows (ROWS_MAX_N 4 → 8)
//   attention row kernels: rows as floats → as vectors (AttentionRowLoads: vec2 at the demo's hd 16, vec4 at qwen_tiny's hd 32);
//             causal loops bounded by the workgroup's block → by the subgroup's queries / keys (stop 26);
//             one row per invocation → attentionRowsPerLane's R (2 at the demo's S 64; 4 forward, 2 backward at qwen_tiny's 128; stop 27)
//   sd_proxy  one dispatch per matrix → one batch of all of a model's matrices (the planner's proxy batches): the
//             same work, so the times compared are 6 (demo_sd) or 12 (qwen_tiny_sd) dispatches against one
//   sd_split_ap, sd_split_out_pc  one dispatch per matrix → one batch per shape (the planner's split batches): demo_sd's
//             4 gate/up and 2 down matrices
//   matmul    q, k and v of one layer: three GEMMs → one batched GEMM, A broadcast (the planner's matmul batches), and
//             their three weight gradients → one (weight-gradient batches)
//   cross_entropy  the fused loss + gradient rows kernel: dlogits into a buffer of their own → written over the logits
//             (the planner's hand-over of the dying logits, stop 25)
//   stop 26's fusions: the unfused dispatches in sequence → the fused kernel (un-permute + the router's K = E GEMM;
//             combine backward + router backward; serial permutation + load-balance loss; the gate/up data
//             gradients summed by the second GEMM instead of the un-permute)
import { acquireDevice } from '../runtime/device.ts';
import { KernelExecutor } from '../runtime/executor.ts';
import type { KernelProgram } from '../compiler/codegen/kernel.ts';
import { ropeProgram } from '../compiler/kernels/rope.ts';
import { rmsnormBackwardDwProgram, rmsnormProgram } from '../compiler/kernels/rmsnorm.ts';
import { sdProxyProgram } from '../compiler/kernels/sd-proxy.ts';
import { adamwProgram } from '../compiler/kernels/adamw.ts';
import { sgdProgram } from '../compiler/kernels/sgd.ts';
import { gradAccumProgram } from '../compiler/kernels/grad-accum.ts';
import { sdProjectFusedProgram, sdSplitApProgram, sdSplitOutPcProgram, type SdSplitBatch } from '../compiler/kernels/sd-split.ts';
import { matmulProgram } from '../compiler/kernels/matmul.ts';
import { crossEntropyProgram } from '../compiler/kernels/cross-entropy.ts';
import { attentionBackwardPrepProgram, attentionBackwardRowProgram, attentionRowLoads, attentionRowProgram, attentionRowsPerLane } from '../compiler/kernels/attention.ts';
import type { KernelBinding } from '../compiler/kernels/types.ts';
import { moeCombineBackwardProgram, moeCombineNormGradInKernel, moeCombineProgram } from '../compiler/kernels/moe-combine.ts';
import { routerBackwardProgram } from '../compiler/kernels/router.ts';
import { moePermuteSerialCase } from '../compiler/kernels/moe-permute.ts';
import { auxLossProgram, auxLossWorkgroup } from '../compiler/kernels/aux-loss.ts';
import { groupedMatmulBackwardParams, groupedMatmulProgram } from '../compiler/kernels/grouped-matmul.ts';
import { loadAverage, markdownTable, medianRatio, sourceRevision, stats, timeKernelsInterleaved, type BenchModule, type BenchOptions, type BenchReport } from './common.ts';

interface Case {
  readonly name: string;
  /** [before, now]; a side may be a sequence of dispatches (an unfused chain against its fusion), whose
   *  programs share buffers by binding name. */
  readonly programs: readonly [KernelProgram | readonly KernelProgram[], KernelProgram | readonly KernelProgram[]];
  /** Dispatches of each program that do the same work (default one each): µs are per that many. */
  readonly dispatches?: readonly [number, number];
}

function cases(): Case[] {
  const caps = { cpuAdapter: true, subgroups: true, subgroupMinSize: 8 } as const;
  // the lane → lane4 pairs as they were measured (per-lane w); the broadcast pairs add lavapipe's subgroups
  const noSubgroups = { ...caps, subgroups: false } as const;
  const out: Case[] = [];
  for (const [model, tokens, seqLen, heads, headDim, theta] of [
    ['demo', 512, 64, 4, 16, 10000],
    ['qwen_tiny', 1024, 128, 4, 32, 1000000],
  ] as const) {
    for (const inverse of [false, true]) {
      const p = { tokens, seqLen, heads, pairHeads: heads, headDim, theta, inverse };
      out.push({ name: `${model} rope ${inverse ? 'backward' : 'forward'} (q+k)`, programs: [ropeProgram(p, caps, 'row'), ropeProgram(p, caps, 'row4')] });
    }
  }
  for (const [model, rows, dim] of [
    ['demo', 512, 64],
    ['qwen_tiny', 1024, 128],
  ] as const) {
    const p = { rows, dim, eps: 1e-6 };
    out.push({ name: `${model} rmsnorm forward`, programs: [rmsnormProgram(p, noSubgroups, 'lane', false), rmsnormProgram(p, noSubgroups, 'lane', true)] });
    out.push({ name: `${model} rmsnorm dx + dw + addend`, programs: [rmsnormBackwardDwProgram({ ...p, addend: true }, noSubgroups, false), rmsnormBackwardDwProgram({ ...p, addend: true }, noSubgroups, true)] });
    out.push({ name: `${model} rmsnorm forward, w by broadcast`, programs: [rmsnormProgram(p, noSubgroups, 'lane', true), rmsnormProgram(p, caps, 'lane', true)] });
    out.push({ name: `${model} rmsnorm dx + dw + addend, w by broadcast`, programs: [rmsnormBackwardDwProgram({ ...p, addend: true }, noSubgroups, true), rmsnormBackwardDwProgram({ ...p, addend: true }, caps, true)] });
  }
  for (const [model, experts, matrix] of [
    ['demo_sd', 4, 64 * 128],
    ['qwen_tiny_sd', 8, 128 * 128],
  ] as const) {
    const p = { experts, matrix };
    out.push({ name: `${model} SD proxies W_c + W_u(e)`, programs: [sdProxyProgram(p), sdProxyProgram(p, caps)] });
  }
  for (const [model, experts, matrix, count] of [
    ['demo_sd', 4, 64 * 128, 6],
    ['qwen_tiny_sd', 8, 128 * 128, 12],
  ] as const) {
    const p = { experts, matrix };
    // members at their slab-like slots: W_c and W_u interleaved in one buffer, the proxies back to back
    const members = Array.from({ length: count }, (_, j) => ({ wc: j * (experts + 1) * matrix, wu: (j * (experts + 1) + 1) * matrix, out: j * experts * matrix }));
    out.push({ name: `${model} SD proxies: ${count} dispatches → one batch`, programs: [sdProxyProgram(p, caps), sdProxyProgram(p, caps, members)], dispatches: [count, 1] });
  }
  for (const [model, length] of [
    ['demo', 360_960],
    ['qwen_tiny', 3_407_872],
  ] as const) {
    const p = { length, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    out.push({ name: `${model} AdamW slab of ${length} floats`, programs: [adamwProgram(p), adamwProgram(p, caps)] });
  }
  // Operands every lane reads alike, per lane (no subgroups) → one load per lane or by lane 0, handed out by subgroupBroadcast
  for (const [model, experts, rows, cols] of [
    ['demo_sd gate/up', 4, 64, 128],
    ['demo_sd down', 4, 128, 64],
    ['qwen_tiny_sd', 8, 128, 128],
  ] as const) {
    const p = { experts, rows, cols, rank: 8, aggregate: 'sum' as const };
    out.push({ name: `${model} sd_split_ap`, programs: [sdSplitApProgram(p, noSubgroups), sdSplitApProgram(p, caps)] });
    out.push({ name: `${model} sd_split_out_pc`, programs: [sdSplitOutPcProgram(p, noSubgroups), sdSplitOutPcProgram(p, caps)] });
    out.push({ name: `${model} sd_project_fused (project update)`, programs: [sdProjectFusedProgram(p, noSubgroups), sdProjectFusedProgram(p, caps)] });
  }
  // split batches as the planner lays them out: U's and V's back to back, Gc and Gu interleaved in one slab
  for (const [model, rows, cols, count] of [
    ['demo_sd gate/up', 64, 128, 4],
    ['demo_sd down', 128, 64, 2],
  ] as const) {
    const p = { experts: 4, rows, cols, rank: 8, aggregate: 'sum' as const };
    const ids = Array.from({ length: count }, (_, j) => j);
    const matrix = rows * cols;
    const batch: SdSplitBatch = { count, uAt: ids.map((j) => j * rows * 8), vAt: ids.map((j) => j * cols * 8), gcAt: ids.map((j) => j * 5 * matrix), guAt: ids.map((j) => (5 * j + 1) * matrix), sharedOut: true };
    out.push({ name: `${model} sd_split_ap: ${count} dispatches → one batch`, programs: [sdSplitApProgram(p, caps), sdSplitApProgram(p, caps, batch)], dispatches: [count, 1] });
    out.push({ name: `${model} sd_split_out_pc: ${count} dispatches → one batch`, programs: [sdSplitOutPcProgram(p, caps), sdSplitOutPcProgram(p, caps, batch)], dispatches: [count, 1] });
  }
  // weights in neighbouring slab slots (64×64 floats = 16 KiB apart), results back to back
  for (const [model, M, dim] of [['demo', 512, 64], ['qwen_tiny', 1024, 128]] as const) {
    const p = { M, N: dim, K: dim };
    out.push({ name: `${model} q/k/v projections: 3 dispatches → one batch`, programs: [matmulProgram(p, caps), matmulProgram({ ...p, batch: 3, aBatchStride: 0 }, caps)], dispatches: [3, 1] });
    // their weight gradients xᵀ dq, xᵀ dk, xᵀ dv (the planner's weight-gradient batches)
    const dw = { M: dim, N: dim, K: M, transA: true };
    out.push({ name: `${model} q/k/v weight gradients: 3 dispatches → one batch`, programs: [matmulProgram(dw, caps), matmulProgram({ ...dw, batch: 3, aBatchStride: 0 }, caps)], dispatches: [3, 1] });
  }
  for (const p of [{ M: 512, N: 4, K: 64 }, { M: 64, N: 4, K: 512, transA: true }]) {
    out.push({ name: `demo router matmul ${p.M}×${p.N}×${p.K}${p.transA ? ' (tn)' : ''}`, programs: [matmulProgram(p, noSubgroups, 'rows'), matmulProgram(p, caps, 'rows')] });
  }
  // 8 router logits: the subgroup GEMM (the choice up to ROWS_MAX_N = 4) against the rows kernel (now)
  for (const p of [{ M: 1024, N: 8, K: 128 }, { M: 128, N: 8, K: 1024, transA: true }]) {
    out.push({ name: `qwen_tiny router matmul ${p.M}×${p.N}×${p.K}${p.transA ? ' (tn)' : ''}`, programs: [matmulProgram(p, caps, 'subgroup'), matmulProgram(p, caps, 'rows')] });
  }
  for (const [model, attention] of [
    ['demo', { tokens: 512, seqLen: 64, heads: 4, kvHeads: 4, headDim: 16 }],
    ['qwen_tiny', { tokens: 1024, seqLen: 128, heads: 4, kvHeads: 4, headDim: 32 }],
  ] as const) {
    const wide = attentionRowLoads({ headDim: attention.headDim }, caps.subgroupMinSize);
    out.push({ name: `${model} attention forward (row), rows as ${wide}s`, programs: [attentionRowProgram(attention, caps, { loads: 'scalar' }), attentionRowProgram(attention, caps, { loads: wide })] });
    out.push({ name: `${model} attention backward (row), rows as ${wide}s`, programs: [attentionBackwardRowProgram(attention, caps, { loads: 'scalar' }), attentionBackwardRowProgram(attention, caps, { loads: wide })] });
    out.push({ name: `${model} attention backward prep (D), rows as vec4s`, programs: [attentionBackwardPrepProgram(attention, false), attentionBackwardPrepProgram(attention, true)] });
    out.push({ name: `${model} attention forward (row): causal loop to the block's end → to the subgroup's`, programs: [attentionRowProgram(attention, caps, { bounds: 'block' }), attentionRowProgram(attention, caps)] });
    out.push({ name: `${model} attention backward (row): causal loops bounded by the block → by the subgroup`, programs: [attentionBackwardRowProgram(attention, caps, { bounds: 'block' }), attentionBackwardRowProgram(attention, caps)] });
    const rows = attentionRowsPerLane({ seqLen: attention.seqLen }, caps.subgroupMinSize, 'forward');
    const backwardRows = attentionRowsPerLane({ seqLen: attention.seqLen }, caps.subgroupMinSize, 'backward');
    out.push({ name: `${model} attention forward (row): one row per invocation → ${rows}`, programs: [attentionRowProgram(attention, caps, { rowsPerLane: 1 }), attentionRowProgram(attention, caps)] });
    out.push({ name: `${model} attention backward (row): one row per invocation → ${backwardRows}`, programs: [attentionBackwardRowProgram(attention, caps, { rowsPerLane: 1 }), attentionBackwardRowProgram(attention, caps)] });
  }
  // the demo's slab since matrices and norm gains share it: one decay → two decay ranges
  const slab = { length: 361_280, beta1: 0.9, beta2: 0.95, eps: 1e-8 };
  const ranges = [{ start: 0, end: 360_960, weightDecay: 0.1 }, { start: 360_960, end: 361_280, weightDecay: 0 }];
  out.push({ name: 'demo AdamW slab, two weight-decay ranges', programs: [adamwProgram({ ...slab, weightDecay: 0.1 }, caps), adamwProgram({ ...slab, weightDecay: ranges }, caps)] });
  const sgd = { length: 360_960, momentum: 0.9, weightDecay: 0.1 };
  out.push({ name: 'demo SGD slab of 360960 floats', programs: [sgdProgram(sgd), sgdProgram(sgd, caps)] });
  const finish = { length: 360_960, mode: 'finish' as const, scale: 0.25 };
  out.push({ name: 'demo grad_accum finish, 360960 floats', programs: [gradAccumProgram(finish), gradAccumProgram(finish, caps)] });
  for (const [model, tokens, vocab] of [['demo', 512, 1024], ['qwen_tiny', 1024, 2048]] as const) {
    const p = { tokens, vocab, withGrad: true };
    out.push({ name: `${model} cross-entropy + gradient ${tokens}×${vocab}, dlogits over the logits`, programs: [crossEntropyProgram(p, caps), crossEntropyProgram({ ...p, inPlace: true }, caps)] });
  }
  // Stop 26's fusions, kernel by kernel (the step-level A/B is `npm run bench -- fusions`): the unfused
  // dispatches in sequence against the fused one, at the demo's and qwen_tiny's MoE shapes (top-2).
  for (const [model, tokens, dim, experts, hidden] of [
    ['demo', 512, 64, 4, 128],
    ['qwen_tiny', 1024, 128, 8, 128],
  ] as const) {
    const topK = 2;
    const rows = tokens * topK;
    const unpermute = { tokens, topK, dim, weighted: false, addend: false, gatedShared: false } as const;
    out.push({
      name: `${model} un-permute, then the router's K = ${experts} input-gradient GEMM → one un-permute (fuse-gather-grad-matmul)`,
      programs: [[moeCombineProgram(unpermute, caps), matmulProgram({ M: tokens, N: dim, K: experts, transA: false, transB: true, accumulate: true }, caps)], moeCombineProgram({ ...unpermute, project: { experts } }, caps)],
    });
    const router = { experts, scoring: 'softmax', normalize: false, scale: 1 } as const;
    out.push({
      name: `${model} combine backward, then the router backward → one (fuse-combine-router-grad)`,
      programs: [[moeCombineBackwardProgram({ tokens, topK, dim, gatedShared: false }, caps), routerBackwardProgram({ tokens, topK, ...router, selectionBias: false, dProbs: 'full' })], moeCombineBackwardProgram({ tokens, topK, dim, gatedShared: false, router }, caps)],
    });
    // fuse-norm-grad-combine-grad: the rows kernel only where the norm has the fused lane layout (the demo's 64-wide
    // rows; qwen_tiny's 128 keep the unfused pair), with the residual addend and the router as the demo's layer 1 has them
    if (moeCombineNormGradInKernel({ dim, gatedShared: false }, caps)) {
      const norm = { rows: tokens, dim, eps: 1e-5, addend: true };
      out.push({
        name: `${model} norm backward (dx + dw + addend), then the combine and router backward → one (fuse-norm-grad-combine-grad)`,
        programs: [[rmsnormBackwardDwProgram(norm, caps), moeCombineBackwardProgram({ tokens, topK, dim, gatedShared: false, router }, caps)], moeCombineBackwardProgram({ tokens, topK, dim, gatedShared: false, router, normGrad: { eps: 1e-5, addend: true } }, caps)],
      });
    }
    const permute = { tokens, experts, topK };
    const aux = { tokens, experts, topK, balanceCoef: 0.01, zLossCoef: 0, accumulate: false, total: true, grad: true };
    out.push({
      name: `${model} serial permutation, then the load-balance loss → one (fuse-aux-loss-dispatch)`,
      programs: [[moePermuteSerialCase(permute).program, auxLossProgram(aux, caps)], moePermuteSerialCase(permute, { coef: 0.01, lanes: auxLossWorkgroup(caps) }).program],
    });
    const gradX = groupedMatmulBackwardParams({ rows, experts, inner: dim, out: hidden, weightLayout: 'io', sharedWeight: false });
    out.push({
      name: `${model} gate and up data gradients, un-permute of both → the second GEMM adds the first, un-permute of one (fuse-grad-x-add)`,
      programs: [
        [groupedMatmulProgram(gradX, caps), groupedMatmulProgram(gradX, caps), moeCombineProgram({ ...unpermute, second: true }, caps)],
        [groupedMatmulProgram(gradX, caps), groupedMatmulProgram({ ...gradX, sum: 'accumulate' }, caps), moeCombineProgram(unpermute, caps)],
      ],
    });
  }
  return out;
}

async function run(opts: BenchOptions): Promise<BenchReport> {
  const ctx = await acquireDevice();
  const exec = KernelExecutor.shared(ctx);
  const reps = 10;
  const rounds = opts.quick ? 10 : 30;
  const load = loadAverage();
  const rows = [];
  // Inputs in [0.5, 1.5): positive (rstd-like operands stay sane), never denormal; integer operands (the
  // cross-entropy's targets) spread over their fill range's valid ids.
  const fill = (b: KernelBinding) =>
    b.type === 'i32' ? Int32Array.from({ length: b.length }, (_, i) => (i * 37) % (b.fill?.kind === 'int' ? Math.max(1, b.fill.hi) : 1)) : Float32Array.from({ length: b.length }, (_, i) => 1 + 0.5 * Math.sin(i * 0.37));
  for (const c of cases()) {
    const { ms, firstMs } = await timeKernelsInterleaved(ctx, exec, c.programs, { reps, rounds, fill });
    const us = ms.map((m, k) => m.map((x) => x * 1000 * (c.dispatches?.[k] ?? 1)));
    const label = (side: KernelProgram | readonly KernelProgram[]): string => (Array.isArray(side) ? (side as readonly KernelProgram[]).map((p) => p.label).join('` + `') : (side as KernelProgram).label);
    const row = { case: c.name, labels: c.programs.map(label), dispatches: c.dispatches ?? [1, 1], firstMs, us: us.map(stats), ratio: medianRatio(us[0], us[1]) };
    rows.push(row);
    process.stdout.write(`row-variants: ${c.name}: ${row.labels.map((l, k) => `${l} ${row.us[k].best.toFixed(0)} / ${row.us[k].median.toFixed(0)} µs`).join(' vs ')}, now ÷ before ${row.ratio.toFixed(3)}\n`);
  }
  const after = loadAverage();
  const json = { meta: { revision: sourceRevision(), date: new Date().toISOString(), adapter: ctx.adapterName, rounds, reps, load: { before: load, after } }, rows };
  const markdown = [
    '# Per-row kernel variants: the CPU-adapter layout before and now',
    '',
    `Revision ${json.meta.revision}; ${ctx.adapterName}; ${rounds} interleaved rounds of ${reps} dispatches per kernel (wall time of a submit ÷ ${reps}; where a case says \`× n\`, times n: that many dispatches do the same work); load ${load.one.toFixed(2)} → ${after.one.toFixed(2)}.`,
    'First dispatch: pipeline creation plus the first timed pass (lavapipe compiles a shader at its first dispatch).',
    '',
    markdownTable(
      ['case', 'before', 'µs best / median', 'now', 'µs best / median', 'now ÷ before (median of rounds)', 'first dispatch ms before / now'],
      rows.map((r) => [r.case, `\`${r.labels[0]}\`${r.dispatches[0] > 1 ? ` × ${r.dispatches[0]}` : ''}`, `${r.us[0].best.toFixed(0)} / ${r.us[0].median.toFixed(0)}`, `\`${r.labels[1]}\``, `${r.us[1].best.toFixed(0)} / ${r.us[1].median.toFixed(0)}`, `**${r.ratio.toFixed(3)}**`, `${r.firstMs[0].toFixed(0)} / ${r.firstMs[1].toFixed(0)}`]),
    ),
  ].join('\n');
  return { json, markdown };
}

export const rowVariantsBench: BenchModule = { name: 'row-variants', run };
