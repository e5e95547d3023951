// Matmul benchmark: GFLOP/s of our matmul (the variant the adapter selects) against TensorFlow.js's
// WebGPU backend, in the same process and on the same Dawn adapter, at square sizes; plus the
// fixed costs every kernel pays: µs per dispatch (many tiny dispatches in one submit) and µs per
// submit round trip (submit + onSubmittedWorkDone of an empty command buffer).
// Both sides are timed the same way for the ratio: wall clock from recording the op to the queue
// reporting it done (no readback). Ours is also timed with GPU timestamp queries around its pass.
// TF.js's own tf.time() kernelMs is not used: on lavapipe it reported twice the wall clock.
// Runs alternate (ours, TF.js, ours, …) so load from other processes on a shared machine hits
// both alike; the median ratio is taken over those pairs. GFLOP per CPU-second of this process
// is reported too: on a software adapter it is the measure least sensitive to other load.
// "Step shapes": the dense products of one training step of models/demo.moe (512 tokens, dim 64,
// vocab 1024, router of 4 experts) in the variant the adapter selects for each, GPU µs per
// dispatch (STEP_DISPATCHES dispatches per timed pass: lavapipe's timestamps tick every 65.5 µs)
// and GFLOP/s as a share of the 1024³ rate, which is sampled between them under the same load.
import { matmulProgram, matmulVariant, type MatmulParams } from '../compiler/kernels/matmul.ts';
import { acquireDevice, type GpuContext } from '../runtime/device.ts';
import { KernelExecutor } from '../runtime/executor.ts';
import { cpuMsSince, dispatchCostUs, loadAverage, loadTfWebGpu, matmulPeakSampler, markdownTable, nowMs, randomFloats, stats, tfDrain, timePasses, type BenchModule, type BenchOptions, type BenchReport, type MatmulPeak, type RunStats, type Tf } from './common.ts';


interface Rate {
  best: number;
  median: number;
}

/** One benchmarked product: C = op(A)·op(B), all three size×size. */
interface Shape {
  size: number;
  transA: boolean;
  transB: boolean;
}

const shapeName = (c: Shape): string => `${c.size}² ${c.transA ? 'Aᵀ' : 'A'}·${c.transB ? 'Bᵀ' : 'B'}`;

interface SizeResult extends Shape {
  flops: number;
  runs: number;
  ours: { label: string; gpuMs: RunStats | null; wallMs: RunStats; cpuMs: RunStats };
  tfjs: { wallMs: RunStats; cpuMs: RunStats; withReadbackMs: number };
  gflops: { oursGpu: Rate | null; oursWall: Rate; tfjsWall: Rate };
  /** Ours ÷ TF.js in GFLOP/s, both timed the same way (record → queue reports done): best ÷ best,
   *  and the median of the per-pair ratios (runs alternate ours, TF.js). */
  ratio: Rate;
  /** GFLOP per CPU-second of this process (best run): insensitive to other processes' load. */
  gflopPerCpuSecond: { ours: number; tfjs: number };
}

const gflops = (flops: number, ms: number): number => flops / (ms * 1e6);
const rate = (flops: number, ms: RunStats): Rate => ({ best: gflops(flops, ms.best), median: gflops(flops, ms.median) });

function runsFor(size: number, quick: boolean): number {
  if (quick) return size >= 1024 ? 2 : 3;
  return size <= 512 ? 10 : size === 1024 ? 5 : 3;
}

interface Sample {
  wallMs: number;
  cpuMs: number;
  gpuMs?: number;
}

interface Contender {
  /** One timed run. */
  once(): Promise<Sample>;
  dispose(): void;
}

async function prepareOurs(ctx: GpuContext, exec: KernelExecutor, shape: Shape): Promise<Contender & { label: string }> {
  const { size, transA, transB } = shape;
  const program = matmulProgram({ M: size, N: size, K: size, transA, transB }, ctx.caps);
  const pipeline = await exec.pipeline(program);
  const buffers = program.bindings.map((b, i) => {
    const buf = exec.createBuffer(b.length * 4, `${program.label}.${b.name}`);
    if (b.access === 'read') ctx.device.queue.writeBuffer(buf, 0, randomFloats(b.length, i + 1));
    return buf;
  });
  const bindGroup = exec.bindGroup(program, pipeline, buffers);
  const record = (pass: GPUComputePassEncoder) => exec.encode(pass, pipeline, bindGroup, program);
  const once = async (): Promise<Sample> => {
    const t = await timePasses(ctx, 1, record);
    return { wallMs: t.wallMs[0], cpuMs: t.cpuMs[0], gpuMs: t.gpuMs?.[0] };
  };
  await once(); // warm-up: lavapipe compiles the shader on first use
  return { label: program.label, once, dispose: () => buffers.forEach((b) => b.destroy()) };
}

async function prepareTf(tf: Tf, shape: Shape): Promise<Contender & { withReadbackMs(): Promise<number> }> {
  const { size, transA, transB } = shape;
  const a = tf.randomUniform([size, size], -1, 1);
  const b = tf.randomUniform([size, size], -1, 1);
  await Promise.all([a.data(), b.data()]);
  // Same definition as ours: from recording the op to the queue reporting the work done.
  const once = async (): Promise<Sample> => {
    const c0 = process.cpuUsage();
    const t0 = nowMs();
    const c = tf.matMul(a, b, transA, transB);
    await tfDrain(tf);
    const wallMs = nowMs() - t0;
    const cpuMs = cpuMsSince(c0);
    c.dispose();
    return { wallMs, cpuMs };
  };
  // With a readback, as a TF.js user would typically see it.
  const withReadbackMs = async (): Promise<number> => {
    const t0 = nowMs();
    const c = tf.matMul(a, b, transA, transB);
    const data = await c.data();
    const ms = nowMs() - t0;
    c.dispose();
    if (!Number.isFinite(data[0])) throw new Error('TF.js matMul returned a non-finite value');
    return ms;
  };
  await withReadbackMs(); // warm-up (shader compilation), and a check that TF.js computed something
  return { once, withReadbackMs, dispose: () => tf.dispose([a, b]) };
}

/** µs per submit round trip: an empty command buffer, submitted and waited for. */
async function submitCost(ctx: GpuContext, count: number): Promise<RunStats> {
  const { device } = ctx;
  const samples: number[] = [];
  for (let i = 0; i < count + 5; i++) {
    const t0 = nowMs();
    device.queue.submit([device.createCommandEncoder().finish()]);
    await device.queue.onSubmittedWorkDone();
    if (i >= 5) samples.push((nowMs() - t0) * 1000);
  }
  return stats(samples);
}

const fmt = (x: number, digits = 1): string => x.toFixed(digits);

/** The dense products of a demo training step (models/demo.moe), labelled like its profile. */
const STEP_SHAPES: readonly MatmulParams[] = [
  { M: 512, N: 64, K: 64 },
  { M: 512, N: 64, K: 64, transB: true },
  { M: 512, N: 64, K: 64, accumulate: true },
  { M: 512, N: 64, K: 64, transB: true, accumulate: true },
  { M: 64, N: 64, K: 512, transA: true },
  { M: 512, N: 1024, K: 64 },
  { M: 512, N: 64, K: 1024, transB: true },
  { M: 64, N: 1024, K: 512, transA: true },
  { M: 512, N: 4, K: 64 },
  { M: 512, N: 64, K: 4, transB: true, accumulate: true },
  { M: 64, N: 4, K: 512, transA: true },
];
const STEP_DISPATCHES = 8;

interface StepShapeResult {
  label: string;
  flops: number;
  /** GPU µs per dispatch (wall clock when the adapter has no timestamps). */
  us: RunStats;
  gflops: Rate;
}

/** Times every step shape and the 1024³ product in turn, `rounds` times, so all see the same load. */
async function stepShapes(ctx: GpuContext, exec: KernelExecutor, rounds: number): Promise<{ shapes: StepShapeResult[]; peak: MatmulPeak }> {
  const peak = await matmulPeakSampler(ctx, exec, 1024);
  const prepared = [];
  for (const p of STEP_SHAPES) {
    const program = matmulProgram(p, ctx.caps);
    const pipeline = await exec.pipeline(program);
    const buffers = program.bindings.map((b, i) => {
      const buf = exec.createBuffer(b.length * 4, `${program.label}.${b.name}`);
      ctx.device.queue.writeBuffer(buf, 0, randomFloats(b.length, i + 1));
      return buf;
    });
    const bindGroup = exec.bindGroup(program, pipeline, buffers);
    const record = (pass: GPUComputePassEncoder) => {
      for (let d = 0; d < STEP_DISPATCHES; d++) exec.encode(pass, pipeline, bindGroup, program);
    };
    await timePasses(ctx, 1, record); // warm-up: first use compiles the shader
    prepared.push({ p, program, buffers, record, us: [] as number[] });
  }
  for (let i = 0; i < rounds; i++) {
    await peak.sample();
    for (const s of prepared) {
      const t = await timePasses(ctx, 1, s.record);
      s.us.push(((t.gpuMs ?? t.wallMs)[0] * 1000) / STEP_DISPATCHES);
    }
  }
  const shapes = prepared.map((s) => {
    const flops = 2 * s.p.M * s.p.N * s.p.K;
    const us = stats(s.us);
    for (const b of s.buffers) b.destroy();
    return { label: s.program.label, flops, us, gflops: { best: flops / (us.best * 1e3), median: flops / (us.median * 1e3) } };
  });
  const result = peak.result();
  peak.dispose();
  return { shapes, peak: result };
}

function markdown(
  meta: Record<string, unknown>,
  results: SizeResult[],
  dispatch: Awaited<ReturnType<typeof dispatchCostUs>>,
  submitUs: RunStats,
  step: Awaited<ReturnType<typeof stepShapes>>,
): string {
  const rows = results.map((r) => [
    shapeName(r),
    r.gflops.oursGpu ? `${fmt(r.gflops.oursGpu.best)} / ${fmt(r.gflops.oursGpu.median)}` : 'n/a',
    `${fmt(r.gflops.oursWall.best)} / ${fmt(r.gflops.oursWall.median)}`,
    `${fmt(r.gflops.tfjsWall.best)} / ${fmt(r.gflops.tfjsWall.median)}`,
    `**${fmt(r.ratio.best, 2)}×** / ${fmt(r.ratio.median, 2)}×`,
    `${fmt(r.gflopPerCpuSecond.ours)} / ${fmt(r.gflopPerCpuSecond.tfjs)}`,
    String(r.runs),
  ]);
  return [
    `# Matmul benchmark`,
    '',
    `Adapter: ${meta.adapter}; our variant: \`${meta.variant}\`; LP_NUM_THREADS=${meta.lpNumThreads}; Node ${meta.node}; ${meta.date}${meta.quick ? ' (--quick)' : ''}.`,
    '',
    markdownTable(
      ['C = op(A)·op(B), square', 'ours GFLOP/s, timestamps (best / median)', 'ours GFLOP/s, wall', 'TF.js GFLOP/s, wall', 'ours ÷ TF.js (best / median)', 'GFLOP per CPU-s, ours / TF.js', 'runs'],
      rows,
    ),
    '',
    'Wall = from recording the op to the queue reporting it done (no readback), the same for both. Runs alternate ours /',
    'TF.js; the ratio is best ÷ best and the median of the per-pair ratios.',
    'Timestamps = GPU timestamp queries around our compute pass. GFLOP per CPU-second counts every thread of this',
    'process (lavapipe runs on the CPU), so it is the least sensitive to other load on a shared machine.',
    '',
    markdownTable(
      ['fixed cost', 'best µs', 'median µs'],
      [
        [`per dispatch, wall (${dispatch.dispatches} tiny dispatches in one submit)`, fmt(dispatch.wallUs.best, 2), fmt(dispatch.wallUs.median, 2)],
        ...(dispatch.gpuUs ? [[`per dispatch, device time`, fmt(dispatch.gpuUs.best, 2), fmt(dispatch.gpuUs.median, 2)]] : []),
        ['per submit round trip (empty command buffer)', fmt(submitUs.best), fmt(submitUs.median)],
      ],
    ),
    '',
    `## Step shapes (models/demo.moe), against the 1024³ rate of ${fmt(step.peak.gflops)} GFLOP/s (best; ${step.peak.label})`,
    '',
    markdownTable(
      ['kernel', 'µs per dispatch (best / median)', 'GFLOP/s (best / median)', '% of 1024³ (best)'],
      step.shapes.map((s) => [s.label, `${fmt(s.us.best, 0)} / ${fmt(s.us.median, 0)}`, `${fmt(s.gflops.best)} / ${fmt(s.gflops.median)}`, fmt((100 * s.gflops.best) / step.peak.gflops, 0)]),
    ),
    '',
    `${STEP_DISPATCHES} dispatches per timed pass; load average ${meta.loadAfter} after.`,
  ].join('\n');
}

async function run(opts: BenchOptions): Promise<BenchReport> {
  const ctx = await acquireDevice();
  const exec = new KernelExecutor(ctx);
  const variant = matmulVariant(ctx.caps);
  const sizes = opts.quick ? [256, 512, 1024] : [256, 512, 1024, 2048];
  // The transposed products a training step also runs (activation and weight gradients).
  const gradSize = opts.quick ? 512 : 1024;
  const shapes: Shape[] = [
    ...sizes.map((size) => ({ size, transA: false, transB: false })),
    { size: gradSize, transA: false, transB: true },
    { size: gradSize, transA: true, transB: false },
  ];
  process.stdout.write(`matmul: adapter ${ctx.adapterName}, variant ${variant}, LP_NUM_THREADS=${process.env.LP_NUM_THREADS ?? 'default'}\n`);
  const tf = await loadTfWebGpu();
  const results: SizeResult[] = [];
  for (const shape of shapes) {
    const { size } = shape;
    const runs = runsFor(size, opts.quick);
    const flops = 2 * size ** 3;
    const oursBench = await prepareOurs(ctx, exec, shape);
    const tfBench = await prepareTf(tf, shape);
    // Alternate the two run by run, so both see the same load from other processes.
    const ourSamples: Sample[] = [];
    const tfSamples: Sample[] = [];
    const pairRatios: number[] = [];
    for (let i = 0; i < runs; i++) {
      ourSamples.push(await oursBench.once());
      tfSamples.push(await tfBench.once());
      pairRatios.push(tfSamples[i].wallMs / ourSamples[i].wallMs);
    }
    const withReadbackMs = await tfBench.withReadbackMs();
    oursBench.dispose();
    tfBench.dispose();
    const gpuSamples = ourSamples.map((x) => x.gpuMs).filter((ms): ms is number => ms !== undefined && ms > 0);
    const ours = {
      label: oursBench.label,
      gpuMs: gpuSamples.length === runs ? stats(gpuSamples) : null,
      wallMs: stats(ourSamples.map((x) => x.wallMs)),
      cpuMs: stats(ourSamples.map((x) => x.cpuMs)),
    };
    const tfjs = { wallMs: stats(tfSamples.map((x) => x.wallMs)), cpuMs: stats(tfSamples.map((x) => x.cpuMs)), withReadbackMs };
    const r: SizeResult = {
      ...shape,
      flops,
      runs,
      ours,
      tfjs,
      gflops: { oursGpu: ours.gpuMs ? rate(flops, ours.gpuMs) : null, oursWall: rate(flops, ours.wallMs), tfjsWall: rate(flops, tfjs.wallMs) },
      ratio: { best: tfjs.wallMs.best / ours.wallMs.best, median: stats(pairRatios).median },
      gflopPerCpuSecond: { ours: gflops(flops, ours.cpuMs.best), tfjs: gflops(flops, tfjs.cpuMs.best) },
    };
    results.push(r);
    const shown = r.gflops.oursGpu ?? r.gflops.oursWall;
    process.stdout.write(
      `  ${shapeName(shape).padEnd(13)}  ours ${fmt(shown.best).padStart(6)} GFLOP/s (median ${fmt(shown.median)})` +
        `   TF.js ${fmt(r.gflops.tfjsWall.best).padStart(6)} (median ${fmt(r.gflops.tfjsWall.median)})` +
        `   ratio ${fmt(r.ratio.best, 2)}× (median ${fmt(r.ratio.median, 2)}×)` +
        `   per CPU-s ${fmt(r.gflopPerCpuSecond.ours)} vs ${fmt(r.gflopPerCpuSecond.tfjs)}   [${runs} runs]\n`,
    );
  }
  const step = await stepShapes(ctx, exec, opts.quick ? 4 : 10);
  for (const s of step.shapes) {
    process.stdout.write(`  step ${s.label.padEnd(36)} ${fmt(s.us.best, 0).padStart(6)} µs (median ${fmt(s.us.median, 0)})  ${fmt(s.gflops.best).padStart(5)} GFLOP/s  ${fmt((100 * s.gflops.best) / step.peak.gflops, 0)} % of 1024³\n`);
  }
  process.stdout.write(`  1024³: ${fmt(step.peak.gflops)} GFLOP/s (best)\n`);
  const dispatch = await dispatchCostUs(ctx, exec, opts.quick ? 500 : 2000, 3);
  const submitUs = await submitCost(ctx, opts.quick ? 50 : 200);
  process.stdout.write(
    `  dispatch: ${fmt(dispatch.wallUs.median, 2)} µs each (wall, ${dispatch.dispatches} in one submit)${dispatch.gpuUs ? `, ${fmt(dispatch.gpuUs.median, 2)} µs device time` : ''}\n` +
      `  submit round trip: ${fmt(submitUs.median)} µs median (best ${fmt(submitUs.best)})\n`,
  );
  const meta = {
    adapter: ctx.adapterName,
    variant,
    timing: ctx.caps.timestampQuery ? 'GPU timestamp queries' : 'wall clock (no timestamp-query)',
    lpNumThreads: process.env.LP_NUM_THREADS ?? 'default',
    quick: opts.quick,
    date: new Date().toISOString(),
    node: process.version,
    loadAfter: loadAverage().one.toFixed(1),
  };
  return { json: { meta, sizes: results, dispatch, submitUs, stepShapes: step }, markdown: markdown(meta, results, dispatch, submitUs, step) };
}

export const matmulBench: BenchModule = { name: 'matmul', run };
