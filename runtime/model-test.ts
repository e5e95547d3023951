// `sdmoec test`: locks a user's model's kernels. Every distinct kernel of the compiled training
// step and evaluation program is rendered and compared with the blessed copy in the golden
// directory (a unified diff on mismatch; stale blessed files are reported), then every kernel of
// the same model compiled at a scaled-down token count (batch 1, short sequences; model dims
// unchanged, so the same code paths run) is checked against its CPU oracle on random inputs.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compareGolden } from '../compiler/codegen/golden.ts';
import { pipelineKey } from '../compiler/codegen/kernel.ts';
import type { PlanDispatch } from '../compiler/codegen/plan.ts';
import { renderWgsl } from '../compiler/codegen/render.ts';
import { loadConfig } from '../compiler/config/index.ts';
import type { TrainConfig } from '../compiler/config/types.ts';
import { compileTraining } from '../compiler/pipeline.ts';
import { UserError } from '../base/errors.ts';
import { acquireDevice } from './device.ts';
import { KernelExecutor } from './executor.ts';
import { checkKernel } from './kernel-check.ts';

export interface ModelTestOptions {
  readonly file: string;
  readonly overrides?: readonly string[];
  readonly goldenDir: string;
  readonly bless: boolean;
  readonly seed?: number;
  /** Skip the numeric checks (goldens only). */
  readonly goldensOnly?: boolean;
  readonly log: (line: string) => void;
}

export interface ModelTestResult {
  readonly kernels: number;
  readonly same: number;
  readonly blessed: number;
  readonly differs: number;
  readonly missing: number;
  readonly stale: number;
  readonly numericChecked: number;
  readonly numericFailed: number;
  readonly ok: boolean;
}

function uniqueDispatches(dispatches: readonly PlanDispatch[]): PlanDispatch[] {
  const seen = new Map<string, PlanDispatch>();
  for (const d of dispatches) if (!seen.has(pipelineKey(d.program))) seen.set(pipelineKey(d.program), d);
  return [...seen.values()];
}

export async function testModel(opts: ModelTestOptions): Promise<ModelTestResult> {
  const { config } = loadConfig(opts.file, { overrides: [...(opts.overrides ?? [])] });
  const train = config.train;
  const model = config.models.find((m) => m.name === train?.model) ?? config.models[config.models.length - 1];
  if (!model) throw new UserError(`${opts.file}: no model to test`);
  const shape: TrainConfig = train ?? ({ batch: 1, seqLen: Math.min(model.maxSeq, 16), optimizer: { kind: 'adamw', lr: 1e-3, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1, momentum: 0 }, clipGrad: 1 } as TrainConfig);
  const ctx = await acquireDevice();
  const compiled = compileTraining(model, shape, ctx.caps);
  const kernels = uniqueDispatches([...compiled.stepPlan.dispatches, ...compiled.evalPlan.dispatches]);

  const counts = { same: 0, blessed: 0, differs: 0, missing: 0, stale: 0 };
  const expected = new Set<string>();
  for (const d of kernels) {
    const name = `${d.program.label}.wgsl`;
    expected.add(name);
    const r = compareGolden(join(opts.goldenDir, name), renderWgsl(d.program), { bless: opts.bless });
    counts[r.status]++;
    if (r.status === 'differs') opts.log(`DIFF    ${name}\n${r.diff}`);
    else if (r.status === 'missing') opts.log(`MISSING ${name} (run with --bless to create it)`);
    else if (r.status === 'blessed') opts.log(`blessed ${name}`);
  }
  if (existsSync(opts.goldenDir)) {
    for (const f of readdirSync(opts.goldenDir).filter((f) => f.endsWith('.wgsl') && !expected.has(f))) {
      counts.stale++;
      if (opts.bless) rmSync(join(opts.goldenDir, f));
      opts.log(`${opts.bless ? 'removed' : 'STALE  '} ${f} (no longer generated)`);
    }
  }
  opts.log(`goldens: ${kernels.length} kernels, ${counts.same} unchanged, ${counts.blessed} blessed, ${counts.differs} differ, ${counts.missing} missing, ${counts.stale} stale`);

  let numericChecked = 0;
  let numericFailed = 0;
  if (!opts.goldensOnly) {
    const small = { ...shape, batch: 1, seqLen: Math.min(shape.seqLen, 16) };
    const scaled = compileTraining(model, small, ctx.caps);
    const exec = KernelExecutor.shared(ctx);
    for (const d of uniqueDispatches([...scaled.stepPlan.dispatches, ...scaled.evalPlan.dispatches])) {
      const r = await checkKernel(exec, d.kernel, opts.seed ?? 1);
      numericChecked++;
      if (!r.ok) numericFailed++;
      opts.log(r.ok ? `ok      ${r.label} (max abs err ${r.maxAbsErr.toExponential(2)})` : r.report);
    }
    opts.log(`numeric: ${numericChecked} kernels at batch 1 × seq ${small.seqLen} against their CPU oracles, ${numericFailed} failed`);
  }
  const goldenOk = counts.differs === 0 && counts.missing === 0 && (counts.stale === 0 || opts.bless);
  return { kernels: kernels.length, ...counts, numericChecked, numericFailed, ok: goldenOk && numericFailed === 0 };
}
