// What lavapipe charges for things the kernels' designs rest on (stop 21's findings, repeatable):
//   subgroup operations  a 256-step loop of one vec4 operation per step in 64 one-subgroup workgroups,
//                        plain arithmetic against subgroupBroadcast at a constant lane, subgroupShuffleXor
//                        and subgroupAdd: ns per call and subgroup over the plain loop
//   denormals            the tn 128×128×1024 GEMM (a dW shape of qwen_tiny) on ordinary operands, with a
//                        denormal operand, and with operands whose products underflow (lavapipe's threads
//                        do not flush denormals to zero)
// Interleaved rounds in one process, so drift in the machine's speed hits every case alike.
import { acquireDevice } from '../runtime/device.ts';
import { KernelExecutor } from '../runtime/executor.ts';
import { defineTemplate } from '../compiler/codegen/render.ts';
import type { KernelProgram } from '../compiler/codegen/kernel.ts';
import { matmulProgram } from '../compiler/kernels/matmul.ts';
import type { KernelBinding } from '../compiler/kernels/types.ts';
import { loadAverage, markdownTable, medianRatio, sourceRevision, stats, timeKernelsInterleaved, type BenchModule, type BenchOptions, type BenchReport } from './common.ts';

const LANES = 8;
const GROUPS = 64;
const STEPS = 256;
const SUBGROUP_OPS: Record<string, string> = {
  'plain arithmetic': 'acc = acc * 1.0001f + vec4<f32>(0.5f);',
  'subgroupBroadcast(·, 3)': 'acc = subgroupBroadcast(acc, 3u) * 1.0001f + vec4<f32>(0.5f);',
  'subgroupShuffleXor(·, 2)': 'acc = subgroupShuffleXor(acc, 2u) * 1.0001f + vec4<f32>(0.5f);',
  'subgroupAdd': 'acc = subgroupAdd(acc) * 1.0001f + vec4<f32>(0.5f);',
};

/** One probe kernel per operation (a measuring instrument, not a compiler kernel: its WGSL lives here). */
function subgroupProbe(name: string, op: string, index: number): KernelProgram {
  const template = `bench-probe-subgroup-${index}`;
  defineTemplate(
    template,
    `{{bindings}}
@compute @workgroup_size(${LANES})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  var acc = x[gid.x];
  // the trip count is hidden from the compiler (arrayLength is known at dispatch): no unrolling
  let steps = ${STEPS}u * min(arrayLength(&x), 1u);
  for (var i = 0u; i < steps; i++) {
    ${op}
  }
  y[gid.x] = acc;
}`,
  );
  const length = 4 * LANES * GROUPS;
  return {
    template,
    label: `probe_${name.replace(/\W+/g, '_')}`,
    params: {},
    bindings: [{ name: 'x', access: 'read', type: 'f32', length, vec4: true }, { name: 'y', access: 'write', type: 'f32', length, vec4: true }],
    workgroupSize: [LANES, 1, 1],
    dispatch: [GROUPS, 1, 1],
    features: ['subgroups'],
  };
}

async function run(opts: BenchOptions): Promise<BenchReport> {
  const ctx = await acquireDevice();
  if (!ctx.caps.subgroups || ctx.caps.subgroupMinSize > LANES) throw new Error(`probes: needs subgroups of at most ${LANES} lanes`);
  const exec = KernelExecutor.shared(ctx);
  const rounds = opts.quick ? 8 : 20;
  const load = loadAverage();

  const names = Object.keys(SUBGROUP_OPS);
  const probes = names.map((n, i) => subgroupProbe(n, SUBGROUP_OPS[n], i));
  const sg = await timeKernelsInterleaved(ctx, exec, probes, { reps: 5, rounds, fill: (b) => Float32Array.from({ length: b.length }, (_, i) => Math.sin(i)) });
  // the machine runs the workgroups on its lavapipe threads; per call and subgroup = extra time × threads ÷ calls
  const threads = Number(process.env.LP_NUM_THREADS) || 2;
  const plain = stats(sg.ms[0]).median;
  const subgroupRows = names.map((n, i) => {
    const s = stats(sg.ms[i].map((x) => x * 1000));
    const ns = ((stats(sg.ms[i]).median - plain) * 1e6 * threads) / (GROUPS * STEPS);
    return { op: n, us: s, nsPerCall: Math.abs(ns) < 0.5 ? 0 : ns };
  });
  for (const r of subgroupRows) process.stdout.write(`probes: ${r.op}: ${r.us.best.toFixed(0)} / ${r.us.median.toFixed(0)} µs, ${r.nsPerCall.toFixed(0)} ns per call and subgroup\n`);

  const gemm = { M: 128, N: 128, K: 1024, transA: true };
  const base = matmulProgram(gemm, ctx.caps);
  const fills: [string, (b: KernelBinding, i: number) => number][] = [
    ['ordinary operands (x in [-1, 1])', (_b, i) => Math.sin(i * 0.37)],
    ['b denormal (1e-39 · x)', (b, i) => (b.name === 'b' ? 1e-39 : 1) * Math.sin(i * 0.37)],
    ['products underflow (1e-20 · x each)', (_b, i) => 1e-20 * Math.sin(i * 0.37)],
  ];
  // the same kernel once per operand case (its own buffers and label), interleaved
  const programs = fills.map(([name]) => ({ ...base, label: `${base.label} (${name})` }));
  const d = await timeKernelsInterleaved(ctx, exec, programs, {
    reps: 5,
    rounds,
    fill: (b, program) => {
      const f = fills[programs.indexOf(program as (typeof programs)[number])][1];
      return Float32Array.from({ length: b.length }, (_, i) => f(b, i));
    },
  });
  const denormalRows = fills.map(([name], i) => ({ operands: name, us: stats(d.ms[i].map((x) => x * 1000)), ratio: medianRatio(d.ms[0], d.ms[i]) }));
  for (const r of denormalRows) process.stdout.write(`probes: ${base.label}, ${r.operands}: ${r.us.best.toFixed(0)} / ${r.us.median.toFixed(0)} µs, ÷ ordinary ${r.ratio.toFixed(2)}\n`);

  const after = loadAverage();
  const json = { meta: { revision: sourceRevision(), date: new Date().toISOString(), adapter: ctx.adapterName, rounds, threads, load: { before: load, after } }, subgroup: subgroupRows, denormals: { kernel: base.label, rows: denormalRows } };
  const markdown = [
    '# lavapipe probes: subgroup operations and denormals',
    '',
    `Revision ${json.meta.revision}; ${ctx.adapterName}; ${rounds} interleaved rounds; load ${load.one.toFixed(2)} → ${after.one.toFixed(2)}.`,
    '',
    `## Subgroup operations: ${GROUPS} workgroups of one ${LANES}-lane subgroup, ${STEPS} steps of one vec4 operation`,
    '',
    `ns per call = (median − plain median) × ${threads} lavapipe threads ÷ calls; a few ns either way is noise.`,
    '',
    markdownTable(
      ['operation', 'µs best / median (5 dispatches ÷ 5)', 'ns per call and subgroup over plain arithmetic'],
      subgroupRows.map((r) => [r.op, `${r.us.best.toFixed(0)} / ${r.us.median.toFixed(0)}`, r.nsPerCall.toFixed(0)]),
    ),
    '',
    `## Denormals: \`${base.label}\``,
    '',
    markdownTable(['operands', 'µs best / median', '÷ ordinary (median of rounds)'], denormalRows.map((r) => [r.operands, `${r.us.best.toFixed(0)} / ${r.us.median.toFixed(0)}`, `**${r.ratio.toFixed(2)}**`])),
  ].join('\n');
  return { json, markdown };
}

export const probesBench: BenchModule = { name: 'probes', run };
