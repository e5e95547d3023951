// OUT/report.html: one self-contained page (inline SVG and CSS, no scripts, no network) with the
// loss curves of every cell, held-out bits/byte against peak learning rate per arm, and heatmaps
// of any matrix-valued similarity diagnostic found in the cells' last eval lines. The SVG here is
// deliberately minimal (axes, lines, points, cells); the `analyze` branch's runtime/report/ chart
// helpers were not on a branch yet when this was written.
import type { CellResult, GroupSummary } from './results.ts';

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

interface Series {
  readonly label: string;
  readonly color: string;
  readonly points: readonly (readonly [number, number])[];
  readonly line: boolean;
}

function ticks(lo: number, hi: number, n: number): number[] {
  if (!(hi > lo)) return [lo];
  return Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);
}

function num(x: number): string {
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-2 || a >= 1e4) ? x.toExponential(1) : x.toPrecision(3);
}

/** A line / scatter chart; `logX` plots log10(x) with ticks at the data's x values. */
function chart(title: string, xLabel: string, yLabel: string, series: readonly Series[], logX = false): string {
  const W = 640, H = 360, L = 60, R = 170, T = 30, B = 45;
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!logX || x > 0));
  if (pts.length === 0) return `<p><em>${esc(title)}: no data yet.</em></p>`;
  const tx = (x: number): number => (logX ? Math.log10(x) : x);
  let x0 = Math.min(...pts.map(([x]) => tx(x))), x1 = Math.max(...pts.map(([x]) => tx(x)));
  let y0 = Math.min(...pts.map(([, y]) => y)), y1 = Math.max(...pts.map(([, y]) => y));
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
  const sx = (x: number): number => L + ((tx(x) - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y: number): number => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  parts.push(`<text x="${W / 2 - R / 2}" y="16" text-anchor="middle" font-size="13">${esc(title)}</text>`);
  parts.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#999"/>`);
  const xt = logX ? [...new Set(pts.map(([x]) => x))].sort((a, b) => a - b) : ticks(x0, x1, 5);
  for (const x of xt) {
    const px = logX ? sx(x) : L + ((x - x0) / (x1 - x0)) * (W - L - R);
    parts.push(`<line x1="${px}" y1="${H - B}" x2="${px}" y2="${H - B + 4}" stroke="#999"/><text x="${px}" y="${H - B + 16}" text-anchor="middle">${num(x)}</text>`);
  }
  for (const y of ticks(y0, y1, 5)) parts.push(`<line x1="${L - 4}" y1="${sy(y)}" x2="${L}" y2="${sy(y)}" stroke="#999"/><text x="${L - 6}" y="${sy(y) + 4}" text-anchor="end">${num(y)}</text>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text x="14" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(T + H - B) / 2})">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!logX || x > 0));
    if (s.line && p.length > 1) parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.2" stroke-opacity="0.8" points="${p.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`);
    else for (const [x, y] of p) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    void i;
  });
  const legend = [...new Map(series.map((s) => [s.label, s.color])).entries()];
  legend.forEach(([label, color], i) => parts.push(`<rect x="${W - R + 10}" y="${T + i * 16}" width="10" height="10" fill="${color}"/><text x="${W - R + 24}" y="${T + i * 16 + 9}">${esc(label)}</text>`));
  parts.push('</svg>');
  return parts.join('');
}

/**
 * The trainer's expert diagnostics (runtime/sd/diagnostics.ts) hold eight similarity matrices per
 * layer and matrix kind; the page draws the headline one, input side at r = k on W_u(i) (SD) or
 * the experts (baseline), titled by layer and matrix. results.json keeps them all. Undefined when
 * the eval line has no such diagnostics (the generic search below takes over).
 */
function headlineSimilarities(lastEval: Readonly<Record<string, unknown>>): { path: string; m: number[][] }[] | undefined {
  const list = lastEval.diagnostics;
  if (!Array.isArray(list)) return undefined;
  type Sim = { on?: string; side?: string; rankKind?: string; rank?: number; matrix?: number[][] };
  const out: { path: string; m: number[][] }[] = [];
  for (const d of list as { layer?: number; matrix?: string; similarity?: Sim[] }[]) {
    const sim = d.similarity?.find((x) => (x.on === 'unique' || x.on === 'experts') && x.side === 'input' && x.rankKind === 'k');
    if (sim?.matrix) out.push({ path: `layer ${d.layer} ${d.matrix}: ${sim.on === 'unique' ? 'W_u' : 'experts'}, input side, r = ${sim.rank}`, m: sim.matrix });
  }
  return out.length > 0 ? out : undefined;
}

/** Matrices (arrays of equal-length numeric arrays) inside a value, with their paths. */
function matrices(prefix: string, v: unknown): { path: string; m: number[][] }[] {
  if (Array.isArray(v) && v.length > 0 && v.every((r) => Array.isArray(r) && r.length === (v[0] as unknown[]).length && r.every((x) => typeof x === 'number'))) return [{ path: prefix, m: v as number[][] }];
  if (Array.isArray(v)) return v.flatMap((x, i) => matrices(`${prefix}[${i}]`, x));
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => matrices(prefix ? `${prefix}.${k}` : k, x));
  return [];
}

function heatmap(title: string, m: readonly (readonly number[])[]): string {
  const c = 22, L = 20, T = 24;
  const rows = m.length, cols = m[0].length;
  const flat = m.flat().filter(Number.isFinite);
  const lo = Math.min(0, ...flat), hi = Math.max(1e-12, ...flat);
  const caption = `${title} (0…${num(hi)})`;
  // Wide enough for the caption (about 5.5 px per character at font-size 10), not only the grid.
  const width = Math.max(L + cols * c + 10, L + Math.ceil(caption.length * 5.5) + 10);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${T + rows * c + 10}" font-family="sans-serif" font-size="10">`, `<text x="${L}" y="14">${esc(caption)}</text>`];
  m.forEach((row, i) => row.forEach((x, j) => {
    const t = Number.isFinite(x) ? (x - lo) / (hi - lo) : 0;
    const shade = Math.round(255 * (1 - t));
    parts.push(`<rect x="${L + j * c}" y="${T + i * c}" width="${c - 1}" height="${c - 1}" fill="rgb(${shade},${shade},255)"><title>${i},${j}: ${num(x)}</title></rect>`);
  }));
  parts.push('</svg>');
  return parts.join('');
}

export function reportHtml(title: string, groups: readonly GroupSummary[], results: readonly CellResult[], markdown: string): string {
  const arms = [...new Set(results.map((r) => r.arm))];
  const color = (arm: string): string => PALETTE[arms.indexOf(arm) % PALETTE.length];
  const lossSeries: Series[] = results.map((r) => ({ label: r.arm, color: color(r.arm), points: r.lossCurve, line: true }));
  const lrSeries: Series[] = arms.map((arm) => ({
    label: arm,
    color: color(arm),
    points: results.filter((r) => r.arm === arm && r.heldOut && r.lr !== null).map((r) => [r.lr!, r.heldOut!.bitsPerByte] as const),
    line: false,
  }));
  const heat: string[] = [];
  for (const g of groups) {
    const first = results.find((r) => r.arm === g.arm && JSON.stringify(r.sweep) === JSON.stringify(g.sweep) && r.lastEval);
    if (!first?.lastEval) continue;
    const ms = headlineSimilarities(first.lastEval) ?? matrices('', first.lastEval).filter(({ path }) => /sim|overlap/i.test(path));
    if (ms.length > 0) heat.push(`<h3>${esc(g.label)} (seed ${first.seed})</h3>` + ms.map(({ path, m }) => heatmap(path, m)).join(' '));
  }
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em}pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}svg{margin:4px}</style>
</head><body>
<h1>${esc(title)}</h1>
<h2>Training loss (every cell, coloured by arm)</h2>
${chart('training loss', 'step', 'cross-entropy (nats/token)', lossSeries)}
<h2>Held-out bits/byte against peak learning rate</h2>
${chart('held-out bits/byte', 'peak learning rate (log scale)', 'bits/byte', lrSeries, true)}
<h2>Similarity diagnostics</h2>
${heat.length > 0 ? heat.join('\n') : '<p><em>No matrix-valued similarity diagnostics in the eval lines.</em></p>'}
<h2>Tables</h2>
<pre>${esc(markdown)}</pre>
</body></html>
`;
}
