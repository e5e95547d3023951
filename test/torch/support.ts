// Shared pieces of the torch-target tests: the Python check (a missing torch FAILS with the install
// command, never skips), compiling a fixture to a PyTorch package, running its train.py, writing a
// step-0 checkpoint from the WebGPU runtime's own initialisation, and comparing tensors.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../compiler/config/index.ts';
import { saveCheckpoint, type ParamTensor } from '../../runtime/checkpoint/checkpoint.ts';
import { BatchSampler } from '../../runtime/data/index.ts';
import { writeTorchTarget } from '../../runtime/targets/torch.ts';
import { configHash, openSessionFromFile, resolveRunConfig, type TrainingSession } from '../../runtime/train/trainer.ts';
import { initializeSpectral, spectralMatrices } from '../../runtime/train/spectral.ts';

export const PYTHON = '/usr/bin/python3';

/** Throws (so the suite fails) when Python or torch is missing, saying how to install them. */
export function requireTorch(): string {
  const r = spawnSync(PYTHON, ['-c', 'import torch, sys; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(
      `the torch target tests need ${PYTHON} with PyTorch (${r.error?.message ?? r.stderr.trim().split('\n').pop()}).\n` +
        'Install it with: apt-get install -y python3-torch libopenblas0-openmp   (scripts/setup.sh does this when missing)',
    );
  }
  return r.stdout.trim();
}

/** `sdmoec compile FILE --target torch -o dir` as a function call. */
export function compileTorch(file: string, overrides: string[], outDir: string): void {
  const config = loadConfig(file, { overrides }).config;
  writeTorchTarget(config, file, outDir, { overrides });
}

/** Runs the package's train.py; returns stdout. One torch thread per rank keeps the 2 cores fair. */
export function runTrainPy(pkg: string, args: string[]): string {
  try {
    return execFileSync(PYTHON, [join(pkg, 'train.py'), '--threads', '1', ...args], {
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: '1' },
      maxBuffer: 64 << 20,
    });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`train.py ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}

async function readAll(session: TrainingSession): Promise<{ params: Map<string, ParamTensor>; optimizer: Map<string, ParamTensor> }> {
  const params = new Map<string, ParamTensor>();
  const optimizer = new Map<string, ParamTensor>();
  for (const [name, spec] of Object.entries(session.compiled.stepPlan.params)) {
    const tensor = { shape: [...spec.type.shape], data: await session.step.readParam(name) };
    (spec.role?.kind === 'adam' ? optimizer : params).set(name, tensor);
  }
  return { params, optimizer };
}

/**
 * A run directory holding step-000000: the WebGPU runtime's initial parameters (its own init,
 * Algorithm 1 for SD), zero moments, a fresh sampler and the run's config.json, exactly what
 * `sdmoec run --resume` needs to continue from step 0. Both engines resume from it.
 */
export async function initialCheckpoint(file: string, overrides: string[], runDir: string): Promise<void> {
  const session = await openSessionFromFile(file, overrides);
  const { model, train } = resolveRunConfig(file, overrides);
  if (model.spectral) initializeSpectral(session.step, spectralMatrices(session.compiled.stepPlan), model.spectral, train.seed);
  const { params, optimizer } = await readAll(session);
  const hash = configHash(model, train);
  const sampler = new BatchSampler(session.data.train, { seqLen: train.seqLen, batch: train.batch, seed: train.seed });
  await saveCheckpoint(runDir, { step: 0, params, optimizer, state: { sampler: sampler.state(), configHash: hash, metrics: {} } });
  writeFileSync(join(runDir, 'config.json'), JSON.stringify({ model, train, configHash: hash, file, overrides }, null, 2));
}

/** ‖a − b‖ / ‖b‖ (0 when both are zero). */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    ref += b[i] ** 2;
  }
  return ref === 0 ? Math.sqrt(diff) : Math.sqrt(diff / ref);
}

export const relativeDiff = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
