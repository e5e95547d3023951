// `sdmoec analyze`: the expert diagnostics (runtime/sd/diagnostics.ts, the digest's stand-ins for
// the paper's §2 metrics) for every routed (layer, matrix kind) of one checkpoint, whichever loader
// read it, gathered into one JSON-serialisable result. Matrices are loaded and analysed one at a
// time, so peak memory is one layer's experts of one kind.
import { UserError } from '../../base/errors.ts';
import { diagnoseExperts, summarizeDiagnostics, type DiagnosticsOptions, type ExpertDiagnostics } from '../sd/diagnostics.ts';
import type { AnalysisModel, ExpertMatrixKind } from './model.ts';

export interface AnalyzeOptions extends Pick<DiagnosticsOptions, 'fraction' | 'rankK' | 'alignmentDirections'> {
  /** Only these layers (default: every MoE layer). */
  layers?: readonly number[];
  /** Only these matrix kinds (default: gate, up, down). */
  matrices?: readonly ExpertMatrixKind[];
  onProgress?: (line: string) => void;
}

export interface AnalysisEntry extends ExpertDiagnostics {
  /** Spectrally decoupled matrix (proxies W_c + W_u(i) and W_u(i) both measured). */
  decoupled: boolean;
  routerBias?: number[];
}

export interface AnalysisResult {
  /** Bumped when the JSON layout changes. */
  formatVersion: 1;
  model: Omit<AnalysisModel, 'matrices'>;
  options: { fraction: number; rankK: number | null; alignmentDirections: number; layers: number[]; matrices: ExpertMatrixKind[] };
  /** Headline means over all entries (summarizeDiagnostics). */
  summary: Record<string, number | string>;
  entries: AnalysisEntry[];
}

export async function analyzeModel(model: AnalysisModel, opts: AnalyzeOptions = {}): Promise<AnalysisResult> {
  const layers = opts.layers ? [...opts.layers] : model.moeLayers;
  const bad = layers.filter((l) => !model.moeLayers.includes(l));
  if (bad.length) throw new UserError(`--layers ${bad.join(',')}: not a MoE layer of ${model.path} (MoE layers: ${model.moeLayers.join(', ') || 'none'})`);
  const kinds = opts.matrices ? [...opts.matrices] : (['gate', 'up', 'down'] as ExpertMatrixKind[]);
  const todo = model.matrices.filter((m) => layers.includes(m.layer) && kinds.includes(m.matrix));
  if (todo.length === 0) throw new UserError(`${model.path}: no expert matrices to analyse`);
  const entries: AnalysisEntry[] = [];
  for (const [i, ref] of todo.entries()) {
    opts.onProgress?.(`[${i + 1}/${todo.length}] layer ${ref.layer} ${ref.matrix}: ${ref.experts} experts × [${ref.rows}, ${ref.cols}]${ref.sd ? ' (SD)' : ''}`);
    const input = await ref.load();
    const d = diagnoseExperts(input, { fraction: opts.fraction, rankK: opts.rankK, alignmentDirections: opts.alignmentDirections });
    entries.push({ ...d, decoupled: ref.sd, ...(input.routerBias ? { routerBias: input.routerBias } : {}) });
  }
  const { matrices: _omit, ...facts } = model;
  return {
    formatVersion: 1,
    model: facts,
    options: { fraction: opts.fraction ?? 0.01, rankK: opts.rankK ?? null, alignmentDirections: opts.alignmentDirections ?? 16, layers, matrices: kinds },
    summary: summarizeDiagnostics(entries),
    entries,
  };
}

/** JSON with non-finite numbers spelled as strings ("NaN", "Infinity"), which JSON cannot hold. */
export function analysisJson(result: AnalysisResult): string {
  return JSON.stringify(result, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2) + '\n';
}
