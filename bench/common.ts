// Shared benchmark plumbing: run statistics, GPU timestamp timing of a compute pass (wall clock
// around submit + onSubmittedWorkDone when the adapter lacks `timestamp-query`), and writing a
// module's results as JSON plus a markdown table under bench/results/; and what several modules
// measure alike: TF.js on our adapter, µs per dispatch, the matmul kernel's peak, a step's GPU
// time per op (profileStep), the machine's load average. Benchmarks are not tests:
// nothing here asserts; numbers are noisy on shared machines, so compare ratios measured in the
// same process.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Rng } from '../base/rng.ts';
import { matmulProgram } from '../compiler/kernels/matmul.ts';
import { gpu, type GpuContext } from '../runtime/device.ts';
import type { KernelProgram } from '../compiler/codegen/kernel.ts';
import type { KernelBinding } from '../compiler/kernels/types.ts';
import type { KernelExecutor } from '../runtime/executor.ts';
import type { TrainingSession } from '../runtime/train/trainer.ts';
import { profileStep, type DispatchTiming, type StepExecutor } from '../runtime/step-executor.ts';

export interface BenchOptions {
  /** A fast subset (fewer sizes and runs) for a quick look. */
  readonly quick: boolean;
  /** `--set key=value` overrides for benchmarks that open a .moe file (e.g. train.model=demo_sd). */
  readonly overrides?: readonly string[];
}

/** A benchmark module: measures, prints as it goes, and returns what bench/run.ts writes out. */
export interface BenchModule {
  readonly name: string;
  run(opts: BenchOptions): Promise<BenchReport>;
}

export interface BenchReport {
  /** Written verbatim to bench/results/<name>.json. */
  readonly json: unknown;
  /** Written to bench/results/<name>.md. */
  readonly markdown: string;
}

export interface RunStats {
  readonly best: number;
  readonly median: number;
  readonly runs: number;
}

export function stats(samples: readonly number[]): RunStats {
  const sorted = [...samples].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { best: sorted[0], median, runs: sorted.length };
}

/**
 * Percentile bootstrap interval of the median of `samples` (e.g. per-pair ratios): `resamples` draws
 * with replacement from a fixed seed, so one set of samples always gives the same interval. Says how
 * far a bench's median can move with the same machine behaviour; not what another minute gives.
 */
export function medianInterval(samples: readonly number[], level = 0.95, resamples = 2000, seed = 'bench-median-interval'): [number, number] {
  if (samples.length === 0) return [NaN, NaN];
  const rng = new Rng(seed);
  const medians = Array.from({ length: resamples }, () => stats(Array.from({ length: samples.length }, () => samples[rng.nextInt(samples.length)])).median).sort((a, b) => a - b);
  const tail = (1 - level) / 2;
  return [medians[Math.floor(tail * (resamples - 1))], medians[Math.ceil((1 - tail) * (resamples - 1))]];
}

export const nowMs = (): number => performance.now();

/**
 * CPU milliseconds this process used since `start` (all threads, so lavapipe's workers count).
 * On a software adapter this measures the work itself, independent of other processes' load.
 */
export function cpuMsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

/**
 * Times `runs` submissions of one compute pass each (recorded by `record`). Returns per-run GPU
 * milliseconds from timestamp queries when available, and wall milliseconds from submit to
 * onSubmittedWorkDone always.
 */
export async function timePasses(
  ctx: GpuContext,
  runs: number,
  record: (pass: GPUComputePassEncoder) => void,
): Promise<{ gpuMs: number[] | null; wallMs: number[]; cpuMs: number[] }> {
  const { device } = ctx;
  const useTimestamps = ctx.caps.timestampQuery;
  const querySet = useTimestamps ? device.createQuerySet({ type: 'timestamp', count: 2 * runs }) : null;
  const wallMs: number[] = [];
  const cpuMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass(
      querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } } : {},
    );
    record(pass);
    pass.end();
    const c0 = process.cpuUsage();
    const t0 = nowMs();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    wallMs.push(nowMs() - t0);
    cpuMs.push(cpuMsSince(c0));
  }
  if (!querySet) return { gpuMs: null, wallMs, cpuMs };
  const bytes = 16 * runs;
  const resolved = device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.resolveQuerySet(querySet, 0, 2 * runs, resolved, 0);
  enc.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const ticks = new BigUint64Array(staging.getMappedRange().slice(0));
  staging.unmap();
  for (const b of [resolved, staging]) b.destroy();
  querySet.destroy();
  const gpuMs = Array.from({ length: runs }, (_, i) => Number(ticks[2 * i + 1] - ticks[2 * i]) / 1e6);
  // A zero or negative span means the implementation did not really time the pass.
  return { gpuMs: gpuMs.every((ms) => ms > 0) ? gpuMs : null, wallMs, cpuMs };
}

/**
 * Kernel variants on their own buffers, timed in interleaved rounds so drift in the machine's speed
 * hits them alike (gemm-rows, row-variants): each round submits `reps` dispatches of every program in
 * turn and records wall ms per dispatch. `fill` gives a binding's initial data (per program: the same
 * kernel can be timed on different data). The first pass of each
 * program (lavapipe compiles at the first dispatch) is untimed; `firstMs` is pipeline creation plus
 * that pass.
 */
export async function timeKernelsInterleaved(
  ctx: GpuContext,
  exec: KernelExecutor,
  programs: readonly (KernelProgram | readonly KernelProgram[])[],
  opts: { reps: number; rounds: number; fill: (b: KernelBinding, program: KernelProgram) => ArrayBufferView & ArrayLike<number> },
): Promise<{ ms: number[][]; firstMs: number[] }> {
  // A variant is one program or a sequence of them (an unfused pair against its fusion): a sequence's
  // programs share buffers by binding name (one producer's output is the next one's input), and a rep
  // dispatches each of them once, in order.
  const record = [];
  for (const variant of programs) {
    const t0 = nowMs();
    const sequence = Array.isArray(variant) ? (variant as readonly KernelProgram[]) : [variant as KernelProgram];
    const byName = new Map<string, GPUBuffer>();
    const buffers: GPUBuffer[] = [];
    const steps: { program: KernelProgram; pipeline: GPUComputePipeline; bindGroup: GPUBindGroup }[] = [];
    for (const program of sequence) {
      const pipeline = await exec.pipeline(program);
      const bound = program.bindings.map((b) => {
        const known = byName.get(b.name);
        if (known && known.size >= Math.max(16, b.length * 4)) return known;
        const buf = exec.createBuffer(Math.max(16, b.length * 4), `${program.label}.${b.name}`);
        ctx.device.queue.writeBuffer(buf, 0, opts.fill(b, program));
        byName.set(b.name, buf);
        buffers.push(buf);
        return buf;
      });
      steps.push({ program, pipeline, bindGroup: exec.bindGroup(program, pipeline, bound) });
    }
    const pass = (p: GPUComputePassEncoder) => {
      for (let i = 0; i < opts.reps; i++) for (const s of steps) exec.encode(p, s.pipeline, s.bindGroup, s.program);
    };
    await timePasses(ctx, 1, pass);
    record.push({ buffers, pass, firstMs: nowMs() - t0 });
  }
  const ms: number[][] = record.map(() => []);
  for (let i = 0; i < opts.rounds; i++) for (const [k, r] of record.entries()) ms[k].push((await timePasses(ctx, 1, r.pass)).wallMs[0] / opts.reps);
  for (const r of record) for (const b of r.buffers) b.destroy();
  return { ms, firstMs: record.map((r) => r.firstMs) };
}

/** Median of the per-round ratios b ÷ a. */
export const medianRatio = (a: readonly number[], b: readonly number[]): number => stats(b.map((x, i) => x / a[i])).median;

/**
 * One training step timed as the trainer waits for it: from writing its inputs to loss and grad norm
 * on the CPU (with `params` read alongside, as on a re-basing step). Fails on a non-finite loss.
 * `omit`: dispatches left out (StepExecutor#run: a wrong step, timed for what they cost in place).
 */
export async function timedStep(
  session: TrainingSession,
  inputs: Int32Array,
  targets: Int32Array,
  stepNo: number,
  params: readonly string[] = [],
  during?: { readonly at: number; readonly work: () => Promise<unknown> },
  omit?: ReadonlySet<number>,
): Promise<{ wallMs: number; cpuMs: number; loss: number; params: Record<string, Float32Array> }> {
  const { step } = session;
  const c0 = process.cpuUsage();
  const start = nowMs();
  step.writeInput('tokens', inputs);
  step.writeInput('targets', targets);
  step.writeInput('optimizer.step', Int32Array.of(stepNo));
  // `during`: host work while the step's first `at` dispatches run (StepExecutor#runAround).
  // The read-back rides in the step's command buffer, as in the trainer (trainStepReading).
  const read = { outputs: ['loss', 'grad_norm'], params };
  if (during) await step.runAround(during.at, during.work, read);
  else step.run('step', omit ? { omit, read } : { read });
  const { outputs: out, params: values } = await step.readStaged();
  const sample = { wallMs: nowMs() - start, cpuMs: cpuMsSince(c0), loss: out.loss[0], params: values };
  if (!Number.isFinite(sample.loss)) throw new Error(`bench: loss is ${sample.loss} at step ${stepNo}`);
  return sample;
}

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

export function writeReport(name: string, report: BenchReport): string[] {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = `${RESULTS_DIR}${name}.json`;
  const md = `${RESULTS_DIR}${name}.md`;
  writeFileSync(json, `${JSON.stringify(report.json, null, 2)}\n`);
  writeFileSync(md, report.markdown.endsWith('\n') ? report.markdown : `${report.markdown}\n`);
  return [json, md];
}

/** A GitHub-flavoured markdown table. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Deterministic uniform floats in [-1, 1) (an LCG: the same inputs on every run and machine). */
export function randomFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * The source revision measured: SDMOEC_BENCH_REVISION when set (a snapshot outside git), else
 * `git describe` of the checkout, with `-dirty` when files differ from the commit.
 */
export function sourceRevision(): string {
  const fromEnv = process.env.SDMOEC_BENCH_REVISION;
  if (fromEnv) return fromEnv;
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

/** The 1, 5 and 15 minute load averages: how busy the shared machine was while measuring. */
export function loadAverage(): { one: number; five: number; fifteen: number } {
  const [one, five, fifteen] = loadavg();
  return { one, five, fifteen };
}

export type Tf = typeof import('@tensorflow/tfjs');

/**
 * TensorFlow.js with its WebGPU backend on our Dawn adapter, in this process. The backend
 * registers itself at import time only if navigator.gpu exists, so the Dawn object is installed
 * first; both libraries then share the same adapter. Loading twice returns the same module.
 */
export async function loadTfWebGpu(): Promise<Tf> {
  if (!(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: gpu() }, configurable: true, writable: true });
  }
  const tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-webgpu');
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  if (!(await tf.setBackend('webgpu'))) throw new Error('TensorFlow.js could not initialise its WebGPU backend');
  await tf.ready();
  return tf;
}

/** The parts of TF.js's WebGPU backend needed to wait for its queued work without a readback. */
interface TfWebGpuBackend {
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
  queue: GPUQueue;
}

/** Submits TF.js's recorded work and resolves when the device has finished it (no readback). */
export async function tfDrain(tf: Tf): Promise<void> {
  const backend = tf.backend() as unknown as TfWebGpuBackend;
  // What TF.js itself does before a readback: close its open pass, submit its encoder.
  backend.endComputePassEncoder();
  if (backend.commandEncoder) backend.submitQueue();
  await backend.queue.onSubmittedWorkDone();
}

/**
 * µs per dispatch: `count` dispatches of a 4×4×4 matmul in one compute pass and one submit, the
 * way a training step issues them, so the fixed cost of a dispatch dominates.
 */
export async function dispatchCostUs(
  ctx: GpuContext,
  exec: KernelExecutor,
  count: number,
  runs = 5,
): Promise<{ dispatches: number; wallUs: RunStats; gpuUs: RunStats | null; cpuUs: RunStats }> {
  const program = matmulProgram({ M: 4, N: 4, K: 4 }, ctx.caps);
  const pipeline = await exec.pipeline(program);
  const buffers = program.bindings.map((b) => exec.createBuffer(b.length * 4, `${program.label}.${b.name}`));
  const bindGroup = exec.bindGroup(program, pipeline, buffers);
  const record = (pass: GPUComputePassEncoder) => {
    for (let i = 0; i < count; i++) exec.encode(pass, pipeline, bindGroup, program);
  };
  await timePasses(ctx, 1, record);
  const t = await timePasses(ctx, runs, record);
  for (const b of buffers) b.destroy();
  return {
    dispatches: count,
    wallUs: stats(t.wallMs.map((ms) => (ms * 1000) / count)),
    gpuUs: t.gpuMs ? stats(t.gpuMs.map((ms) => (ms * 1000) / count)) : null,
    // CPU time of this process (lavapipe's threads included): what a dispatch costs regardless of
    // how much other processes slow the wall clock down.
    cpuUs: stats(t.cpuMs.map((ms) => (ms * 1000) / count)),
  };
}

export interface MatmulPeak {
  readonly size: number;
  readonly label: string;
  /** Best run's GFLOP/s (GPU timestamps when available, else wall clock from submit to done). */
  readonly gflops: number;
  readonly ms: RunStats;
  /** Best run's GFLOP per CPU-second of this process. */
  readonly gflopPerCpuSecond: number;
}

/**
 * The dense matmul kernel's own rate at size³ (the variant the adapter selects): the peak a
 * whole-layer or whole-step GFLOP/s is compared with. `sample()` runs it once; call it between
 * the measured steps so the peak sees the same load from other processes as the steps do, and
 * take `result()` (best of the samples) at the end. The first sample is a warm-up.
 */
export async function matmulPeakSampler(ctx: GpuContext, exec: KernelExecutor, size: number) {
  const program = matmulProgram({ M: size, N: size, K: size }, ctx.caps);
  const pipeline = await exec.pipeline(program);
  const buffers = program.bindings.map((b, i) => {
    const buf = exec.createBuffer(b.length * 4, `${program.label}.${b.name}`);
    if (b.access === 'read') ctx.device.queue.writeBuffer(buf, 0, randomFloats(b.length, i + 1));
    return buf;
  });
  const bindGroup = exec.bindGroup(program, pipeline, buffers);
  const record = (pass: GPUComputePassEncoder) => exec.encode(pass, pipeline, bindGroup, program);
  await timePasses(ctx, 1, record);
  const ms: number[] = [];
  const cpuMs: number[] = [];
  const flops = 2 * size ** 3;
  return {
    async sample(): Promise<void> {
      const t = await timePasses(ctx, 1, record);
      ms.push((t.gpuMs ?? t.wallMs)[0]);
      cpuMs.push(t.cpuMs[0]);
    },
    result(): MatmulPeak {
      const s = stats(ms);
      return { size, label: program.label, gflops: flops / (s.best * 1e6), ms: s, gflopPerCpuSecond: flops / (stats(cpuMs).best * 1e6) };
    },
    dispose(): void {
      for (const b of buffers) b.destroy();
    },
  };
}

export interface OpTime {
  op: string;
  dispatches: number;
  /** Sum of the op's dispatches' GPU µs in the chosen profile. */
  microseconds: number;
  share: number;
}

/**
 * GPU µs per dispatch, grouped by IR op (sorted, largest first), from the fastest of `runs`
 * profiles: other processes' load only ever adds time, and one whole profile stays coherent
 * (per-dispatch minima across profiles would add up to less than any real step). `minima`: each
 * dispatch's minimum over the same profiles (steadier op by op on a loaded machine, but adding up
 * to less than any real step).
 */
export async function profileByOp(
  step: StepExecutor,
  runs: number,
): Promise<{ total: number; ops: OpTime[]; dispatches: { op: string; label: string; microseconds: number }[]; minima: number[]; runs: number }> {
  let best: DispatchTiming[] | null = null;
  let bestTotal = Infinity;
  const minima = new Array<number>(step.dispatchCount).fill(Infinity);
  for (let i = 0; i < runs; i++) {
    const profile = await profileStep(step);
    profile.forEach((d, j) => (minima[j] = Math.min(minima[j], d.microseconds)));
    const total = profile.reduce((s, d) => s + d.microseconds, 0);
    if (total < bestTotal) {
      best = profile;
      bestTotal = total;
    }
  }
  const dispatches = (best ?? []).map((d) => ({ op: d.op, label: d.label, microseconds: d.microseconds }));
  const byOp = new Map<string, { dispatches: number; microseconds: number }>();
  for (const d of dispatches) {
    const cur = byOp.get(d.op) ?? { dispatches: 0, microseconds: 0 };
    byOp.set(d.op, { dispatches: cur.dispatches + 1, microseconds: cur.microseconds + d.microseconds });
  }
  const ops = [...byOp.entries()]
    .map(([op, v]) => ({ op, ...v, share: v.microseconds / bestTotal }))
    .sort((a, b) => b.microseconds - a.microseconds);
  return { total: bestTotal, ops, dispatches, minima, runs };
}

/**
 * GPU µs per IR op of each of `steps` from the per-dispatch minimum over `runs` profiles, the steps
 * profiled in turn (ops sorted, largest first). Unlike profileByOp's fastest whole profile this
 * adds up to less than any real step, but it is the steadier measure when steps are compared op by
 * op on a loaded machine: load only ever adds time, the minimum of each dispatch strips most of
 * it, and alternating the steps lets the same load hit all of them.
 */
export async function profileByOpMinimum(steps: readonly StepExecutor[], runs: number): Promise<{ total: number; ops: OpTime[] }[]> {
  const minima: number[][] = steps.map((s) => new Array<number>(s.dispatchCount).fill(Infinity));
  for (let i = 0; i < runs; i++) {
    for (const [k, step] of steps.entries()) {
      const profile = await profileStep(step);
      profile.forEach((d, j) => (minima[k][j] = Math.min(minima[k][j], d.microseconds)));
    }
  }
  return steps.map((step, k) => {
    const byOp = new Map<string, { dispatches: number; microseconds: number }>();
    step.plan.dispatches.forEach((d, j) => {
      const e = byOp.get(d.op) ?? { dispatches: 0, microseconds: 0 };
      byOp.set(d.op, { dispatches: e.dispatches + 1, microseconds: e.microseconds + minima[k][j] });
    });
    const total = minima[k].reduce((s, x) => s + x, 0);
    return {
      total,
      ops: [...byOp].map(([op, v]) => ({ op, ...v, share: total > 0 ? v.microseconds / total : 0 })).sort((a, b) => b.microseconds - a.microseconds),
    };
  });
}
