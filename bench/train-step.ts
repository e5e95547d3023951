// Whole-model training-step benchmark (issue 8): the compiled step of models/demo.moe (forward,
// backward, clipping and AdamW in one submit), opened exactly as `sdmoec run` opens it, against
// the same model in CPU PyTorch in the same run: the torch target's package (`sdmoec compile
// --target torch`, runtime/targets/torch.ts) driven by bench/torch_step.py, 1 rank, from the WebGPU
// session's initial parameters and the same batches (train.py's port of the sampler), so step s
// is the same computation in both (their losses at equal steps are compared and reported).
// `--set train.model=qwen_tiny` (any model another models/*.moe file defines) runs that file's
// train block instead (modelFileFor). Timing alternates blocks on a loaded machine: WebGPU, torch
// at a thread per core, torch at 1 thread, WebGPU, …, ending with WebGPU, so every torch block is
// bracketed by WebGPU blocks and load drifts hit both; the load average is recorded per block.
// A WebGPU step is timed as the trainer waits for it (issuing it to loss and grad norm on the
// CPU); a torch step from zeroing the gradients to AdamW done (parameters updated); both draw
// their batch before the clock starts. Reported: sdmoec ÷ PyTorch step time, best and median, per
// torch thread count (lavapipe's threads: LP_NUM_THREADS, else one per core).
// Also: dispatches per step and the fixed-dispatch-cost share (issue 4: ≤ 10 %), GFLOP/s against
// the dense matmul kernel's own peak in this process, and per IR op and per largest dispatch the
// GPU µs (profileStep) against the memory-bound time of the bytes its program binds at the copy
// bandwidth measured here (bench/bandwidth.ts, bench/roofline.ts), and the per-row ops' share.
// FLOPs are counted from the step's IR: every GEMM-like op (dense, grouped over the routed rows,
// their gradients) at 2·M·N·K, and attention as its causal half of the QKᵀ and PV products
// (forward) and twice that for its backward; elementwise, norm, router and optimizer work is not
// counted, so the GFLOP/s is a lower bound on the work done.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../compiler/config/index.ts';
import type { Graph, Node, TensorType } from '../compiler/ir/types.ts';
import { topoOrder } from '../compiler/ir/graph.ts';
import { BatchSampler } from '../runtime/data/index.ts';
import { openSessionFromFile, type TrainingSession } from '../runtime/train/trainer.ts';
import { learningRate } from '../runtime/train/schedule.ts';
import { initializeSpectral, spectralMatrices } from '../runtime/train/spectral.ts';
import { measureCopyBandwidth, type CopyBandwidth } from './bandwidth.ts';
import {
  dispatchCostUs,
  loadAverage,
  markdownTable,
  matmulPeakSampler,
  medianInterval,
  nowMs,
  cpuMsSince,
  profileByOp,
  sourceRevision,
  stats,
  type BenchModule,
  type BenchOptions,
  type BenchReport,
  type MatmulPeak,
  type RunStats,
} from './common.ts';
import { classifyOp, classShares, dispatchBytes, dispatchRooflines, issueListBudget, issueListPerRow, issueListShare, opRooflines, type Roofline } from './roofline.ts';
import { TorchStepDriver, type TorchBlock } from './torch-step.ts';

const DEFAULT_FILE = 'models/demo.moe';
/** Issue 8's per-row target: the per-row ops under this share of the step. */
const PER_ROW_TARGET = 0.15;
const MODELS_DIR = 'models';

/**
 * The .moe file whose train block the bench runs: demo.moe, unless a `train.model=NAME`
 * override names a model that demo.moe does not define; then the first of `candidates` (sorted)
 * that defines it. `defines(file, name)` says whether a file declares a model of that name.
 */
export function pickModelFile(overrides: readonly string[], candidates: readonly string[], defines: (file: string, name: string) => boolean, fallback = DEFAULT_FILE): string {
  const set = [...overrides].reverse().find((o) => o.startsWith('train.model='));
  if (!set) return fallback;
  const name = set.slice('train.model='.length).trim();
  if (defines(fallback, name)) return fallback;
  const file = [...candidates].sort().find((f) => f !== fallback && defines(f, name));
  if (!file) throw new Error(`train-step: no file in ${MODELS_DIR}/ defines model '${name}' (--set train.model=${name})`);
  return file;
}

function modelFileFor(overrides: readonly string[]): string {
  const candidates = readdirSync(MODELS_DIR).filter((f) => f.endsWith('.moe')).map((f) => join(MODELS_DIR, f));
  return pickModelFile(overrides, candidates, (file, name) => {
    try {
      return loadConfig(file).config.models.some((m) => m.name === name);
    } catch {
      return false;
    }
  });
}

const typeOfInput = (n: Node, i: number): TensorType => n.inputs[i].node.types[n.inputs[i].index];
const numel = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

/** FLOPs of one node under the counting rule in the header; 0 for ops that are not counted. */
export function nodeFlops(n: Node): number {
  switch (n.op) {
    case 'matmul':
    case 'matmul_add': {
      const a = typeOfInput(n, 0).shape;
      const k = n.attrs.transA ? a[a.length - 2] : a[a.length - 1];
      return 2 * numel(n.types[0].shape) * k;
    }
    case 'grouped_matmul':
    case 'grouped_matmul_swiglu': {
      // xs [R, K] times one [K, N] per expert: each routed row meets one expert.
      const [rows, k] = typeOfInput(n, 0).shape;
      return 2 * rows * k * n.types[0].shape[1];
    }
    case 'grouped_matmul_grad_x':
    case 'grouped_matmul_grad_x_swiglu': {
      const [rows, nOut] = typeOfInput(n, 0).shape;
      return 2 * rows * nOut * n.types[0].shape[1];
    }
    case 'grouped_matmul_grad_w': {
      const [rows, k] = typeOfInput(n, 0).shape;
      return 2 * rows * k * typeOfInput(n, 1).shape[1];
    }
    case 'attention': {
      const tokens = typeOfInput(n, 0).shape[0];
      // QKᵀ and PV, 2·S·headDim each per query and head, over the causal half of the keys.
      return (2 * 2 * tokens * n.attrs.seqLen * n.attrs.headDim * n.attrs.heads) / 2;
    }
    case 'attention_grad': {
      const tokens = typeOfInput(n, 1).shape[0];
      return 2 * ((2 * 2 * tokens * n.attrs.seqLen * n.attrs.headDim * n.attrs.heads) / 2);
    }
    default:
      return 0;
  }
}

export function stepFlops(g: Graph): { total: number; byOp: Record<string, number> } {
  const byOp: Record<string, number> = {};
  let total = 0;
  for (const n of topoOrder(g)) {
    const f = nodeFlops(n);
    if (f === 0) continue;
    byOp[n.op] = (byOp[n.op] ?? 0) + f;
    total += f;
  }
  return { total, byOp };
}

const fmt = (x: number, digits = 1): string => x.toFixed(digits);

interface BlockRecord {
  readonly engine: 'webgpu' | 'torch';
  /** torch.get_num_threads() for torch blocks; lavapipe's threads for WebGPU ones. */
  readonly threads: number;
  readonly ms: number[];
  readonly load: { before: number; after: number };
}

/** WebGPU steps `from`…`from + count − 1` (fewer, at least one, once `seconds` have passed). */
async function webgpuBlock(
  session: TrainingSession,
  sampler: BatchSampler,
  from: number,
  count: number,
  seconds: number,
  onStep: (s: { step: number; wallMs: number; cpuMs: number; loss: number }) => void,
  omit?: ReadonlySet<number>,
): Promise<number> {
  const { train, step } = session;
  const deadline = nowMs() + 1000 * seconds;
  let s = from;
  for (; s < from + count; s++) {
    if (s > from && nowMs() > deadline) break;
    const batch = sampler.next();
    const lr = Float32Array.of(learningRate(s, train.steps, train.optimizer.lr, train.schedule));
    const c0 = process.cpuUsage();
    const start = nowMs();
    step.writeInput('tokens', batch.inputs);
    step.writeInput('targets', batch.targets);
    step.writeInput('optimizer.lr', lr);
    step.writeInput('optimizer.step', Int32Array.of(s));
    step.run('step', omit ? { omit } : {});
    const out = await step.readOutputs(['loss', 'ce_loss', 'grad_norm']);
    // `loss` is the total (cross-entropy plus aux losses); torch_step.py reports cross-entropy.
    const sample = { step: s, wallMs: nowMs() - start, cpuMs: cpuMsSince(c0), loss: out.ce_loss[0] };
    if (!Number.isFinite(out.loss[0])) throw new Error(`train-step: loss is ${out.loss[0]} at step ${s}`);
    onStep(sample);
  }
  return s;
}

/**
 * The per-row ops' share of the step where they run (issue 8): rounds of the whole step and of the
 * step with every per-row dispatch left out (StepExecutor#run's `omit`: a wrong step, paced under a
 * key of its own), order alternating, each timed as the headline steps are; share = 1 − the median
 * of the per-round ratios (without ÷ whole). profileStep's sums time each dispatch in a pass of its
 * own, so a small dispatch's fixed cost counts whole and in 65.536 µs ticks; this is what the step
 * itself loses to them. The omitted steps skip AdamW too, so the parameters move on whole steps only
 * (at the schedule's rate), and the buffers the omitted dispatches would write keep finite values
 * from the whole steps. Untimed warm-up rounds first: a new pacer key learns its sleep.
 */
async function perRowInPlace(session: TrainingSession, sampler: BatchSampler, from: number, rounds: number, isPerRow: (op: string) => boolean = (op) => classifyOp(op) === 'per-row'): Promise<{ next: number; omitted: number; wholeMs: RunStats; withoutMs: RunStats; share: number; interval: [number, number] }> {
  const plan = session.compiled.stepPlan;
  const omit = new Set(plan.dispatches.flatMap((d, i) => (isPerRow(d.op) ? [i] : [])));
  const whole: number[] = [];
  const without: number[] = [];
  const ratios: number[] = [];
  let next = from;
  const once = async (left: boolean, record: number[] | null) => {
    next = await webgpuBlock(session, sampler, next, 1, 60, (x) => record?.push(x.wallMs), left ? omit : undefined);
  };
  for (let r = 0; r < 4; r++) {
    await once(false, null);
    await once(true, null);
  }
  for (let r = 0; r < rounds; r++) {
    for (const left of r % 2 === 0 ? [false, true] : [true, false]) await once(left, left ? without : whole);
    ratios.push(without[without.length - 1] / whole[whole.length - 1]);
  }
  const [lo, hi] = medianInterval(ratios);
  return { next, omitted: omit.size, wholeMs: stats(whole), withoutMs: stats(without), share: 1 - stats(ratios).median, interval: [1 - hi, 1 - lo] };
}

/** Largest |a − b| / |b| over the steps both engines ran. */
export function lossAgreement(
  webgpu: ReadonlyMap<number, number>,
  torch: ReadonlyMap<number, number>,
): { steps: number; firstStep: number; lastStep: number; firstRelDiff: number; maxRelDiff: number; atStep: number; byStep: [number, number, number][] } {
  let maxRelDiff = 0;
  let atStep = 0;
  const common = [...webgpu.keys()].filter((s) => torch.has(s)).sort((a, b) => a - b);
  for (const s of common) {
    const a = webgpu.get(s)!;
    const b = torch.get(s)!;
    const d = Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
    if (d > maxRelDiff) {
      maxRelDiff = d;
      atStep = s;
    }
  }
  const rel = (s: number) => Math.abs(webgpu.get(s)! - torch.get(s)!) / Math.max(Math.abs(torch.get(s)!), 1e-30);
  return {
    steps: common.length,
    firstStep: common[0] ?? 0,
    lastStep: common[common.length - 1] ?? 0,
    firstRelDiff: common.length > 0 ? rel(common[0]) : NaN,
    maxRelDiff,
    atStep,
    /** [step, WebGPU loss, torch loss] */
    byStep: common.map((s) => [s, webgpu.get(s)!, torch.get(s)!]),
  };
}

async function run(opts: BenchOptions): Promise<BenchReport> {
  const overrides = [...(opts.overrides ?? [])];
  const file = modelFileFor(overrides);
  const loadBefore = loadAverage();
  const t0 = nowMs();
  const session = await openSessionFromFile(file, overrides, (line) => process.stdout.write(`  ${line}\n`));
  if (session.model.spectral) initializeSpectral(session.step, spectralMatrices(session.compiled.stepPlan), session.model.spectral, session.train.seed);
  const openMs = nowMs() - t0;
  const { train, step, compiled } = session;
  const exec = step.exec;
  const ctx = exec.ctx;
  const tokensPerStep = train.batch * train.seqLen;
  const cores = cpus().length;
  const lavapipeThreads = Number(process.env.LP_NUM_THREADS) || cores;
  const warmup = opts.quick ? 2 : 3;
  // Many short blocks rather than a few long ones: lavapipe's device time has slow stretches of tens
  // of seconds on this VM (stop 24's timestamp probe: 23-25 ms steps with stretches of 35-48 ms); with
  // 3 rounds of 12 steps one such stretch over one block decided the median. Short alternating blocks
  // spread a stretch over both engines alike. Steps are cheap (~25 ms); the blocks stay ≥ 6 steps so
  // each engine's first step after a switch (threads waking, caches) is a small part of a block.
  const rounds = opts.quick ? 2 : 12;
  const perBlock = opts.quick ? 4 : 8;
  const blockSeconds = opts.quick ? 30 : 20;
  const torchThreads = [...new Set([cores, 1])];
  process.stdout.write(`train-step: ${file} (model ${session.model.name}), ${tokensPerStep} tokens/step, ${step.dispatchCount} dispatches, load ${fmt(loadBefore.one, 2)}\n`);

  const work = mkdtempSync(join(tmpdir(), 'sdmoec-bench-train-step-'));
  const config = loadConfig(file, { overrides }).config;
  const torch = await TorchStepDriver.start(config, file, overrides, session, work);
  try {
    process.stdout.write(`  PyTorch ${torch.info.torch} (${torch.info.blas}, OMP_WAIT_POLICY=${torch.info.ompWaitPolicy}), ${cores} cores; lavapipe threads ${lavapipeThreads}${process.env.LP_NUM_THREADS ? ' (LP_NUM_THREADS)' : ' (one per core, its default)'}\n`);
    const sampler = new BatchSampler(session.data.train, { seqLen: train.seqLen, batch: train.batch, seed: train.seed });
    const webgpuLoss = new Map<number, number>();
    const torchLoss = new Map<number, number>();
    const samples: { wallMs: number; cpuMs: number; loss: number }[] = [];
    const blocks: BlockRecord[] = [];
    const peakSampler = await matmulPeakSampler(ctx, exec, 1024);

    // Warm-up: the first WebGPU steps compile shaders on lavapipe; torch's first steps allocate.
    let next = await webgpuBlock(session, sampler, 1, warmup, 600, (s) => webgpuLoss.set(s.step, s.loss));
    const torchRecorded = (b: TorchBlock) => b.steps.forEach((s, i) => torchLoss.set(s, b.loss[i]));
    for (const [i, threads] of torchThreads.entries()) torchRecorded(await torch.run(threads, i === 0 ? warmup : 1, 600));

    const timedWebgpu = async () => {
      const before = loadAverage().one;
      const ms: number[] = [];
      next = await webgpuBlock(session, sampler, next, perBlock, blockSeconds, (s) => {
        webgpuLoss.set(s.step, s.loss);
        samples.push(s);
        ms.push(s.wallMs);
      });
      blocks.push({ engine: 'webgpu', threads: lavapipeThreads, ms, load: { before, after: loadAverage().one } });
      await peakSampler.sample();
      process.stdout.write(`  WebGPU block: ${fmt(stats(ms).median)} ms median over ${ms.length} steps (load ${fmt(before, 1)})\n`);
    };
    for (let r = 0; r < rounds; r++) {
      await timedWebgpu();
      for (const threads of torchThreads) {
        const before = loadAverage().one;
        const b = await torch.run(threads, perBlock, blockSeconds);
        torchRecorded(b);
        blocks.push({ engine: 'torch', threads: b.threads, ms: b.ms, load: { before, after: loadAverage().one } });
        process.stdout.write(`  torch block, ${b.threads} thread(s): ${fmt(stats(b.ms).median)} ms median over ${b.ms.length} steps (load ${fmt(before, 1)})\n`);
      }
    }
    await timedWebgpu();
    const inPlace = await perRowInPlace(session, sampler, next, opts.quick ? 8 : 120);
    next = inPlace.next;
    process.stdout.write(`  per-row ops in place: the step without its ${inPlace.omitted} per-row dispatches ${fmt(inPlace.withoutMs.median)} ms against ${fmt(inPlace.wholeMs.median)} ms whole (medians): ${fmt(100 * inPlace.share)} % of the step\n`);
    const inPlaceIssueList = await perRowInPlace(session, sampler, next, opts.quick ? 8 : 120, issueListPerRow);
    next = inPlaceIssueList.next;
    process.stdout.write(`  per-row ops by the issue's list (attention in, optimizer out) in place: ${fmt(100 * inPlaceIssueList.share)} % of the step (${inPlaceIssueList.omitted} dispatches)\n`);

    const profile = await profileByOp(step, opts.quick ? 3 : 8);
    const dispatch = await dispatchCostUs(ctx, exec, opts.quick ? 500 : 2000);
    const bandwidth = await measureCopyBandwidth(ctx, opts.quick ? [16, 64] : [4, 16, 64], opts.quick ? 3 : 5);
    const peak = peakSampler.result();
    peakSampler.dispose();
    const costs = compiled.stepPlan.dispatches.map((d, i) => ({ op: d.op, label: d.program.label, microseconds: profile.dispatches[i].microseconds, bytes: dispatchBytes(d.program.bindings) }));
    const costsMinimum = costs.map((c, i) => ({ ...c, microseconds: profile.minima[i] }));
    const result = summarise({
      meta: {
        adapter: ctx.adapterName,
        revision: sourceRevision(),
        file,
        model: [file, ...overrides.map((o) => `--set ${o}`)].join(' '),
        modelName: session.model.name,
        batch: train.batch,
        seqLen: train.seqLen,
        cores,
        lpNumThreads: process.env.LP_NUM_THREADS ?? 'default',
        lavapipeThreads,
        torch: `${torch.info.torch} ${torch.info.blas}`,
        ompWaitPolicy: torch.info.ompWaitPolicy,
        quick: opts.quick,
        date: new Date().toISOString(),
        node: process.version,
        loadAverage: { before: loadBefore, after: loadAverage() },
        warmupSteps: warmup,
        rounds,
        stepsPerBlock: perBlock,
        secondsPerBlock: blockSeconds,
        openSessionMs: openMs,
      },
      tokensPerStep,
      samples,
      blocks,
      losses: lossAgreement(webgpuLoss, torchLoss),
      dispatches: step.dispatchCount,
      flops: stepFlops(compiled.step),
      profile,
      costs,
      costsMinimum,
      bandwidth,
      dispatch,
      peak,
      bufferMiB: compiled.stepPlan.totalBytes / 2 ** 20,
      perRowInPlace: inPlace,
      perRowInPlaceIssueList: inPlaceIssueList,
    });
    for (const t of result.torch) {
      process.stdout.write(`  sdmoec ÷ PyTorch (${t.threads} thread${t.threads === 1 ? '' : 's'}): best ${fmt(t.ratio.best, 2)}, median ${fmt(t.ratio.median, 2)} (${fmt(result.stepMs.median)} / ${fmt(t.stepMs.median)} ms)\n`);
    }
    process.stdout.write(
      `  per-row ops ${fmt(100 * result.classes['per-row'].share)} % of the step's GPU time (target < 15 %); copy bandwidth ${fmt(bandwidth.gbPerSecond, 2)} GB/s; losses agree to ${result.losses.maxRelDiff.toExponential(1)} over ${result.losses.steps} common steps\n`,
    );
    const b = result.perRowIssueList.budget;
    process.stdout.write(`  the issue's list under 15 % in place: at most ${fmt(b.budgetMs, 2)} ms, ${fmtRatio(b.budgetOverFloor)}× the memory-bound time of their bytes (${fmt(b.memoryBoundMs, 2)} ms); today ${fmtRatio(b.nowOverFloor)}×\n`);
    return { json: result, markdown: markdown(result) };
  } finally {
    await torch.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

export interface TorchSummary {
  readonly threads: number;
  readonly stepMs: RunStats;
  /** sdmoec ÷ PyTorch: best over best, median over median, and the median of the per-round ratios
   *  (each torch block against the medians of the WebGPU blocks either side of it). */
  readonly ratio: { best: number; median: number; medianOfRounds: number };
}

/** Per torch thread count: its step stats and the ratios against the WebGPU blocks. */
export function torchSummaries(blocks: readonly BlockRecord[]): TorchSummary[] {
  const webgpu = stats(blocks.filter((b) => b.engine === 'webgpu').flatMap((b) => b.ms));
  const threads = [...new Set(blocks.filter((b) => b.engine === 'torch').map((b) => b.threads))];
  return threads.map((t) => {
    const mine = blocks.map((b, i) => ({ b, i })).filter(({ b }) => b.engine === 'torch' && b.threads === t);
    const stepMs = stats(mine.flatMap(({ b }) => b.ms));
    const rounds = mine.map(({ b, i }) => {
      const before = blocks.slice(0, i).reverse().find((x) => x.engine === 'webgpu');
      const after = blocks.slice(i + 1).find((x) => x.engine === 'webgpu');
      const around = [...(before?.ms ?? []), ...(after?.ms ?? [])];
      return stats(around).median / stats(b.ms).median;
    });
    return { threads: t, stepMs, ratio: { best: webgpu.best / stepMs.best, median: webgpu.median / stepMs.median, medianOfRounds: stats(rounds).median } };
  });
}

/** The PyTorch configuration the headline ratio uses: lavapipe's thread count when it was
 *  measured, else the faster by median. */
export function headlineTorch(torch: readonly TorchSummary[], lavapipeThreads: number): TorchSummary {
  return torch.find((t) => t.threads === lavapipeThreads) ?? torch.reduce((a, b) => (b.stepMs.median < a.stepMs.median ? b : a));
}

function summarise(m: {
  meta: {
    adapter: string;
    revision: string;
    file: string;
    model: string;
    modelName: string;
    batch: number;
    seqLen: number;
    cores: number;
    lpNumThreads: string;
    lavapipeThreads: number;
    torch: string;
    ompWaitPolicy: string;
    quick: boolean;
    date: string;
    node: string;
    loadAverage: { before: ReturnType<typeof loadAverage>; after: ReturnType<typeof loadAverage> };
    warmupSteps: number;
    rounds: number;
    stepsPerBlock: number;
    secondsPerBlock: number;
    openSessionMs: number;
  };
  tokensPerStep: number;
  samples: { wallMs: number; cpuMs: number }[];
  blocks: BlockRecord[];
  losses: ReturnType<typeof lossAgreement>;
  dispatches: number;
  flops: ReturnType<typeof stepFlops>;
  profile: Awaited<ReturnType<typeof profileByOp>>;
  costs: Parameters<typeof opRooflines>[0];
  costsMinimum: Parameters<typeof opRooflines>[0];
  bandwidth: CopyBandwidth;
  dispatch: Awaited<ReturnType<typeof dispatchCostUs>>;
  peak: MatmulPeak;
  bufferMiB: number;
  perRowInPlace: Omit<Awaited<ReturnType<typeof perRowInPlace>>, 'next'>;
  perRowInPlaceIssueList: Omit<Awaited<ReturnType<typeof perRowInPlace>>, 'next'>;
}) {
  const stepMs = stats(m.samples.map((x) => x.wallMs));
  const cpuMs = stats(m.samples.map((x) => x.cpuMs));
  const gflops = (ms: number) => m.flops.total / (ms * 1e6);
  const overheadMs = (m.dispatches * m.dispatch.wallUs.median) / 1000;
  const overheadCpuMs = (m.dispatches * m.dispatch.cpuUs.median) / 1000;
  const torch = torchSummaries(m.blocks);
  // The headline compares with PyTorch at lavapipe's thread count: on a loaded machine the
  // scheduler shares the CPU per thread, so equal thread counts get equal shares (PyTorch with 1
  // thread against lavapipe's 2 moved 4× between runs at load 11 and 25; 2 against 2 by 15 %).
  const headline = headlineTorch(torch, m.meta.lavapipeThreads);
  const bytesPerSecond = m.bandwidth.gbPerSecond * 1e9;
  const ops = opRooflines(m.costs, bytesPerSecond);
  const opsMinimum = opRooflines(m.costsMinimum, bytesPerSecond);
  return {
    meta: m.meta,
    tokensPerStep: m.tokensPerStep,
    stepMs,
    cpuMs,
    torch,
    ratio: { againstThreads: headline.threads, ...headline.ratio },
    blocks: m.blocks,
    losses: m.losses,
    tokensPerSecond: { best: m.tokensPerStep / (stepMs.best / 1000), median: m.tokensPerStep / (stepMs.median / 1000) },
    dispatchesPerStep: m.dispatches,
    dispatchCost: m.dispatch,
    /** dispatches × µs per dispatch ÷ step time: wall medians, and CPU-time medians (load-insensitive). */
    dispatchOverhead: { ms: overheadMs, wallShare: overheadMs / stepMs.median, cpuMs: overheadCpuMs, cpuShare: overheadCpuMs / cpuMs.median, target: 0.1 },
    flops: { perStep: m.flops.total, byOp: m.flops.byOp },
    gflops: { best: gflops(stepMs.best), median: gflops(stepMs.median), gpuSummed: gflops(m.profile.total / 1000), perCpuSecond: gflops(cpuMs.best) },
    matmulPeak: m.peak,
    shareOfPeak: { wall: gflops(stepMs.best) / m.peak.gflops, cpu: gflops(cpuMs.best) / m.peak.gflopPerCpuSecond },
    bandwidth: m.bandwidth,
    classes: classShares(ops),
    /** The same from each dispatch's minimum over the profiles. */
    classesMinimum: classShares(opsMinimum),
    profile: { runs: m.profile.runs, totalGpuUs: m.profile.total, byOp: m.profile.ops, perDispatch: m.profile.dispatches, minimumTotalGpuUs: m.profile.minima.reduce((t, x) => t + x, 0), perDispatchMinimum: m.profile.minima },
    roofline: { gbPerSecond: m.bandwidth.gbPerSecond, byOp: ops, byOpMinimum: opsMinimum, largestDispatches: dispatchRooflines(m.costs, bytesPerSecond).slice(0, 20) },
    bufferMiB: m.bufferMiB,
    perRowInPlace: { omitted: m.perRowInPlace.omitted, wholeMs: m.perRowInPlace.wholeMs, withoutMs: m.perRowInPlace.withoutMs, share: m.perRowInPlace.share, interval: m.perRowInPlace.interval },
    /** The issue's list of per-row kernels (issueListPerRow: attention in, the optimizer out): GPU-time sums, minima, in place. */
    perRowIssueList: {
      sums: issueListShare(ops),
      minima: issueListShare(opsMinimum),
      inPlace: { omitted: m.perRowInPlaceIssueList.omitted, wholeMs: m.perRowInPlaceIssueList.wholeMs, withoutMs: m.perRowInPlaceIssueList.withoutMs, share: m.perRowInPlaceIssueList.share, interval: m.perRowInPlaceIssueList.interval },
      /** What < 15 % in place asks of them: their budget against the memory-bound time of their bytes (issueListBudget). */
      budget: issueListBudget(
        ops,
        // from the share (the median of paired ratios) and the whole step's median, so budget and cost agree with it
        { withoutMs: (1 - m.perRowInPlaceIssueList.share) * m.perRowInPlaceIssueList.wholeMs.median, costMs: m.perRowInPlaceIssueList.share * m.perRowInPlaceIssueList.wholeMs.median },
        PER_ROW_TARGET,
        { flopsByOp: m.flops.byOp, gflops: m.peak.gflops },
      ),
    },
  };
}

export type TrainStepResult = ReturnType<typeof summarise>;

const kb = (bytes: number): string => (bytes / 1024).toFixed(0);

/** What the per-row target asks of the issue's list, in words (issueListBudget). */
function budgetSentence(b: ReturnType<typeof issueListBudget>): string {
  return (
    `**What < ${fmt(100 * PER_ROW_TARGET, 0)} % in place asks of the listed kernels:** at most ${fmt(b.budgetMs, 2)} ms in place (${fmt(PER_ROW_TARGET / (1 - PER_ROW_TARGET), 3)} × the step without them); ` +
    `a copy of their bytes at the copy bandwidth above takes ${fmt(b.memoryBoundMs, 2)} ms, so they would have to run at ${fmtRatio(b.budgetOverFloor)}× their memory-bound time in aggregate (today ${fmtRatio(b.nowOverFloor)}× in place); ` +
    `their counted FLOPs (attention's) at the dense GEMM's peak above take another ${fmt(b.mathMs, 2)} ms.`
  );
}

/** Rows of a roofline table: op (or kernel), class, dispatches, GPU µs, share, KiB, memory-bound µs, ratio. */
export function rooflineRows(rows: readonly (Roofline & { label?: string })[]): string[][] {
  return rows.map((r) => [...(r.label !== undefined ? [`\`${r.label}\``] : []), r.op, r.opClass, String(r.dispatches), fmt(r.microseconds, 0), `${fmt(100 * r.share)} %`, kb(r.bytes), fmt(r.memoryBoundUs, 1), fmtRatio(r.ratio)]);
}

/** A GPU ÷ memory-bound ratio: one decimal up to 100, whole numbers up to 10⁴, then powers of ten. */
export function fmtRatio(x: number): string {
  if (!Number.isFinite(x)) return '∞';
  if (x < 100) return x.toFixed(1);
  if (x < 1e4) return x.toFixed(0);
  return x.toExponential(1);
}

function markdown(r: TrainStepResult): string {
  const m = r.meta;
  const o = r.dispatchOverhead;
  const perRow = r.classes['per-row'];
  const blockLoads = r.blocks.map((b) => fmt(b.load.before, 1)).join(', ');
  return [
    `# Training step benchmark: ${m.model}`,
    '',
    `The whole compiled training step (forward, backward, global-norm clipping, AdamW) of \`${m.model}\` (model ${m.modelName}), batch ${m.batch} × seq ${m.seqLen}`,
    `= ${r.tokensPerStep} tokens, against the same model in CPU PyTorch (${m.torch}; the torch target's package, 1 rank) from the same initial values on the same batches.`,
    `Blocks alternate: WebGPU, torch × ${r.torch.map((t) => t.threads).join(', torch × ')} thread(s), … WebGPU (${m.rounds} rounds, ≤ ${m.stepsPerBlock} steps or ${m.secondsPerBlock} s per block, after ${m.warmupSteps} warm-up steps each).`,
    `A WebGPU step is timed from issuing it to loss and grad norm on the CPU; a torch step from zeroing the gradients to AdamW done. PyTorch ran with OMP_WAIT_POLICY=${m.ompWaitPolicy} (OpenMP threads that spin at barriers wait for descheduled ones on a shared machine).`,
    '',
    `Adapter: ${m.adapter} with ${m.lavapipeThreads} lavapipe threads (LP_NUM_THREADS=${m.lpNumThreads}); ${m.cores} cores; revision ${m.revision}; Node ${m.node}; ${m.date}${m.quick ? ' (--quick)' : ''};`,
    `load average ${fmt(m.loadAverage.before.one, 2)} before / ${fmt(m.loadAverage.after.one, 2)} after (1 min); at the start of each block: ${blockLoads}.`,
    '',
    `**sdmoec ÷ PyTorch (against ${r.ratio.againstThreads} torch thread${r.ratio.againstThreads === 1 ? '' : 's'}${r.ratio.againstThreads === m.lavapipeThreads ? ", lavapipe's thread count" : ''}): best ${fmt(r.ratio.best, 2)}, median ${fmt(r.ratio.median, 2)}** (median of per-round ratios ${fmt(r.ratio.medianOfRounds, 2)}; issue 8's target ≤ 1.0 on the demo).`,
    '',
    markdownTable(
      ['engine', 'threads', 'steps', 'best ms', 'median ms', 'sdmoec ÷ it, best', 'median', 'median of rounds'],
      [
        [`sdmoec, WebGPU on ${m.adapter}`, String(m.lavapipeThreads), String(r.stepMs.runs), fmt(r.stepMs.best), fmt(r.stepMs.median), '', '', ''],
        ...r.torch.map((t) => ['PyTorch CPU', String(t.threads), String(t.stepMs.runs), fmt(t.stepMs.best), fmt(t.stepMs.median), fmt(t.ratio.best, 2), fmt(t.ratio.median, 2), fmt(t.ratio.medianOfRounds, 2)]),
      ],
    ),
    '',
    `Same computation: the cross-entropy of both engines agrees to ${r.losses.firstRelDiff.toExponential(2)} relative at step ${r.losses.firstStep} (same initial values, same batch) and to ${r.losses.maxRelDiff.toExponential(2)} over the ${r.losses.steps} steps both ran (${r.losses.firstStep}…${r.losses.lastStep}, largest at step ${r.losses.atStep}: float32 differences grow as the two runs train).`,
    '',
    markdownTable(
      ['measure', 'best', 'median'],
      [
        ['sdmoec step, ms', fmt(r.stepMs.best), fmt(r.stepMs.median)],
        ['CPU ms of this process per step', fmt(r.cpuMs.best), fmt(r.cpuMs.median)],
        ['**tokens/s**', `**${fmt(r.tokensPerSecond.best, 0)}**`, `**${fmt(r.tokensPerSecond.median, 0)}**`],
        [`GFLOP/s (${fmt(r.flops.perStep / 1e9, 3)} GFLOP counted per step)`, fmt(r.gflops.best, 2), fmt(r.gflops.median, 2)],
      ],
    ),
    '',
    `**Dispatches per step: ${r.dispatchesPerStep}.** One dispatch costs ${fmt(r.dispatchCost.wallUs.median)} µs wall and ${fmt(r.dispatchCost.cpuUs.median)} CPU-µs (medians;`,
    `${r.dispatchCost.dispatches} tiny dispatches in one submit, this process), so fixed dispatch cost is ${fmt(o.ms)} ms = **${fmt(100 * o.wallShare)} % of the median step**,`,
    `${fmt(100 * o.cpuShare)} % of its CPU time (issue 4's target: ≤ 10 %).`,
    '',
    `Achieved ${fmt(r.gflops.best, 2)} GFLOP/s (best step) is ${fmt(100 * r.shareOfPeak.wall)} % of the dense matmul kernel's own peak in this process,`,
    `${fmt(r.matmulPeak.gflops)} GFLOP/s at ${r.matmulPeak.size}³ (\`${r.matmulPeak.label}\`). Counted FLOPs by op: ${Object.entries(r.flops.byOp).map(([op, f]) => `${op} ${fmt(f / 1e6)} M`).join(', ')}.`,
    `Step buffers: ${fmt(r.bufferMiB)} MiB.`,
    '',
    `## GPU time per op against the memory-bound time`,
    '',
    `profileStep (each dispatch in its own timestamped pass; lavapipe's timestamps tick in 65.536 µs): the fastest of ${r.profile.runs} whole profiles, ${fmt(r.profile.totalGpuUs / 1000, 2)} ms summed (median step ${fmt(r.stepMs.median)} ms);`,
    `"min µs" is each dispatch's minimum over the ${r.profile.runs} profiles, summed per op (${fmt(r.profile.minimumTotalGpuUs / 1000, 2)} ms in all; per-row share by minima ${fmt(100 * r.classesMinimum['per-row'].share)} %): steadier op by op under load.`,
    `Copy bandwidth ${fmt(r.bandwidth.gbPerSecond, 2)} GB/s (read + written bytes; the best copy kernel: ${r.bandwidth.best}; copyBufferToBuffer, a memcpy on lavapipe, reached ${fmt(r.bandwidth.copyBufferToBufferGbPerSecond, 2)} and is not used);`,
    `a dispatch's bytes are what its program's bindings read and write;`,
    `memory-bound µs = bytes ÷ bandwidth; ratio = GPU µs ÷ memory-bound µs (1 = as fast as a copy of its bytes).`,
    `**Per-row/elementwise ops: ${fmt(100 * perRow.share)} % of the step's GPU time** (${fmt(perRow.microseconds / 1000, 2)} ms in ${perRow.dispatches} dispatches; issue 8's target < 15 %); matmul-like ${fmt(100 * r.classes['matmul-like'].share)} %.`,
    `**In place** (the whole step against the step without its ${r.perRowInPlace.omitted} per-row dispatches, ${r.perRowInPlace.wholeMs.runs} alternating rounds after the timed blocks): ${fmt(r.perRowInPlace.withoutMs.median)} ms against ${fmt(r.perRowInPlace.wholeMs.median)} ms (medians), so the per-row ops cost **${fmt(100 * r.perRowInPlace.share)} % of the step** [95 % interval of the median ${fmt(100 * r.perRowInPlace.interval[0])}–${fmt(100 * r.perRowInPlace.interval[1])} %]: what the step loses to them where they run, where the sums above count each dispatch alone.`,
    `**By the issue's own list of per-row kernels** (attention forward and backward in, AdamW and the gradient norm out; \`issueListPerRow\` in bench/roofline.ts): ${fmt(100 * r.perRowIssueList.sums.share)} % of the GPU time (${fmt(r.perRowIssueList.sums.microseconds / 1000, 2)} ms in ${r.perRowIssueList.sums.dispatches} dispatches; by minima ${fmt(100 * r.perRowIssueList.minima.share)} %), **${fmt(100 * r.perRowIssueList.inPlace.share)} % in place** [${fmt(100 * r.perRowIssueList.inPlace.interval[0])}–${fmt(100 * r.perRowIssueList.inPlace.interval[1])} %] (${r.perRowIssueList.inPlace.wholeMs.runs} more alternating rounds, ${r.perRowIssueList.inPlace.omitted} dispatches left out).`,
    ...(r.perRowIssueList.budget ? [budgetSentence(r.perRowIssueList.budget)] : []),
    '',
    markdownTable(
      ['IR op', 'class', 'dispatches', 'GPU µs', 'share', 'KiB', 'memory-bound µs', 'ratio', 'min µs', 'min ratio'],
      rooflineRows(r.roofline.byOp).map((row, i) => {
        const min = r.roofline.byOpMinimum.find((o) => o.op === r.roofline.byOp[i].op);
        return [...row, min ? fmt(min.microseconds, 0) : '—', min ? fmtRatio(min.ratio) : '—'];
      }),
    ),
    '',
    'Largest dispatches:',
    '',
    markdownTable(['kernel', 'IR op', 'class', 'dispatches', 'GPU µs', 'share', 'KiB', 'memory-bound µs', 'ratio'], rooflineRows(r.roofline.largestDispatches.slice(0, 15))),
    '',
    'Copy bandwidth samples:',
    '',
    markdownTable(['method', 'MiB', 'best ms', 'median ms', 'GB/s'], r.bandwidth.samples.map((s) => [s.method, String(s.bytes / 2 ** 20), fmt(s.ms.best, 3), fmt(s.ms.median, 3), fmt(s.gbPerSecond, 2)])),
  ].join('\n');
}

export const trainStepBench: BenchModule = { name: 'train-step', run };
