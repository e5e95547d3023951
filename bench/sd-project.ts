// SD-MoE optimizer tail benchmark: what the two `project` variants cost per decoupled matrix, at
// demo_sd's shapes (4 experts, 64×128 and 128×64, rank 8), each variant one submit of its whole
// tail, timed wall-clock from submit to done (median of many, variants interleaved so they see the
// same load):
//   gradient  sd_split_grad (3 dispatches) on the expert gradients, then AdamW on W_c and W_u
//   update    AdamW in step mode on the raw gradients, then sd_project_update (the split's three
//             kernels on Δ_c and on Δ_u, adding into W_c and W_u in place: 6 dispatches; it was 5
//             matmuls on W_c, 4 batched matmuls + 1 accumulate on W_u)
//   adamw     AdamW on W_c and W_u alone: the floor any fusion of the projection into the AdamW
//             kernel's epilogue could reach (it would still need U_kᵀΔ and ΔV_k, reductions over
//             whole columns and rows, so it cannot be a pure elementwise epilogue)
// The gradients enter through one elementwise op (×1) so the planner may overwrite them, as in a
// real step; every variant pays for it.
import { planGraph } from '../compiler/codegen/plan.ts';
import { ir } from '../compiler/ir/build.ts';
import { graph } from '../compiler/ir/graph.ts';
import type { Graph, Value } from '../compiler/ir/types.ts';
import { acquireDevice } from '../runtime/device.ts';
import { KernelExecutor } from '../runtime/executor.ts';
import { StepExecutor } from '../runtime/step-executor.ts';
import { loadAverage, markdownTable, nowMs, sourceRevision, stats, type BenchModule, type BenchOptions, type BenchReport } from './common.ts';

const E = 4, R = 8;
const SHAPES: readonly [number, number][] = [[64, 128], [128, 64]];
const HYPER = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
type Variant = 'gradient' | 'update' | 'adamw';

function tail(variant: Variant, K: number, N: number): Graph {
  const wc = ir.param('wc', [K, N], { kind: 'normal', std: 0.02 });
  const wu = ir.param('wu', [E, K, N], { kind: 'normal', std: 0.02 });
  const U = ir.param('U', [K, R], { kind: 'normal', std: 0.1 });
  const V = ir.param('V', [N, R], { kind: 'normal', std: 0.1 });
  const owned = (x: Value): Value => ir.mul(x, ir.constant(1));
  const G = owned(ir.input('G', 'f32', [E, K, N]));
  const [lr, step, clip] = [ir.input('lr', 'f32', []), ir.input('step', 'i32', []), ir.input('clip', 'f32', [2])];
  const moments = (name: string, p: Value) => [ir.param(`${name}.m`, [...p.node.types[0].shape], { kind: 'zeros' }), ir.param(`${name}.v`, [...p.node.types[0].shape], { kind: 'zeros' })];
  const [mc, vc] = moments('wc', wc);
  const [mu, vu] = moments('wu', wu);
  let gc: Value, gu: Value;
  if (variant === 'gradient') [gc, gu] = ir.sdSplitGrad(G, U, V, { experts: E, rank: R, aggregate: 'sum' });
  else [gc, gu] = [ir.reduce('sum', G, 0), G];
  const output = variant === 'update' ? { output: 'step' as const } : {};
  const [c2, mc2, vc2] = ir.adamw(wc, gc, mc, vc, lr, step, clip, { ...HYPER, ...output });
  const [u2, mu2, vu2] = ir.adamw(wu, gu, mu, vu, lr, step, clip, { ...HYPER, ...output });
  const [wc2, wu2] = variant === 'update' ? ir.sdProjectUpdate(wc, wu, c2, u2, U, V, { experts: E, rank: R }) : [c2, u2];
  return graph(`sd_tail_${variant}`, { wc2, wu2, mc2, vc2, mu2, vu2 });
}

async function run(opts: BenchOptions): Promise<BenchReport> {
  const loadBefore = loadAverage();
  const ctx = await acquireDevice();
  const exec = new KernelExecutor(ctx);
  const runs = opts.quick ? 15 : 60;
  const rows: string[][] = [];
  const json: Record<string, unknown>[] = [];
  for (const [K, N] of SHAPES) {
    const variants: Variant[] = ['gradient', 'update', 'adamw'];
    const steps = await Promise.all(variants.map(async (v) => {
      const s = new StepExecutor(exec, planGraph(tail(v, K, N), ctx.caps));
      await s.init(1);
      s.writeInput('G', Float32Array.from({ length: E * K * N }, (_, i) => Math.sin(i)));
      s.writeInput('lr', Float32Array.of(1e-3));
      s.writeInput('clip', Float32Array.of(1, 0));
      return s;
    }));
    const samples = variants.map(() => [] as number[]);
    for (let i = 0; i < runs + 3; i++) {
      for (const [j, s] of steps.entries()) {
        s.writeInput('step', Int32Array.of(i + 1));
        const t0 = nowMs();
        s.run();
        await s.done();
        if (i >= 3) samples[j].push(nowMs() - t0);
      }
    }
    variants.forEach((v, j) => {
      const st = stats(samples[j]);
      rows.push([`${K}×${N}`, v, String(steps[j].dispatchCount), st.median.toFixed(3), st.best.toFixed(3)]);
      json.push({ K, N, experts: E, rank: R, variant: v, dispatches: steps[j].dispatchCount, medianMs: st.median, bestMs: st.best, runs: st.runs });
      process.stdout.write(`  ${K}×${N} ${v}: ${steps[j].dispatchCount} dispatches, ${st.median.toFixed(3)} ms median (best ${st.best.toFixed(3)})\n`);
    });
    for (const s of steps) s.destroy();
  }
  const loadAfter = loadAverage();
  const markdown = [
    '# SD-MoE optimizer tail: project gradient vs project update',
    '',
    `One decoupled matrix (${E} experts, rank ${R}) per row: the whole optimizer tail of W_c and W_u in one submit, wall ms from submit to done, ${runs} runs per variant interleaved (see bench/sd-project.ts for what each variant runs).`,
    `Revision ${sourceRevision()}; load average ${loadBefore.one.toFixed(2)} before / ${loadAfter.one.toFixed(2)} after (1 min).`,
    '',
    markdownTable(['matrix', 'variant', 'dispatches', 'median ms', 'best ms'], rows),
    '',
  ].join('\n');
  return { json: { runs, loadBefore, loadAfter, results: json }, markdown };
}

export const sdProjectBench: BenchModule = { name: 'sd-project', run };
