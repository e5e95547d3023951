// SD-MoE in the trainer: finds the spectrally decoupled matrices of a compiled step (params named
// `<m>.common`, `<m>.unique`, `<m>.U_k`, `<m>.V_k`), initialises them once on the CPU (the
// paper's Algorithm 1, runtime/sd/init.ts) and re-bases them every `rebaseEvery` steps (SVD of W_c,
// runtime/sd/rebase.ts), writing the results back into the live device buffers. Everything else
// (the proxy weight in the grouped GEMMs, the projected gradients) is compiled into the step.
import type { SpectralConfig } from '../../compiler/config/types.ts';
import type { ExecutionPlan } from '../../compiler/codegen/plan.ts';
import { Rng } from '../rng.ts';
import { spectralInit } from '../sd/init.ts';
import { rebase } from '../sd/rebase.ts';
import type { StepExecutor } from '../step-executor.ts';

export interface SpectralMatrix {
  /** Prefix of the four params, e.g. `layers.0.moe.experts.up`. */
  readonly name: string;
  readonly rows: number;
  readonly cols: number;
  readonly experts: number;
  readonly rank: number;
  /** Std of the standard init the decomposition starts from. */
  readonly std: number;
}

export function spectralMatrices(plan: ExecutionPlan): SpectralMatrix[] {
  const out: SpectralMatrix[] = [];
  for (const [name, spec] of Object.entries(plan.params)) {
    if (!name.endsWith('.common')) continue;
    const base = name.slice(0, -'.common'.length);
    const unique = plan.params[`${base}.unique`];
    const uk = plan.params[`${base}.U_k`];
    if (!unique || !uk || !plan.params[`${base}.V_k`]) continue;
    const [rows, cols] = spec.type.shape;
    out.push({ name: base, rows, cols, experts: unique.type.shape[0], rank: uk.type.shape[1], std: spec.init.kind === 'normal' ? spec.init.std : 0.02 });
  }
  return out;
}

/** Writes W_c, W_u(i), U_k and V_k of every SD matrix (deterministic per seed and matrix name). */
export function initializeSpectral(step: StepExecutor, matrices: readonly SpectralMatrix[], spectral: SpectralConfig, seed: number): void {
  const root = new Rng(seed).fork('spectral-init');
  for (const m of matrices) {
    const s = spectralInit({ rows: m.rows, cols: m.cols, experts: m.experts, rank: m.rank, std: m.std, rng: root.fork(m.name), mode: spectral.init });
    step.writeParam(`${m.name}.common`, s.common);
    step.writeParam(`${m.name}.unique`, s.unique);
    step.writeParam(`${m.name}.U_k`, s.uk);
    step.writeParam(`${m.name}.V_k`, s.vk);
  }
}

export interface RebaseReport {
  /** Mean share of W_c's spectral energy in its top-k directions, over the SD matrices. */
  readonly energyTopK: number;
  /** Mean Frobenius norm of W_c − [W_c]_k before re-basing. */
  readonly residualNorm: number;
}

/** Re-bases every SD matrix from the device's current values and writes the new state back. */
export async function rebaseSpectral(step: StepExecutor, matrices: readonly SpectralMatrix[], spectral: SpectralConfig): Promise<RebaseReport> {
  let energy = 0;
  let residual = 0;
  for (const m of matrices) {
    const r = rebase({
      common: await step.readParam(`${m.name}.common`),
      unique: await step.readParam(`${m.name}.unique`),
      uk: await step.readParam(`${m.name}.U_k`),
      vk: await step.readParam(`${m.name}.V_k`),
      rows: m.rows,
      cols: m.cols,
      experts: m.experts,
      rank: m.rank,
      residual: spectral.residual,
      reproject: spectral.reproject,
    });
    step.writeParam(`${m.name}.common`, r.common);
    step.writeParam(`${m.name}.unique`, r.unique);
    step.writeParam(`${m.name}.U_k`, r.uk);
    step.writeParam(`${m.name}.V_k`, r.vk);
    if (spectral.moments === 'reset') {
      for (const p of ['common', 'unique']) {
        for (const moment of ['adam_m', 'adam_v']) {
          const name = `${m.name}.${p}.${moment}`;
          const spec = step.plan.params[name];
          if (spec) step.writeParam(name, new Float32Array(spec.type.shape.reduce((a, b) => a * b, 1)));
        }
      }
    }
    energy += r.energyTopK;
    residual += r.residualNorm;
  }
  return { energyTopK: energy / Math.max(1, matrices.length), residualNorm: residual / Math.max(1, matrices.length) };
}
