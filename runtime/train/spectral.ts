// SD-MoE in the trainer: finds the spectrally decoupled matrices of a compiled step (by param role:
// W_c, W_u, U_k and V_k of one `target`, and their Adam moments), initialises them once on the CPU (the
// paper's Algorithm 1, runtime/sd/init.ts) and re-bases them every `rebaseEvery` steps (SVD of W_c,
// runtime/sd/rebase.ts), writing the results back into the live device buffers. Everything else
// (the proxy weight in the grouped GEMMs, the projected gradients) is compiled into the step.
// The trainer overlaps a re-basing with the next step's first dispatches (rebaseOverlapStart):
// they touch nothing the re-basing writes, so only the wall time changes, never a value. Its SVDs run
// on a thread of their own when one is given (rebase-worker.ts): startRebase starts them (the
// trainer, as soon as the step that read W_c is back), applyRebase writes their results (the rest
// computed on the main thread if the thread has not got to them); rebaseSpectral does both at once.
import type { SpectralConfig } from '../../compiler/config/types.ts';
import { firstDispatchTouching, paramsWithRole, type ExecutionPlan, type PlanParam } from '../../compiler/codegen/plan.ts';
import type { ExpertMatrix } from '../../compiler/ir/types.ts';
import { numel } from '../../compiler/ir/types.ts';
import { InternalError } from '../../base/errors.ts';
import { Rng } from '../../base/rng.ts';
import { spectralInit } from '../sd/init.ts';
import { rebase, rebaseNeedsUnique, type RebaseOptions, type RebaseResult } from '../sd/rebase.ts';
import type { StepExecutor } from '../step-executor.ts';
import { localTicket, settleWithin, type RebaseTicket, type RebaseWorker } from './rebase-worker.ts';

export interface SpectralMatrix {
  /** The decoupled matrix (its params' role `target`), e.g. `layers.0.moe.experts.up`. */
  readonly name: string;
  readonly layer: number;
  readonly matrix: ExpertMatrix;
  /** Param names of W_c, W_u, U_k and V_k. */
  readonly params: { readonly common: string; readonly unique: string; readonly uk: string; readonly vk: string };
  /** Adam moment params of W_c and W_u (absent in an evaluation plan). */
  readonly moments: readonly string[];
  readonly rows: number;
  readonly cols: number;
  readonly experts: number;
  readonly rank: number;
  /** Std of the standard init the decomposition starts from. */
  readonly std: number;
}

/** The SD matrices of a plan, found by param role (compiler/ir/types.ts#ParamRole). */
export function spectralMatrices(plan: ExecutionPlan): SpectralMatrix[] {
  const byTarget = new Map<string, Map<string, { name: string; spec: PlanParam }>>();
  const info = new Map<string, { layer: number; matrix: ExpertMatrix }>();
  for (const { name, spec, role } of paramsWithRole(plan, 'sd')) {
    byTarget.set(role.target, (byTarget.get(role.target) ?? new Map()).set(role.part, { name, spec }));
    info.set(role.target, { layer: role.layer, matrix: role.matrix });
  }
  const momentsOf = new Map<string, string[]>();
  for (const { name, role } of [...paramsWithRole(plan, 'adam'), ...paramsWithRole(plan, 'momentum')]) momentsOf.set(role.of, [...(momentsOf.get(role.of) ?? []), name]);
  const out: SpectralMatrix[] = [];
  for (const [target, parts] of byTarget) {
    const [common, unique, uk, vk] = (['common', 'unique', 'basis_u', 'basis_v'] as const).map((p) => parts.get(p));
    if (!common || !unique || !uk || !vk) throw new InternalError(`SD matrix ${target}: the plan lacks one of W_c, W_u, U_k, V_k`);
    const [rows, cols] = common.spec.type.shape;
    out.push({
      name: target,
      ...info.get(target)!,
      params: { common: common.name, unique: unique.name, uk: uk.name, vk: vk.name },
      moments: [...(momentsOf.get(common.name) ?? []), ...(momentsOf.get(unique.name) ?? [])],
      rows,
      cols,
      experts: unique.spec.type.shape[0],
      rank: uk.spec.type.shape[1],
      std: common.spec.init.kind === 'normal' ? common.spec.init.std : 0.02,
    });
  }
  return out;
}

/** rebase()'s options for matrix `m` under the run's spectral config, on the given arrays. */
function rebaseOptions(m: SpectralMatrix, spectral: SpectralConfig, arrays: Pick<RebaseOptions, 'common' | 'unique' | 'uk' | 'vk'>): RebaseOptions {
  return { ...arrays, rows: m.rows, cols: m.cols, experts: m.experts, rank: m.rank, residual: spectral.residual, reproject: spectral.reproject };
}

/** Synthetic re-basings per distinct matrix shape that warmRebase runs (see there). */
export const REBASE_WARMUP_ROUNDS = 16;

/**
 * Pays the JIT of the host re-basing before the first real one: `rounds` re-basings of synthetic
 * matrices of every distinct shape in `matrices`, with the run's residual and reproject options,
 * on the host only (nothing is read from or written to the device, no state changes). In fresh
 * processes the first demo re-basing (6 matrices) took 37–50 ms cold and 4.0–5.0 ms after this warm-up
 * (≈ 0.1 s, once); the next five 7.0 against 6.6 ms (`npm run bench -- rebase-warmup`, four processes
 * each way; measured on the main thread). A run re-bases every 16 steps, so without it the first
 * re-basings pay the JIT, and so did sd-cost's few timed ones. With a re-basing thread (`worker`) both
 * threads are warmed, side by side (see the body).
 */
export async function warmRebase(matrices: readonly SpectralMatrix[], spectral: SpectralConfig, worker: RebaseWorker | null = null, rounds = REBASE_WARMUP_ROUNDS): Promise<void> {
  const shapes = new Map(matrices.map((m) => [`${m.rows}:${m.cols}:${m.experts}:${m.rank}`, m]));
  const rng = new Rng('sd-rebase-warmup');
  const normal = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  const jobs: RebaseOptions[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const m of shapes.values()) {
      jobs.push(rebaseOptions(m, spectral, {
        common: normal(m.rows * m.cols),
        unique: rebaseNeedsUnique(spectral) ? normal(m.experts * m.rows * m.cols) : null,
        uk: normal(m.rows * m.rank),
        vk: normal(m.cols * m.rank),
      }));
    }
  }
  // Both threads that may re-base pay their JIT: the re-basing thread and, meanwhile, this one
  // (RebaseTicket#finish computes what the thread has not delivered). The thread runs at nice 19, so
  // on a machine kept busy by other processes it may get next to nothing: it is waited for at most
  // a few times this thread's own time, then told to stop (only its speed depends on it).
  const ticket = worker?.start(jobs);
  const t0 = performance.now();
  for (const job of jobs) rebase(job);
  if (ticket) {
    await settleWithin(ticket, 4 * (performance.now() - t0) + 100);
    ticket.abandon();
  }
}

/** Writes W_c, W_u(i), U_k and V_k of every SD matrix (deterministic per seed and matrix name). */
export function initializeSpectral(step: StepExecutor, matrices: readonly SpectralMatrix[], spectral: SpectralConfig, seed: number): void {
  const root = new Rng(seed).fork('spectral-init');
  for (const m of matrices) {
    const s = spectralInit({ rows: m.rows, cols: m.cols, experts: m.experts, rank: m.rank, std: m.std, rng: root.fork(m.name), mode: spectral.init });
    step.writeParam(m.params.common, s.common);
    step.writeParam(m.params.unique, s.unique);
    step.writeParam(m.params.uk, s.uk);
    step.writeParam(m.params.vk, s.vk);
  }
}

/** What one re-basing did to one SD matrix (the `spectral` metrics line; runtime/sd/rebase.ts#RebaseResult). */
export interface MatrixRebaseReport {
  readonly name: string;
  readonly layer: number;
  readonly matrix: ExpertMatrix;
  /** Share of the incoming W_c's spectral energy in its top k. */
  readonly energyTopK: number;
  /** ‖W_c − [W_c]_k‖_F of the incoming W_c. */
  readonly residualNorm: number;
  /** ‖U_oldᵀU_new‖²/k (left: U_k, the input side) and the same for V_k (right: the output side). */
  readonly basisOverlap: { readonly left: number; readonly right: number };
  /** ‖W_u(e) removed by reprojection‖_F over experts (zeros without reproject). */
  readonly reprojectedNorm: { readonly mean: number; readonly max: number };
  /** Top-k singular values of the incoming W_c, descending. */
  readonly singularValues: readonly number[];
}

export interface RebaseReport {
  /** Mean share of W_c's spectral energy in its top-k directions, over the SD matrices. */
  readonly energyTopK: number;
  /** Mean Frobenius norm of W_c − [W_c]_k before re-basing. */
  readonly residualNorm: number;
  /** One entry per SD matrix, in spectralMatrices order. */
  readonly matrices: readonly MatrixRebaseReport[];
}

/** Bytes per batched read: a staging buffer this size at most (a big model's W_u can be hundreds of MB). */
const READ_CHUNK_BYTES = 64 << 20;

async function readParamsChunked(step: StepExecutor, names: readonly string[]): Promise<Record<string, Float32Array>> {
  const chunks: string[][] = [[]];
  let bytes = 0;
  for (const name of names) {
    const b = numel(step.plan.params[name].type) * 4;
    if (bytes + b > READ_CHUNK_BYTES && chunks[chunks.length - 1].length > 0) {
      chunks.push([]);
      bytes = 0;
    }
    chunks[chunks.length - 1].push(name);
    bytes += b;
  }
  const parts = await Promise.all(chunks.map((c) => step.readParams(c)));
  return Object.assign({}, ...parts);
}

/** The params a re-basing reads: W_c, U_k, V_k of every matrix, and W_u only when the options use it. */
export function rebaseReadNames(matrices: readonly SpectralMatrix[], spectral: SpectralConfig): string[] {
  const needsUnique = rebaseNeedsUnique(spectral);
  return matrices.flatMap((m) => [m.params.common, ...(needsUnique ? [m.params.unique] : []), m.params.uk, m.params.vk]);
}

/**
 * The params a re-basing writes with these options: U_k and V_k always, W_c unless the residual is
 * kept, W_u when it is folded into or reprojected, the Adam moments with `moments reset`.
 * rebaseSpectral refuses to write anything else, so this set is exact, not a guess.
 */
export function rebaseWriteNames(matrices: readonly SpectralMatrix[], spectral: SpectralConfig): string[] {
  return matrices.flatMap((m) => [
    m.params.uk,
    m.params.vk,
    ...(spectral.residual !== 'keep' ? [m.params.common] : []),
    ...(rebaseNeedsUnique(spectral) ? [m.params.unique] : []),
    ...(spectral.moments === 'reset' ? m.moments : []),
  ]);
}

/**
 * Where a re-basing after step s can run during step s + 1 (StepExecutor#runAround): the first
 * dispatch of the step that touches anything the re-basing writes. Everything before it (with the
 * default `residual keep`, no reproject: the whole forward pass and the backward down to the last
 * layer's first split, 87 of the demo_sd step's 115 dispatches) runs on the device while the host
 * computes the SVDs, and the step's result is the synchronous order's bit for bit. 0 when W_c is
 * rewritten (the forward reads it first): then the overlap is the synchronous order.
 */
export function rebaseOverlapStart(plan: ExecutionPlan, matrices: readonly SpectralMatrix[], spectral: SpectralConfig): number {
  return firstDispatchTouching(plan, rebaseWriteNames(matrices, spectral).map((n) => plan.params[n].buffer));
}

/**
 * The params of `rebaseReadNames` when they are small enough to ride along with the step's own
 * read-back (one staging buffer of at most READ_CHUNK_BYTES), else null: then rebaseSpectral reads
 * them itself, in chunks.
 */
export function rebasePrefetchNames(step: StepExecutor, matrices: readonly SpectralMatrix[], spectral: SpectralConfig): string[] | null {
  const names = rebaseReadNames(matrices, spectral);
  const bytes = names.reduce((t, n) => t + numel(step.plan.params[n].type) * 4, 0);
  return bytes <= READ_CHUNK_BYTES ? names : null;
}

/**
 * How long a re-basing carried by the next step waits for its thread: about the time the device takes
 * to reach dispatch `at` (the first that needs the new bases), as that share of the last step's time,
 * less a tenth so the main thread's own share of the SVDs still fits before it.
 */
export function carriedRebaseBudgetMs(lastStepMs: number, at: number, dispatches: number): number {
  return 0.9 * lastStepMs * (at / Math.max(1, dispatches));
}

/**
 * Starts the host computation of a re-basing of every SD matrix from `values` (rebaseReadNames'
 * params, as read after a step's update): on `worker` when given, while the main thread goes on;
 * without one, the ticket computes everything when finished. applyRebase writes the results.
 */
export function startRebase(
  matrices: readonly SpectralMatrix[],
  spectral: SpectralConfig,
  values: Readonly<Record<string, Float32Array>>,
  worker: RebaseWorker | null = null,
): RebaseTicket {
  const needsUnique = rebaseNeedsUnique(spectral);
  const jobs = matrices.map((m) => rebaseOptions(m, spectral, {
    common: values[m.params.common],
    unique: needsUnique ? values[m.params.unique] : null,
    uk: values[m.params.uk],
    vk: values[m.params.vk],
  }));
  return worker ? worker.start(jobs) : localTicket(jobs);
}

/**
 * Re-bases every SD matrix from the device's current values and writes the new state back.
 * `prefetched`: the values of rebaseReadNames already read with the step's outputs (the trainer's
 * re-basing steps, StepExecutor#readOutputsAndParams); they must be this step's, after its update.
 * The results are needed at once, so the SVDs run here (a re-basing thread would only be claimed
 * back at once: startRebase is for re-basings that can wait).
 */
export async function rebaseSpectral(
  step: StepExecutor,
  matrices: readonly SpectralMatrix[],
  spectral: SpectralConfig,
  prefetched?: Readonly<Record<string, Float32Array>> | null,
): Promise<RebaseReport> {
  // One round trip for every read (StepExecutor#readParams: one copy into one staging buffer, one
  // map), in chunks of at most READ_CHUNK_BYTES; W_u, the largest array, only when the options use it
  // (`residual keep` without `reproject`, the default, does not). It was 4 reads per matrix, each
  // its own submit and map: most of the re-basing's CPU time on lavapipe (docs/benchmarks.md).
  // None at all when the caller read them with the step's outputs.
  const names = rebaseReadNames(matrices, spectral);
  const values = prefetched && names.every((n) => prefetched[n]) ? prefetched : await readParamsChunked(step, names);
  return applyRebase(step, matrices, spectral, startRebase(matrices, spectral, values).finish());
}

/** Writes a computed re-basing (a RebaseTicket's results, in `matrices` order) back and reports it. */
export function applyRebase(
  step: StepExecutor,
  matrices: readonly SpectralMatrix[],
  spectral: SpectralConfig,
  results: readonly RebaseResult[],
): RebaseReport {
  if (results.length !== matrices.length) throw new InternalError(`re-basing: ${results.length} results for ${matrices.length} matrices`);
  const reports: MatrixRebaseReport[] = [];
  const writable = new Set(rebaseWriteNames(matrices, spectral));
  const write = (name: string, data: Float32Array): void => {
    if (!writable.has(name)) throw new InternalError(`re-basing wrote ${name}, which rebaseWriteNames does not list (an overlapped re-basing would race the step)`);
    step.writeParam(name, data);
  };
  for (const [i, m] of matrices.entries()) {
    const r = results[i];
    // Arrays the options leave unchanged come back as the same objects: no need to upload them.
    if (r.changed.common) write(m.params.common, r.common);
    if (r.changed.unique && r.unique) write(m.params.unique, r.unique);
    write(m.params.uk, r.uk);
    write(m.params.vk, r.vk);
    // `moments reset` zeroes W_c's and W_u's moments after step s (s mod rebaseEvery = 0); their
    // adamw nodes were compiled with resetEvery = rebaseEvery, so step s + 1 bias-corrects with
    // t = 1 (a fresh Adam step) instead of the global step, and resuming needs no extra state.
    if (spectral.moments === 'reset') {
      for (const name of m.moments) write(name, new Float32Array(numel(step.plan.params[name].type)));
    }
    const removed = Array.from(r.reprojectedNorms);
    reports.push({
      name: m.name,
      layer: m.layer,
      matrix: m.matrix,
      energyTopK: r.energyTopK,
      residualNorm: r.residualNorm,
      basisOverlap: r.basisOverlap,
      reprojectedNorm: { mean: removed.reduce((a, b) => a + b, 0) / Math.max(1, removed.length), max: Math.max(0, ...removed) },
      singularValues: Array.from(r.singularValues),
    });
  }
  const meanOf = (f: (x: MatrixRebaseReport) => number): number => reports.reduce((t, x) => t + f(x), 0) / Math.max(1, reports.length);
  return { energyTopK: meanOf((x) => x.energyTopK), residualNorm: meanOf((x) => x.residualNorm), matrices: reports };
}
