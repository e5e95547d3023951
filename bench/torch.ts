// Torch-target benchmark (`npm run bench -- torch`): training tokens/s of the PyTorch package
// `sdmoec compile --target torch` emits for models/qwen_tiny.moe (the baseline `qwen_tiny` unless
// --set train.model=… says otherwise), on 1 local rank and on 2 local gloo ranks (expert parallel
// 2, and data parallel 2), next to the WebGPU runtime's compiled step of the same model and batch.
// What they are: CPU PyTorch (Debian's python3-torch 1.13, OpenBLAS, fp32) on this machine's CPU
// cores, against the WebGPU engine on lavapipe, Mesa's software Vulkan, on the same cores; neither
// is a GPU. The WebGPU steps are timed before and after the torch runs (bracketing them, so a
// change in machine load shows as a gap between its two medians); torch steps are train.py's own
// per-step times (issue to parameters updated, rank 0's clock), warm-up steps dropped.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../compiler/config/index.ts';
import { BatchSampler } from '../runtime/data/index.ts';
import { decodeMetricsLine, type TrainMetrics } from '../runtime/metrics/jsonl.ts';
import { writeTorchTarget } from '../runtime/targets/torch.ts';
import { openSessionFromFile, type TrainingSession } from '../runtime/train/trainer.ts';
import { learningRate } from '../runtime/train/schedule.ts';
import { loadAverage, markdownTable, nowMs, sourceRevision, stats, type BenchModule, type BenchOptions, type BenchReport, type RunStats } from './common.ts';

const MODEL_FILE = 'models/qwen_tiny.moe';
const DEFAULT_OVERRIDES = ['train.model=qwen_tiny'];
export const PYTHON = '/usr/bin/python3';
const fmt = (x: number, digits = 0): string => x.toFixed(digits);

async function webgpuSteps(session: TrainingSession, count: number, warmup: number): Promise<number[]> {
  const { train, step } = session;
  const sampler = new BatchSampler(session.data.train, { seqLen: train.seqLen, batch: train.batch, seed: train.seed });
  const ms: number[] = [];
  for (let s = 1; s <= warmup + count; s++) {
    const batch = sampler.next();
    const t0 = nowMs();
    step.writeInput('tokens', batch.inputs);
    step.writeInput('targets', batch.targets);
    step.writeInput('optimizer.lr', Float32Array.of(learningRate(s, train.steps, train.optimizer.lr, train.schedule)));
    step.writeInput('optimizer.step', Int32Array.of(s));
    step.run();
    const out = await step.readOutputs(['loss', 'grad_norm']);
    if (!Number.isFinite(out.loss[0])) throw new Error(`torch bench: WebGPU loss ${out.loss[0]} at step ${s}`);
    if (s > warmup) ms.push(nowMs() - t0);
  }
  return ms;
}

interface TorchRun {
  readonly label: string;
  readonly ranks: number;
  readonly threadsPerRank: number;
  readonly stepMs: RunStats;
  readonly tokensPerSecond: { best: number; median: number };
  readonly finalLoss: number;
}

function torchRun(pkg: string, runDir: string, label: string, flags: string[], ranks: number, threads: number, steps: number, warmup: number, tokensPerStep: number): TorchRun {
  execFileSync(PYTHON, [join(pkg, 'train.py'), '--out', runDir, '--steps', String(steps), '--log-every', '1', '--eval-every', '0', '--checkpoint-every', '0', '--init', 'torch', '--threads', String(threads), ...flags], {
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'inherit'],
    // Passive OpenMP waiting unless the environment says otherwise: spinning threads wait for
    // descheduled ones on a shared machine (bench/torch-step.ts has the measurement).
    env: { ...process.env, OMP_NUM_THREADS: String(threads), OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' },
  });
  const lines = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map(decodeMetricsLine).filter((e): e is TrainMetrics => e.type === 'train');
  const ms = lines.filter((e) => e.step > warmup).map((e) => (1000 * tokensPerStep) / (e.tokens_per_s as number));
  const stepMs = stats(ms);
  return { label, ranks, threadsPerRank: threads, stepMs, tokensPerSecond: { best: tokensPerStep / (stepMs.best / 1000), median: tokensPerStep / (stepMs.median / 1000) }, finalLoss: lines[lines.length - 1].loss };
}

interface TorchBenchResult {
  meta: { model: string; revision: string; adapter: string; torch: string; ompWaitPolicy: string; cores: number; batch: number; seqLen: number; warmupSteps: number; timedSteps: number; quick: boolean; date: string; loadAverage: { before: { one: number }; after: { one: number } } };
  tokensPerStep: number;
  webgpu: { stepMs: RunStats; before: RunStats; after: RunStats; tokensPerSecond: { best: number; median: number } };
  torch: TorchRun[];
}

async function run(opts: BenchOptions): Promise<BenchReport> {
  const overrides = [...DEFAULT_OVERRIDES, ...(opts.overrides ?? [])];
  const loadBefore = loadAverage();
  const warmup = 2;
  const timed = opts.quick ? 5 : 12;
  const work = mkdtempSync(join(tmpdir(), 'sdmoec-bench-torch-'));
  try {
    const config = loadConfig(MODEL_FILE, { overrides }).config;
    const pkg = join(work, 'pkg');
    writeTorchTarget(config, MODEL_FILE, pkg, { overrides });
    const session = await openSessionFromFile(MODEL_FILE, overrides);
    const { train, model } = session;
    const tokensPerStep = train.batch * train.seqLen;
    process.stdout.write(`torch: ${MODEL_FILE} (model ${model.name}), ${tokensPerStep} tokens/step, load ${loadBefore.one.toFixed(2)}\n`);
    const before = await webgpuSteps(session, timed, warmup);
    process.stdout.write(`  WebGPU (before): ${fmt(stats(before).median, 1)} ms/step median\n`);
    const runs: TorchRun[] = [];
    // 1 rank with 1 thread and with a thread per core: intra-op threads spin at their barriers,
    // which a machine shared with other work punishes far more than separate processes.
    for (const [label, flags, ranks, threads] of [
      ['1 rank', [], 1, 1],
      ['1 rank', [], 1, cpus().length],
      ['2 ranks, expert parallel 2', ['--nproc', '2', '--expert-parallel', '2'], 2, 1],
      ['2 ranks, data parallel 2', ['--nproc', '2', '--data-parallel', '2'], 2, 1],
    ] as const) {
      const r = torchRun(pkg, join(work, `${label}-${threads}`.replace(/\W+/g, '-')), label, [...flags], ranks, threads, warmup + timed, warmup, tokensPerStep);
      runs.push(r);
      process.stdout.write(`  torch ${label} × ${threads} thread(s): ${fmt(r.stepMs.median, 1)} ms/step median, ${fmt(r.tokensPerSecond.median)} tokens/s\n`);
    }
    const after = await webgpuSteps(session, timed, 0);
    process.stdout.write(`  WebGPU (after): ${fmt(stats(after).median, 1)} ms/step median\n`);
    const webgpu = stats([...before, ...after]);
    const result: TorchBenchResult = {
      meta: {
        model: [MODEL_FILE, ...overrides.map((o) => `--set ${o}`)].join(' '),
        revision: sourceRevision(),
        adapter: session.step.exec.ctx.adapterName,
        torch: execFileSync(PYTHON, ['-c', 'import re, torch; print(torch.__version__, "BLAS", (re.findall(r"BLAS_INFO=(\\w+)", torch.__config__.show()) or ["?"])[0])'], { encoding: 'utf8' }).trim(),
        ompWaitPolicy: process.env.OMP_WAIT_POLICY ?? 'PASSIVE',
        cores: cpus().length,
        batch: train.batch,
        seqLen: train.seqLen,
        warmupSteps: warmup,
        timedSteps: timed,
        quick: opts.quick,
        date: new Date().toISOString(),
        loadAverage: { before: loadBefore, after: loadAverage() },
      },
      tokensPerStep,
      webgpu: {
        stepMs: webgpu,
        before: stats(before),
        after: stats(after),
        tokensPerSecond: { best: tokensPerStep / (webgpu.best / 1000), median: tokensPerStep / (webgpu.median / 1000) },
      },
      torch: runs,
    };
    return { json: result, markdown: markdown(result) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function markdown(r: TorchBenchResult): string {
  const m = r.meta;
  const rows: string[][] = [
    [`WebGPU runtime on ${m.adapter} (lavapipe: software Vulkan on the CPU)`, '1 process', fmt(r.webgpu.stepMs.best, 1), fmt(r.webgpu.stepMs.median, 1), `**${fmt(r.webgpu.tokensPerSecond.best)}**`, `**${fmt(r.webgpu.tokensPerSecond.median)}**`],
    ...r.torch.map((t) => [`torch target, CPU PyTorch, ${t.label}`, `${t.ranks} × ${t.threadsPerRank} thread${t.threadsPerRank === 1 ? '' : 's'}`, fmt(t.stepMs.best, 1), fmt(t.stepMs.median, 1), `**${fmt(t.tokensPerSecond.best)}**`, `**${fmt(t.tokensPerSecond.median)}**`]),
  ];
  return [
    `# Torch target benchmark: ${m.model}`,
    '',
    `Training steps (forward, backward, clipping, AdamW) of batch ${m.batch} × seq ${m.seqLen} = ${r.tokensPerStep} tokens, ${m.warmupSteps} warm-up steps dropped, ${m.timedSteps} timed.`,
    `CPU PyTorch (${m.torch}, OMP_WAIT_POLICY=${m.ompWaitPolicy ?? 'default'}) on ${m.cores} cores against the WebGPU engine on lavapipe (Mesa's software Vulkan) on the same cores: neither is a GPU.`,
    `The WebGPU steps were timed before and after the torch runs: medians ${fmt(r.webgpu.before.median, 1)} / ${fmt(r.webgpu.after.median, 1)} ms.`,
    `Revision ${m.revision}; ${m.date}${m.quick ? ' (--quick)' : ''}; load average ${m.loadAverage.before.one.toFixed(2)} before / ${m.loadAverage.after.one.toFixed(2)} after (1 min).`,
    '',
    markdownTable(['engine', 'ranks × threads', 'best ms/step', 'median ms/step', 'best tokens/s', 'median tokens/s'], rows),
  ].join('\n');
}

export const torchBench: BenchModule = { name: 'torch', run };
