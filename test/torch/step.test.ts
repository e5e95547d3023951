// The torch target computes what the WebGPU engine computes: from the same step-0 checkpoint (the
// WebGPU runtime's own initialisation) and the same batch (train.py's port of BatchSampler), one
// training step's loss, gradient norm, updated parameters and Adam moments agree to 1e-4 relative,
// for the baseline (dense layer, grouped KV, gated shared expert, capacity drops, global load
// balance, z-loss) and for SD-MoE with gradient projection; and with update projection, residual
// fold, reprojection and moment reset after a re-basing every step, over two steps (so the second
// step starts from re-based W_c, W_u, U_k, V_k and restarts the bias correction).
// The checkpoint each engine writes after the step is compared tensor by tensor: it is also the
// interchange test (sdmoec's checkpoint read by train.py --resume, torch's written in the format).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCheckpoint } from '../../runtime/checkpoint/checkpoint.ts';
import { readMetrics, type TrainMetrics } from '../../runtime/metrics/jsonl.ts';
import { runTraining } from '../../runtime/train/trainer.ts';
import { PassThrough } from 'node:stream';
import { compileTorch, initialCheckpoint, relativeDiff, relativeError, requireTorch, runTrainPy } from './support.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/tiny.moe', import.meta.url));
const quiet = { log: () => {}, progressStream: Object.assign(new PassThrough(), { isTTY: false }) };
const TOL = 1e-4;

let work: string;
beforeAll(() => {
  requireTorch();
  work = mkdtempSync(join(tmpdir(), 'sdmoec-torch-step-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function compare(name: string, overrides: string[], steps: number, checkInit = false): Promise<void> {
  const dir = join(work, name);
  const pkg = join(dir, 'pkg');
  compileTorch(FIXTURE, overrides, pkg);
  await initialCheckpoint(FIXTURE, overrides, join(dir, 'init'));
  cpSync(join(dir, 'init'), join(dir, 'webgpu'), { recursive: true });
  cpSync(join(dir, 'init'), join(dir, 'torch'), { recursive: true });
  await runTraining({ resume: join(dir, 'webgpu'), stopAfter: steps, ...quiet });
  runTrainPy(pkg, ['--resume', join(dir, 'torch'), '--stop-after', String(steps), '--eval-every', '0', '--log-every', '1']);

  const lines = (run: string) => readMetrics(join(dir, run, 'metrics.jsonl')).filter((e): e is TrainMetrics => e.type === 'train');
  const [gpu, torch] = [lines('webgpu'), lines('torch')];
  expect(torch.map((e) => e.step)).toEqual(gpu.map((e) => e.step));
  for (const [i, g] of gpu.entries()) {
    const t = torch[i];
    expect(relativeDiff(t.loss, g.loss), `loss at step ${g.step}: torch ${t.loss}, webgpu ${g.loss}`).toBeLessThan(TOL);
    expect(relativeDiff(t.total_loss as number, g.total_loss as number)).toBeLessThan(TOL);
    expect(relativeDiff(t.grad_norm, g.grad_norm), `grad norm at step ${g.step}: torch ${t.grad_norm}, webgpu ${g.grad_norm}`).toBeLessThan(TOL);
    expect(t.lr).toBeCloseTo(g.lr, 9);
    expect(t.tokens_per_expert).toEqual(g.tokens_per_expert);
    for (const [k, v] of Object.entries(g.aux ?? {})) expect(relativeDiff(t.aux![k], v), `aux ${k}`).toBeLessThan(TOL);
  }
  const [a, b] = await Promise.all([loadCheckpoint(join(dir, 'torch')), loadCheckpoint(join(dir, 'webgpu'))]);
  expect(a.step).toBe(steps);
  expect([...a.params.keys()].sort()).toEqual([...b.params.keys()].sort());
  expect([...a.optimizer.keys()].sort()).toEqual([...b.optimizer.keys()].sort());
  const init = await loadCheckpoint(join(dir, 'init', 'step-000000'));
  const errors: [string, number][] = [];
  for (const [k, ref] of [...b.params, ...b.optimizer]) {
    const mine = a.params.get(k) ?? a.optimizer.get(k)!;
    expect(mine.shape).toEqual(ref.shape);
    errors.push([k, relativeError(mine.data, ref.data)]);
  }
  const worst = errors.reduce((w, e) => (e[1] > w[1] ? e : w));
  expect(worst[1], `largest relative difference: ${worst[0]}`).toBeLessThan(TOL);
  // The step moved the parameters by far more than the tolerance: the comparison is not vacuous.
  if (checkInit) {
    // train.py's own initialisation (--init sdmoec, the default) is sdmoec's: same RNG streams,
    // Algorithm 1 with the same labels and sign convention (float rounding of the SVDs aside).
    runTrainPy(pkg, ['--out', join(dir, 'torch-init'), '--stop-after', '0']);
    const own = await loadCheckpoint(join(dir, 'torch-init'));
    expect(own.step).toBe(0);
    const initErrors = [...init.params].map(([k, t]): [string, number] => [k, relativeError(own.params.get(k)!.data, t.data)]);
    const worstInit = initErrors.reduce((w, e) => (e[1] > w[1] ? e : w));
    expect(worstInit[1], `largest relative difference of the initial values: ${worstInit[0]}`).toBeLessThan(1e-5);
  }
  const moved = Math.max(...[...init.params].map(([k, t]) => relativeError(b.params.get(k)!.data, t.data)));
  expect(moved).toBeGreaterThan(100 * TOL);
}

describe('torch target: one step matches the WebGPU runtime', () => {
  it('baseline MoE (dense layer, GQA, gated shared expert, capacity, global load balance, z-loss)', async () => {
    await compare('baseline', [], 1, true);
  });

  it('SD-MoE, gradient projection', async () => {
    await compare('sd-grad', ['train.model=tiny_sd'], 1, true);
  });

  it('SD-MoE, update projection, fold + reproject + moment reset, re-based every step (2 steps)', async () => {
    await compare('sd-update', ['train.model=tiny_sd', 'model.spectral.project=update', 'model.spectral.residual=fold', 'model.spectral.reproject=true', 'model.spectral.moments=reset', 'model.spectral.rebase=every 1 steps', 'model.spectral.common_grad=mean'], 2);
  });
});
