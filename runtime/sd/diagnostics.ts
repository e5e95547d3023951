// SD-MoE expert diagnostics (issue 7): pure functions over host tensors, no device, so the trainer
// and offline analysis of Hugging Face checkpoints run the same code. Every metric here is one of the
// digest's STAND-INS for the paper's unrecovered §2 eqs. 1–5 (digest §1.2–1.4), not the paper's own
// formula; docs/diagnostics.md lists each one with its formula and the matrices it is measured on.
// Conventions: an expert matrix is stored [rows = in, cols = out] (y = x·W); the INPUT side is the
// rows side (left singular vectors as stored), the OUTPUT side the cols side. U_k is [rows, k] and
// V_k is [cols, k], so ‖U_kᵀ W_u‖ is the input-side leakage and ‖W_u V_k‖ the output-side one.
//   similarity(a, b) = ‖Q_aᵀ Q_b‖_F² / r      (mean squared cosine of the principal angles, in [0, 1];
//                                              r/dim is its expectation for independent random subspaces)
//   energy_r(W)      = Σ_{j≤r} σ_j² / Σ_j σ_j²
//   alignment_j(e)   = (g_eᵀ u_j)² / ‖g_e‖²   (g_e: router column e; u_j: j-th input-side singular
//                                              vector of expert e's effective matrix)
// No size cap: the top singular vectors come from topSvd (the symmetric eigensolver on the Gram
// matrix of the smaller side), one decomposition per expert and set; cost in bench/diagnostics.ts.
import { rowMajorToColumns, topSvd, type Dense } from './linalg.ts';
import { dot, zeros, type Vec } from './vector.ts';

/** One (layer, matrix kind) of routed experts, stored [E, rows = in, cols = out] as everywhere in this project. */
export interface ExpertMatrixInput {
  layer: number;
  /** 'gate' | 'up' | 'down' (or an HF name). */
  matrix: string;
  rows: number;
  cols: number;
  experts: number;
  /** [E, rows, cols]: plain experts, or the proxies W_c + W_u(i) for SD. */
  weights: Float32Array;
  /** SD only: W_c [rows, cols], W_u [E, rows, cols], U_k [rows, rank], V_k [cols, rank]. */
  sd?: { common: Float32Array; unique: Float32Array; uk: Float32Array; vk: Float32Array; rank: number };
  /** [rows, E] router of this layer, when rows is the model dim (gate/up), for the alignment. */
  router?: Float32Array;
}

export interface DiagnosticsOptions {
  /** Share of min(rows, cols) in the "top 1 %" subspace (default 0.01, rounded up, at least 1). */
  fraction?: number;
  /** The second subspace rank r = k: default the spectral rank for SD, 8 for a baseline. */
  rankK?: number;
  /** J, the number of leading singular directions in the router alignment (default 16). */
  alignmentDirections?: number;
  /** Numerical rank threshold relative to σ₁ (default 0.01). */
  rankTolerance?: number;
  /**
   * Per-expert SVD: 'full' (default) runs the Gram eigensolver directly; 'iterative' tries topSvd's
   * top-r route first (runtime/sd/linalg.ts: the tridiagonal top-k solver below a 256 Gram, subspace
   * iteration from 256), which pays off only when every expert has a clear gap after its top
   * max(r_1%, k, J) values (e.g. large pretrained experts with spiky spectra); subspace iteration
   * otherwise costs about twice the full solver (bench/diagnostics.ts).
   */
  solver?: 'full' | 'iterative';
}

/** Which matrices a metric is measured on: SD proxies W_c + W_u(e), SD unique W_u(e), or baseline experts. */
export type DiagnosedOn = 'proxies' | 'unique' | 'experts';
export type Side = 'input' | 'output';
/** '1pct': r = ceil(fraction · min(rows, cols)); 'k': r = rankK. */
export type RankKind = '1pct' | 'k';

export interface SubspaceSimilarity {
  on: DiagnosedOn;
  side: Side;
  rankKind: RankKind;
  rank: number;
  /** Mean over unordered pairs a < b (NaN with fewer than two experts). */
  mean: number;
  /** r / (dimension of the side): expected similarity of independent uniformly random subspaces. */
  chance: number;
  /** Full E×E similarity matrix (diagonal 1), for heatmaps. */
  matrix: number[][];
}

export interface SpectralEnergy {
  on: DiagnosedOn;
  /** r = ceil(fraction · min(rows, cols)). */
  rank: number;
  mean: number;
  perExpert: number[];
}

export interface ExpertStat {
  mean: number;
  max: number;
  perExpert: number[];
}

export interface SdDiagnostics {
  rank: number;
  /** ‖U_kᵀ W_u(e)‖²/‖W_u(e)‖² (input) and ‖W_u(e) V_k‖²/‖W_u(e)‖² (output); 0 for W_u(e) = 0. */
  leakage: { input: ExpertStat; output: ExpertStat };
  /** #{σ_j(W_c) > tolerance · σ₁(W_c)}. */
  commonNumericalRank: number;
  /** Leading singular values of W_c (up to 2k), descending. */
  commonSingularValues: number[];
  /** σ₁(W_c) / σ₁(W_u(e)) (Infinity when W_u(e) = 0). */
  sigmaRatio: ExpertStat;
  /** 1 − energy_k(W_c): the share of W_c outside its top k (what residual 'keep' carries). */
  commonEnergyOutsideK: number;
}

export interface RouterAlignment {
  on: DiagnosedOn;
  /** J (capped at min(rows, cols)). */
  directions: number;
  /** perExpert[e][j−1] = (g_eᵀ u_j)² / ‖g_e‖², j = 1..J. */
  perExpert: number[][];
  /** alignment_1, mean over experts. */
  first: number;
  /** alignment_1 / Σ_{j≤J} alignment_j, mean over experts (1 = the router sees only the top direction). */
  firstShare: number;
}

/** JSON-serialisable diagnostics of one (layer, matrix kind); shapes documented in docs/diagnostics.md. */
export interface ExpertDiagnostics {
  layer: number;
  matrix: string;
  rows: number;
  cols: number;
  experts: number;
  fraction: number;
  rank1pct: number;
  rankK: number;
  /** For every `on` present × side × rank kind. */
  similarity: SubspaceSimilarity[];
  /** Top-1 % energy of every `on` present. */
  energy: SpectralEnergy[];
  sd?: SdDiagnostics;
  alignment?: RouterAlignment;
}

interface Decomposed {
  singularValues: Vec;
  totalEnergy: number;
  /** Input-side (rows) and output-side (cols) top singular vectors. */
  input: Vec[];
  output: Vec[];
}

function decomposeAll(all: Float32Array, rows: number, cols: number, experts: number, r: number, full: boolean): Decomposed[] {
  const size = rows * cols;
  const out: Decomposed[] = [];
  for (let e = 0; e < experts; e++) {
    // By default the full eigensolver directly: experts have flat spectra past their top few directions (random
    // at init, a W_u tail, trained baselines), where subspace iteration runs its 60 iterations and
    // then falls back to the full solver anyway (measured in bench/diagnostics.ts: about twice the cost).
    const svd = topSvd(all.subarray(e * size, (e + 1) * size), rows, cols, r, { full });
    out.push({ singularValues: svd.singularValues, totalEnergy: svd.totalEnergy, input: svd.u, output: svd.v });
  }
  return out;
}

/** ‖Q_aᵀ Q_b‖_F² / r over the first r columns of each basis. */
export function subspaceSimilarity(a: readonly Vec[], b: readonly Vec[], r: number): number {
  let s = 0;
  for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) s += dot(a[i], b[j]) ** 2;
  return s / r;
}

function similarityOf(on: DiagnosedOn, d: Decomposed[], side: Side, rankKind: RankKind, rank: number, dim: number): SubspaceSimilarity {
  const E = d.length;
  const matrix = Array.from({ length: E }, () => new Array<number>(E).fill(0));
  let sum = 0;
  let pairs = 0;
  for (let a = 0; a < E; a++) {
    for (let b = a; b < E; b++) {
      const s = subspaceSimilarity(d[a][side], d[b][side], rank);
      matrix[a][b] = matrix[b][a] = s;
      if (a !== b) {
        sum += s;
        pairs++;
      }
    }
  }
  return { on, side, rankKind, rank, mean: pairs > 0 ? sum / pairs : Number.NaN, chance: rank / dim, matrix };
}

function energyOf(on: DiagnosedOn, d: Decomposed[], rank: number): SpectralEnergy {
  const perExpert = d.map(({ singularValues, totalEnergy }) => {
    let top = 0;
    for (let j = 0; j < rank; j++) top += singularValues[j] ** 2;
    return totalEnergy > 0 ? Math.min(1, top / totalEnergy) : 0;
  });
  return { on, rank, mean: mean(perExpert), perExpert };
}

function mean(xs: readonly number[]): number {
  return xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
}

function stat(perExpert: number[]): ExpertStat {
  return { mean: mean(perExpert), max: Math.max(...perExpert), perExpert };
}

/** ‖Bᵀ M‖_F² (B on the rows side) or ‖M B‖_F² (B on the cols side) for row-major M and orthonormal columns B. */
function projectedEnergy(m: Dense, rows: number, cols: number, basis: Vec[], side: Side): number {
  let s = 0;
  if (side === 'input') {
    const c = zeros(cols);
    for (const b of basis) {
      c.fill(0);
      for (let i = 0; i < rows; i++) {
        const w = b[i];
        if (w === 0) continue;
        const base = i * cols;
        for (let k = 0; k < cols; k++) c[k] += w * m[base + k];
      }
      s += dot(c, c);
    }
  } else {
    const row = zeros(cols);
    for (let i = 0; i < rows; i++) {
      for (let k = 0; k < cols; k++) row[k] = m[i * cols + k];
      for (const b of basis) s += dot(row, b) ** 2;
    }
  }
  return s;
}

function sdDiagnostics(input: ExpertMatrixInput, unique: Decomposed[], rankK: number, tolerance: number): SdDiagnostics {
  const { rows, cols, experts } = input;
  const sd = input.sd!;
  const size = rows * cols;
  const ukCols = rowMajorToColumns(sd.uk, rows, sd.rank);
  const vkCols = rowMajorToColumns(sd.vk, cols, sd.rank);
  const leakIn: number[] = [];
  const leakOut: number[] = [];
  for (let e = 0; e < experts; e++) {
    const w = sd.unique.subarray(e * size, (e + 1) * size);
    const total = unique[e].totalEnergy;
    leakIn.push(total > 0 ? projectedEnergy(w, rows, cols, ukCols, 'input') / total : 0);
    leakOut.push(total > 0 ? projectedEnergy(w, rows, cols, vkCols, 'output') / total : 0);
  }
  // Every singular value of W_c: the numerical rank may exceed k after training drift.
  const common = topSvd(sd.common, rows, cols, 0, { full: true });
  const sigma = common.singularValues;
  const sigma1 = sigma[0] ?? 0;
  let numericalRank = 0;
  for (const s of sigma) if (sigma1 > 0 && s > tolerance * sigma1) numericalRank++;
  let topK = 0;
  for (let j = 0; j < Math.min(rankK, sigma.length); j++) topK += sigma[j] ** 2;
  return {
    rank: sd.rank,
    leakage: { input: stat(leakIn), output: stat(leakOut) },
    commonNumericalRank: numericalRank,
    commonSingularValues: sigma.slice(0, Math.min(sigma.length, 2 * rankK)),
    sigmaRatio: stat(unique.map((u) => (u.singularValues[0] > 0 ? sigma1 / u.singularValues[0] : Number.POSITIVE_INFINITY))),
    commonEnergyOutsideK: common.totalEnergy > 0 ? Math.max(0, 1 - topK / common.totalEnergy) : 0,
  };
}

function routerAlignment(input: ExpertMatrixInput, on: DiagnosedOn, d: Decomposed[], J: number): RouterAlignment {
  const { rows, experts } = input;
  const router = input.router!;
  const perExpert: number[][] = [];
  for (let e = 0; e < experts; e++) {
    const g = zeros(rows);
    for (let i = 0; i < rows; i++) g[i] = router[i * experts + e];
    const g2 = dot(g, g);
    perExpert.push(d[e].input.slice(0, J).map((u) => (g2 > 0 ? dot(g, u) ** 2 / g2 : 0)));
  }
  const shares = perExpert.map((a) => {
    const total = a.reduce((x, y) => x + y, 0);
    return total > 0 ? a[0] / total : 0;
  });
  return { on, directions: J, perExpert, first: mean(perExpert.map((a) => a[0])), firstShare: mean(shares) };
}

/** r = ceil(fraction · min(rows, cols)), at least 1. */
export function onePercentRank(rows: number, cols: number, fraction = 0.01): number {
  return Math.max(1, Math.min(Math.ceil(fraction * Math.min(rows, cols)), Math.min(rows, cols)));
}

export function diagnoseExperts(input: ExpertMatrixInput, opts: DiagnosticsOptions = {}): ExpertDiagnostics {
  const { rows, cols, experts, sd } = input;
  const size = rows * cols;
  const small = Math.min(rows, cols);
  const fraction = opts.fraction ?? 0.01;
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`diagnoseExperts: fraction must be in (0, 1], got ${fraction}`);
  if (input.weights.length !== experts * size) throw new Error(`diagnoseExperts: weights hold ${input.weights.length} values, expected ${experts}×${rows}×${cols}`);
  if (sd) {
    if (sd.common.length !== size || sd.unique.length !== experts * size || sd.uk.length !== rows * sd.rank || sd.vk.length !== cols * sd.rank) {
      throw new Error(`diagnoseExperts: SD arrays do not match rows=${rows} cols=${cols} experts=${experts} rank=${sd.rank}`);
    }
  }
  if (input.router && input.router.length !== rows * experts) throw new Error(`diagnoseExperts: router holds ${input.router.length} values, expected ${rows}×${experts}`);
  const rank1pct = onePercentRank(rows, cols, fraction);
  const rankK = Math.min(small, Math.max(1, opts.rankK ?? sd?.rank ?? 8));
  const J = Math.min(small, Math.max(1, opts.alignmentDirections ?? 16));
  const rMax = Math.max(rank1pct, rankK, input.router ? J : 0);

  const main: DiagnosedOn = sd ? 'proxies' : 'experts';
  const full = (opts.solver ?? 'full') === 'full';
  const sets: [DiagnosedOn, Decomposed[]][] = [[main, decomposeAll(input.weights, rows, cols, experts, rMax, full)]];
  if (sd) sets.push(['unique', decomposeAll(sd.unique, rows, cols, experts, Math.max(rank1pct, rankK), full)]);

  const similarity: SubspaceSimilarity[] = [];
  for (const [on, d] of sets) {
    for (const side of ['input', 'output'] as const) {
      const dim = side === 'input' ? rows : cols;
      similarity.push(similarityOf(on, d, side, '1pct', rank1pct, dim));
      similarity.push(similarityOf(on, d, side, 'k', rankK, dim));
    }
  }
  return {
    layer: input.layer,
    matrix: input.matrix,
    rows,
    cols,
    experts,
    fraction,
    rank1pct,
    rankK,
    similarity,
    energy: sets.map(([on, d]) => energyOf(on, d, rank1pct)),
    ...(sd ? { sd: sdDiagnostics(input, sets[1][1], rankK, opts.rankTolerance ?? 0.01) } : {}),
    ...(input.router ? { alignment: routerAlignment(input, main, sets[0][1], J) } : {}),
  };
}

/** The similarity entry of one (on, side, rank kind), if measured. */
export function findSimilarity(d: ExpertDiagnostics, on: DiagnosedOn, side: Side, rankKind: RankKind): SubspaceSimilarity | undefined {
  return d.similarity.find((s) => s.on === on && s.side === side && s.rankKind === rankKind);
}

/**
 * Headline means over (layer, matrix) entries for a metrics line. Keys are present only when some
 * entry measured them. `expert_overlap` is the input-side similarity at r = 1 % on the matrices that
 * make experts differ: W_u(e) for SD, the experts themselves for a baseline (`expert_overlap_on`
 * says which); it is never measured on SD proxies, which share W_c's top directions by construction.
 */
export function summarizeDiagnostics(list: readonly ExpertDiagnostics[]): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  const avg = (xs: number[]): number | undefined => {
    const finite = xs.filter((x) => Number.isFinite(x));
    return finite.length > 0 ? mean(finite) : undefined;
  };
  const put = (key: string, value: number | undefined): void => {
    if (value !== undefined) out[key] = value;
  };
  for (const on of ['experts', 'proxies', 'unique'] as const) {
    for (const rankKind of ['1pct', 'k'] as const) {
      for (const side of ['input', 'output'] as const) {
        const values = list.map((d) => findSimilarity(d, on, side, rankKind)?.mean).filter((x): x is number => x !== undefined);
        put(`similarity_${on}_${rankKind}${side === 'output' ? '_output' : ''}`, avg(values));
      }
    }
    put(`energy_top_1pct_${on}`, avg(list.flatMap((d) => d.energy.filter((e) => e.on === on).map((e) => e.mean))));
  }
  const sds = list.map((d) => d.sd).filter((s): s is SdDiagnostics => s !== undefined);
  put('leakage_input', avg(sds.map((s) => s.leakage.input.mean)));
  put('leakage_output', avg(sds.map((s) => s.leakage.output.mean)));
  if (sds.length > 0) out.leakage_max = Math.max(...sds.map((s) => Math.max(s.leakage.input.max, s.leakage.output.max)));
  put('wc_numerical_rank', avg(sds.map((s) => s.commonNumericalRank)));
  put('wc_sigma_ratio', avg(sds.map((s) => s.sigmaRatio.mean)));
  put('wc_energy_outside_k', avg(sds.map((s) => s.commonEnergyOutsideK)));
  put('router_alignment_first', avg(list.map((d) => d.alignment?.first ?? Number.NaN)));
  put('router_alignment_first_share', avg(list.map((d) => d.alignment?.firstShare ?? Number.NaN)));
  // Per entry: W_u(e) when the matrix is decoupled, else the plain experts (a model may mix both).
  const overlapOn = new Set<DiagnosedOn>(list.map((d) => (d.sd ? 'unique' : 'experts')));
  const overlap = avg(list.map((d) => findSimilarity(d, d.sd ? 'unique' : 'experts', 'input', '1pct')?.mean ?? Number.NaN));
  if (overlap !== undefined) {
    out.expert_overlap = overlap;
    out.expert_overlap_on = [...overlapOn].sort().join('+');
  }
  return out;
}
