// Files of an analysis: `analysis.json` (everything measured), SVG charts under `svg/` (per layer
// and matrix: pairwise-similarity heatmaps, top-1 % energy per expert, router alignment per
// singular index, SD leakage; one overview across layers) and `index.html`, one self-contained page
// that inlines the same SVGs and explains each metric. Pure: returns file names and contents; the
// CLI writes them.
// Headline heatmaps: the INPUT side (where Appendix B puts the shared subspace) at both ranks
// (r = 1 % and r = k), on the experts as the model uses them (plain experts, or SD proxies) and, for
// SD, on W_u(i) alone. Every other variant (output side) is in analysis.json.
import { figure, figures, htmlPage, paragraph, table, type Section } from '../report/html.ts';
import { barChart, escapeXml, formatNumber, heatmap, lineChart, type Series } from '../report/svg.ts';
import type { RankKind, SubspaceSimilarity } from '../sd/diagnostics.ts';
import { analysisJson, type AnalysisEntry, type AnalysisResult } from './analyze.ts';

export interface ReportFile {
  name: string;
  content: string;
}

const ON_LABEL: Record<string, string> = { experts: 'experts', proxies: 'proxies W_c + W_u(i)', unique: 'W_u(i) alone' };
const RANK_LABEL = (s: SubspaceSimilarity): string => (s.rankKind === '1pct' ? `top 1 % (r = ${s.rank})` : `r = k = ${s.rank}`);

function headlineSimilarities(e: AnalysisEntry): SubspaceSimilarity[] {
  const order: RankKind[] = ['1pct', 'k'];
  return e.similarity
    .filter((s) => s.side === 'input')
    .sort((a, b) => order.indexOf(a.rankKind) - order.indexOf(b.rankKind) || a.on.localeCompare(b.on));
}

const base = (e: AnalysisEntry): string => `layer${e.layer}-${e.matrix}`;

interface EntryCharts {
  entry: AnalysisEntry;
  /** [file name, svg, caption] */
  charts: [string, string, string][];
}

function chartsOf(e: AnalysisEntry): EntryCharts {
  const labels = Array.from({ length: e.experts }, (_, i) => `e${i}`);
  const charts: [string, string, string][] = [];
  for (const s of headlineSimilarities(e)) {
    charts.push([
      `${base(e)}-similarity-${s.on}-${s.side}-${s.rankKind}.svg`,
      heatmap({
        values: s.matrix, rowLabels: labels, colLabels: labels, min: 0, max: 1, valueLabel: 'similarity',
        title: `L${e.layer} ${e.matrix}: ${s.side}-side similarity, ${RANK_LABEL(s)}`,
      }),
      `Pairwise principal-subspace similarity of ${ON_LABEL[s.on]}, ${s.side} side, ${RANK_LABEL(s)}; mean over pairs ${formatNumber(s.mean)}, chance level ${formatNumber(s.chance)}.`,
    ]);
  }
  for (const en of e.energy) {
    charts.push([
      `${base(e)}-energy-${en.on}.svg`,
      barChart({
        bars: en.perExpert.map((v, i) => ({ label: labels[i], value: v })), min: 0, max: 1, yLabel: 'energy share',
        title: `L${e.layer} ${e.matrix}: energy in top 1 % (${en.on})`, references: [{ value: 0.3, label: 'paper: > 0.3' }],
      }),
      `Share of the squared singular values in the top ${en.rank} (1 %) directions, per expert (${ON_LABEL[en.on]}); mean ${formatNumber(en.mean)}.`,
    ]);
  }
  if (e.alignment) {
    const J = e.alignment.directions;
    const meanAt = (j: number): number => e.alignment!.perExpert.reduce((s, a) => s + a[j], 0) / e.alignment!.perExpert.length;
    charts.push([
      `${base(e)}-alignment.svg`,
      barChart({
        bars: Array.from({ length: J }, (_, j) => ({ label: String(j + 1), value: meanAt(j) })), min: 0, xLabel: 'singular index j', yLabel: 'cos²(router, u_j)',
        title: `L${e.layer} ${e.matrix}: router alignment`, references: [{ value: 1 / e.rows, label: 'random: 1/dim' }],
      }),
      `Squared cosine between each expert's router column and the j-th input-side singular direction of that expert (${ON_LABEL[e.alignment.on]}), mean over experts (the paper's Fig. 9b). First direction: ${formatNumber(e.alignment.first)}; its share of the top ${J}: ${formatNumber(e.alignment.firstShare)}.`,
    ]);
  }
  if (e.sd) {
    const bars = e.sd.leakage.input.perExpert.flatMap((v, i) => [
      { label: `${labels[i]} in`, value: v, color: '#4682b4' },
      { label: `${labels[i]} out`, value: e.sd!.leakage.output.perExpert[i], color: '#e07b39' },
    ]);
    charts.push([
      `${base(e)}-leakage.svg`,
      barChart({ bars, min: 0, yLabel: 'energy share', title: `L${e.layer} ${e.matrix}: SD leakage` }),
      `Share of W_u(i)'s energy inside the common subspace: input side ‖U_kᵀW_u‖² (blue), output side ‖W_u V_k‖² (orange); 0 when decoupling holds exactly. W_c numerical rank ${e.sd.commonNumericalRank} (k = ${e.sd.rank}).`,
    ]);
  }
  return { entry: e, charts };
}

function overview(result: AnalysisResult): string | undefined {
  // A line needs two layers; with one, the summary table says it all.
  if (new Set(result.entries.map((e) => e.layer)).size < 2) return undefined;
  const kinds = [...new Set(result.entries.map((e) => e.matrix))];
  const series: Series[] = [];
  for (const kind of kinds) {
    const es = result.entries.filter((e) => e.matrix === kind);
    const on = es.some((e) => e.decoupled) ? 'unique' : 'experts';
    const pts = es.map((e) => [e.layer, e.similarity.find((s) => s.on === (e.decoupled ? on : 'experts') && s.side === 'input' && s.rankKind === '1pct')?.mean ?? NaN] as const);
    series.push({ name: `${kind} (${on})`, points: pts });
  }
  return lineChart({ series, title: 'Mean pairwise similarity per layer (input side, top 1 %)', xLabel: 'layer', yLabel: 'similarity', yMin: 0, yMax: 1, integerX: true });
}

const EXPLANATIONS: [string, string][] = [
  ['Principal-subspace similarity (heatmaps)',
    'For experts a and b with top-r singular bases Q_a, Q_b on one side of the matrix, sim(a, b) = ‖Q_aᵀQ_b‖²_F / r: the mean squared cosine of the principal angles, in [0, 1] (1 = same subspace). r = 1 % of min(rows, cols), rounded up, or r = k. Independent random subspaces score about r / dim (“chance”). The paper reports high similarity for pretrained MoEs and < 0.1 for SD-MoE; its own formula (eqs. 1–5) was not recovered, so this is the digest’s stand-in.'],
  ['Energy in the top 1 % (bars per expert)',
    'E_r = Σ_{j≤r} σ_j² / Σ_j σ_j², the share of the squared singular values in the top 1 % of directions. The paper calls an expert anisotropic when this exceeds 30 %. Stand-in for the paper’s unrecovered definition.'],
  ['Router alignment (bars per singular index, Fig. 9b)',
    'For each expert e with router column g_e and input-side singular directions u_1, u_2, … of that expert’s matrix: cos²(g_e, u_j), averaged over experts. Mass concentrated at j = 1 means the gate is dominated by the common leading direction; SD-MoE spreads it. Only for gate/up matrices, whose input is the model dimension the router also reads. Stand-in: the paper’s exact measure was not recovered.'],
  ['SD leakage (SD-MoE checkpoints only)',
    'How much of each unique part W_u(i) lies in the common subspace it should avoid: ‖U_kᵀW_u(i)‖² / ‖W_u(i)‖² (input side) and ‖W_u(i)V_k‖² / ‖W_u(i)‖² (output side). 0 when the decoupling holds exactly.'],
  ['Matrices',
    'Matrices are stored [in, out] (y = x·W): gate and up map the model dimension to the expert hidden size, down maps back. Hugging Face nn.Linear weights [out, in] are transposed on load. For SD-MoE the experts as the model uses them are the proxies W_c + W_u(i), which share W_c by construction; W_u(i) alone shows whether the unique parts differ.'],
];

function summaryTable(result: AnalysisResult): string {
  const rows = Object.entries(result.summary).map(([k, v]) => [k, typeof v === 'number' ? formatNumber(v, 4) : v]);
  return table(['headline (mean over analysed matrices)', 'value'], rows);
}

function modelTable(result: AnalysisResult): string {
  const m = result.model;
  const rows: [string, string][] = [
    ['path', m.path],
    ['format', `${m.format} (${m.architecture})`],
    ...(m.name ? [['model', m.name] as [string, string]] : []),
    ...(m.step !== undefined ? [['step', String(m.step)] as [string, string]] : []),
    ['weights', m.files],
    ['layers (MoE)', `${m.layers} (${m.moeLayers.length}: ${m.moeLayers.join(', ')})`],
    ['routed experts, top-k', `${m.experts}, top-${m.topK}`],
    ['hidden size, expert hidden', `${m.hiddenSize}, ${m.expertHidden}`],
    ...(m.sharedExperts ? [['shared experts', m.sharedExperts] as [string, string]] : []),
    ['analysed', `layers ${result.options.layers.join(', ')}; matrices ${result.options.matrices.join(', ')}`],
  ];
  return table(['', ''], rows);
}

function entryTable(result: AnalysisResult): string {
  const rows = result.entries.map((e) => {
    const main = e.decoupled ? 'proxies' : 'experts';
    const sim = (on: string, r: RankKind): string => formatNumber(e.similarity.find((s) => s.on === on && s.side === 'input' && s.rankKind === r)?.mean ?? NaN);
    return [
      `L${e.layer} ${e.matrix}`, `[${e.rows}, ${e.cols}]`, sim(main, '1pct'), e.decoupled ? sim('unique', '1pct') : '–',
      formatNumber(e.energy.find((x) => x.on === main)?.mean ?? NaN), e.alignment ? formatNumber(e.alignment.first) : '–',
      e.sd ? formatNumber(Math.max(e.sd.leakage.input.mean, e.sd.leakage.output.mean)) : '–',
    ];
  });
  return table(['matrix', '[in, out]', 'similarity (top 1 %)', 'W_u similarity', 'energy top 1 %', 'router align j=1', 'leakage'], rows);
}

/** Most layers drawn on the page; more would make it hundreds of MB for a 60-expert model. */
export const PAGE_MAX_LAYERS = 6;

/** Up to `max` layers spread evenly over the list, first and last included (like the paper's 0/8/16/23). */
export function pageLayers(layers: readonly number[], max = PAGE_MAX_LAYERS): number[] {
  if (layers.length <= max) return [...layers];
  return [...new Set(Array.from({ length: max }, (_, i) => layers[Math.round((i * (layers.length - 1)) / (max - 1))]))];
}

/** Every output file of an analysis (the JSON, one SVG per chart, the page). */
export function renderReport(result: AnalysisResult, footer?: string): ReportFile[] {
  const files: ReportFile[] = [{ name: 'analysis.json', content: analysisJson(result) }];
  const perEntry = result.entries.map(chartsOf);
  const over = overview(result);
  if (over) files.push({ name: 'svg/overview-similarity.svg', content: over });
  for (const { charts } of perEntry) for (const [name, svg] of charts) files.push({ name: `svg/${name}`, content: svg });

  const allLayers = [...new Set(result.entries.map((e) => e.layer))];
  const layers = pageLayers(allLayers);
  const omitted = allLayers.length - layers.length;
  const sections: Section[] = [
    { id: 'model', heading: 'Checkpoint', html: modelTable(result) + (result.model.notes.length ? `<ul>${result.model.notes.map((n) => `<li>${escapeXml(n)}</li>`).join('')}</ul>` : '') },
    { id: 'metrics', heading: 'How to read this page', html: `<p class="note">${escapeXml('Every metric here is an implementer’s stand-in for the paper’s §2 analysis, whose formulas were not recovered (docs/analyze.md). Compare with the paper qualitatively only.')}</p>` + EXPLANATIONS.map(([h, t]) => `<h3>${escapeXml(h)}</h3>${paragraph(t)}`).join('') },
    {
      id: 'summary',
      heading: 'Summary',
      html: summaryTable(result) + entryTable(result) + (over ? figure(over, 'Mean pairwise similarity per layer and matrix kind (W_u(i) for SD matrices).') : '') +
        (omitted > 0 ? paragraph(`Charts of ${layers.length} of the ${allLayers.length} analysed layers are drawn below (${layers.join(', ')}); every layer's charts are in svg/ and every number in analysis.json.`, 'note') : ''),
    },
    ...layers.map((l) => ({
      id: `layer-${l}`,
      heading: `Layer ${l}`,
      html: perEntry.filter((p) => p.entry.layer === l).map((p) => `<h3>${escapeXml(`${p.entry.matrix} (${p.entry.experts} experts, [${p.entry.rows}, ${p.entry.cols}])`)}</h3>` + figures(p.charts.map(([, svg, cap]) => figure(svg, cap)))).join(''),
    })),
  ];
  const title = `Expert analysis: ${result.model.name ?? result.model.architecture}${result.model.step !== undefined ? ` step ${result.model.step}` : ''}`;
  files.push({ name: 'index.html', content: htmlPage({ title, sections, footer }) });
  return files;
}
