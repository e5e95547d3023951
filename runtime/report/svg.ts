// Small, dependency-free SVG charts for reports (analysis pages, experiment reports): a heatmap, a
// bar chart and a line chart with several series and optional log axes. Each function returns one
// self-contained `<svg>` element as a string, suitable for inlining into an HTML page or writing to
// a .svg file (it carries its own xmlns, so it opens standalone in a browser).
// Invariants:
//   - every piece of caller text goes through escapeXml (labels may be tensor names or user paths);
//   - non-finite values are drawn as "no data" (grey cell / missing bar / gap in a line), never as
//     NaN coordinates, which browsers reject with console errors;
//   - elements carry stable classes (`cell`, `bar`, `series`) and data-* attributes so tests and
//     stylesheets can find them; every mark has a <title> tooltip with its exact value.
// Hand-written rather than a charting library: these four charts are ~300 lines, need no DOM
// (they run in Node), and a library such as d3 would need a DOM shim or a headless browser.

/** Escape text for XML/HTML element content and double-quoted attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A compact, finite-safe number for labels and tooltips. */
export function formatNumber(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'n/a' : v > 0 ? '∞' : '−∞';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(digits - 1);
  return Number(v.toPrecision(digits)).toString();
}

/** Coordinates rounded to 0.01 px keep files small and stable across platforms. */
const px = (v: number): string => String(Math.round(v * 100) / 100);

// Viridis at 9 stops (matplotlib's, perceptually uniform and colour-blind friendly).
const VIRIDIS: readonly [number, number, number][] = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];
// Blue – white – red for signed quantities centred on zero.
const DIVERGING: readonly [number, number, number][] = [[33, 102, 172], [247, 247, 247], [178, 24, 43]];

export type ColorScale = 'viridis' | 'diverging';
const NO_DATA = '#d0d0d0';

/** Colour for t in [0, 1] on the given scale (clamped). */
export function colorAt(t: number, scale: ColorScale = 'viridis'): string {
  if (!Number.isFinite(t)) return NO_DATA;
  const stops = scale === 'viridis' ? VIRIDIS : DIVERGING;
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const c = stops[i].map((v, k) => Math.round(v + f * (stops[i + 1][k] - v)));
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** Black or white text, whichever reads on the given #rrggbb background. */
function textOn(hex: string): string {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return 0.299 * r + 0.587 * g + 0.114 * b > 140 ? '#000' : '#fff';
}

function svgOpen(width: number, height: number, cls: string, title?: string): string {
  const label = title ? ` role="img" aria-label="${escapeXml(title)}"` : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" class="${cls}" width="${px(width)}" height="${px(height)}" viewBox="0 0 ${px(width)} ${px(height)}" font-family="sans-serif" font-size="11"${label}>`;
}

/** Width a bold 13 px title needs (an estimate: no font metrics without a DOM). */
function titleWidth(title: string | undefined): number {
  return title ? 12 + 7.5 * title.length : 0;
}

function titleText(title: string | undefined, x: number): string {
  return title ? `<text x="${px(x)}" y="16" font-size="13" font-weight="bold">${escapeXml(title)}</text>` : '';
}

function finiteExtent(values: Iterable<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 1];
}

export interface HeatmapOptions {
  /** values[i][j]: row i, column j; rows may be ragged only if all are equally long. */
  values: readonly (readonly number[])[];
  title?: string;
  rowLabels?: readonly string[];
  colLabels?: readonly string[];
  /** Colour range; defaults to the data's finite extent. */
  min?: number;
  max?: number;
  scale?: ColorScale;
  /** Cell edge in px (default: fits the matrix into ~320 px, between 6 and 40). */
  cellSize?: number;
  /** Print the value inside each cell (default when cells are ≥ 28 px). */
  showValues?: boolean;
  /** Text under the colour bar's name, e.g. "similarity". */
  valueLabel?: string;
}

/** A matrix as coloured cells, with row/column labels and a colour bar. */
export function heatmap(o: HeatmapOptions): string {
  const rows = o.values.length;
  const cols = rows ? o.values[0].length : 0;
  for (const r of o.values) if (r.length !== cols) throw new Error('heatmap: rows have different lengths');
  const [dlo, dhi] = finiteExtent(o.values.flat());
  const lo = o.min ?? dlo;
  const hi = o.max ?? (dhi > lo ? dhi : lo + 1);
  const cell = o.cellSize ?? Math.max(6, Math.min(40, Math.floor(320 / Math.max(1, rows, cols))));
  const showValues = o.showValues ?? cell >= 28;
  const rowLabels = o.rowLabels ?? Array.from({ length: rows }, (_, i) => String(i));
  const colLabels = o.colLabels ?? Array.from({ length: cols }, (_, j) => String(j));
  const labelW = 8 + 6.5 * Math.max(1, ...rowLabels.map((l) => l.length));
  const top = (o.title ? 24 : 4) + 16;
  const left = labelW;
  const gridW = cols * cell;
  const gridH = rows * cell;
  const barX = left + gridW + 16;
  const width = Math.max(barX + 60, titleWidth(o.title));
  const height = Math.max(top + gridH + 8, top + 120);
  const out: string[] = [svgOpen(width, height, 'heatmap', o.title), titleText(o.title, 4)];
  const labelEvery = Math.ceil(11 / cell); // skip labels that would overlap
  colLabels.forEach((l, j) => {
    if (j % labelEvery) return;
    out.push(`<text x="${px(left + (j + 0.5) * cell)}" y="${px(top - 4)}" text-anchor="middle">${escapeXml(l)}</text>`);
  });
  rowLabels.forEach((l, i) => {
    if (i % labelEvery) return;
    out.push(`<text x="${px(left - 4)}" y="${px(top + (i + 0.5) * cell + 4)}" text-anchor="end">${escapeXml(l)}</text>`);
  });
  const span = hi - lo || 1;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const v = o.values[i][j];
      const fill = colorAt((v - lo) / span, o.scale);
      const x = left + j * cell;
      const y = top + i * cell;
      out.push(
        `<rect class="cell" data-row="${i}" data-col="${j}" x="${px(x)}" y="${px(y)}" width="${px(cell)}" height="${px(cell)}" fill="${fill}">` +
          `<title>${escapeXml(`${rowLabels[i]} × ${colLabels[j]}: ${formatNumber(v, 4)}`)}</title></rect>`,
      );
      if (showValues && Number.isFinite(v)) {
        out.push(`<text x="${px(x + cell / 2)}" y="${px(y + cell / 2 + 4)}" text-anchor="middle" font-size="10" fill="${textOn(fill)}" pointer-events="none">${escapeXml(formatNumber(v, 2))}</text>`);
      }
    }
  }
  // Colour bar: 10 steps from hi (top) to lo (bottom).
  const steps = 10;
  const barH = Math.max(100, gridH);
  for (let s = 0; s < steps; s++) {
    out.push(`<rect x="${px(barX)}" y="${px(top + (s * barH) / steps)}" width="12" height="${px(barH / steps + 0.5)}" fill="${colorAt(1 - (s + 0.5) / steps, o.scale)}"/>`);
  }
  out.push(`<text x="${px(barX + 16)}" y="${px(top + 8)}">${escapeXml(formatNumber(hi))}</text>`);
  out.push(`<text x="${px(barX + 16)}" y="${px(top + barH)}">${escapeXml(formatNumber(lo))}</text>`);
  if (o.valueLabel) out.push(`<text x="${px(barX)}" y="${px(top - 4)}">${escapeXml(o.valueLabel)}</text>`);
  out.push('</svg>');
  return out.join('');
}

export interface Bar {
  label: string;
  value: number;
  /** Optional fill colour (default steel blue). */
  color?: string;
}

export interface BarChartOptions {
  bars: readonly Bar[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Axis range; defaults to [min(0, data), max(data)]. */
  min?: number;
  max?: number;
  /** Dashed horizontal reference lines, e.g. a threshold from the paper. */
  references?: readonly { value: number; label: string }[];
  width?: number;
  height?: number;
}

interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
}

/** About five round ticks covering [lo, hi]. */
function niceAxis(lo: number, hi: number): Axis {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const nlo = Math.floor(lo / step + 1e-9) * step;
  const nhi = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let t = nlo; t <= nhi + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  return { lo: nlo, hi: nhi, ticks };
}

/** Decade ticks for a log axis over [lo, hi] (both > 0). */
function logAxis(lo: number, hi: number): Axis {
  const a = Math.floor(Math.log10(lo));
  const b = Math.max(a + 1, Math.ceil(Math.log10(hi)));
  const ticks: number[] = [];
  for (let e = a; e <= b; e++) ticks.push(10 ** e);
  return { lo: 10 ** a, hi: 10 ** b, ticks };
}

/** Vertical bars with a value axis, optional reference lines. */
export function barChart(o: BarChartOptions): string {
  const n = o.bars.length;
  const [dlo, dhi] = finiteExtent(o.bars.map((b) => b.value));
  const axis = o.min !== undefined || o.max !== undefined
    ? { lo: o.min ?? Math.min(0, dlo), hi: o.max ?? dhi, ticks: niceAxis(o.min ?? Math.min(0, dlo), o.max ?? dhi).ticks }
    : niceAxis(Math.min(0, dlo), Math.max(dhi, ...(o.references ?? []).map((r) => r.value)));
  const ticks = axis.ticks.filter((t) => t >= axis.lo - 1e-12 && t <= axis.hi + 1e-12);
  const left = 52;
  const top = o.title ? 28 : 10;
  const width = o.width ?? Math.max(240, titleWidth(o.title), Math.min(720, left + 20 + n * 26));
  const height = o.height ?? 220;
  const bottom = 36 + (o.xLabel ? 14 : 0);
  const plotW = width - left - 12;
  const plotH = height - top - bottom;
  const y = (v: number): number => top + plotH * (1 - (v - axis.lo) / (axis.hi - axis.lo || 1));
  const out: string[] = [svgOpen(width, height, 'bar-chart', o.title), titleText(o.title, 4)];
  for (const t of ticks) {
    out.push(`<line x1="${px(left)}" x2="${px(left + plotW)}" y1="${px(y(t))}" y2="${px(y(t))}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${px(left - 4)}" y="${px(y(t) + 4)}" text-anchor="end">${escapeXml(formatNumber(t))}</text>`);
  }
  const slot = plotW / Math.max(1, n);
  const bw = Math.max(1, slot * 0.8);
  // Skip tick labels that would overlap their neighbours (≈ 6.5 px per character at 11 px).
  const labelEvery = Math.max(1, Math.ceil((8 + 6.5 * Math.max(1, ...o.bars.map((b) => b.label.length))) / slot));
  const zero = y(Math.min(axis.hi, Math.max(axis.lo, 0)));
  o.bars.forEach((b, i) => {
    const x = left + i * slot + (slot - bw) / 2;
    if (Number.isFinite(b.value)) {
      const v = Math.min(axis.hi, Math.max(axis.lo, b.value));
      const y0 = Math.min(zero, y(v));
      out.push(
        `<rect class="bar" data-index="${i}" x="${px(x)}" y="${px(y0)}" width="${px(bw)}" height="${px(Math.max(0.5, Math.abs(y(v) - zero)))}" fill="${escapeXml(b.color ?? '#4682b4')}">` +
          `<title>${escapeXml(`${b.label}: ${formatNumber(b.value, 4)}`)}</title></rect>`,
      );
    }
    if (i % labelEvery === 0) out.push(`<text x="${px(left + (i + 0.5) * slot)}" y="${px(top + plotH + 14)}" text-anchor="middle">${escapeXml(b.label)}</text>`);
  });
  out.push(`<line x1="${px(left)}" x2="${px(left + plotW)}" y1="${px(zero)}" y2="${px(zero)}" stroke="#555"/>`);
  for (const r of o.references ?? []) {
    if (!(r.value >= axis.lo && r.value <= axis.hi)) continue;
    out.push(`<line class="reference" x1="${px(left)}" x2="${px(left + plotW)}" y1="${px(y(r.value))}" y2="${px(y(r.value))}" stroke="#c0392b" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${px(left + plotW - 2)}" y="${px(y(r.value) - 3)}" text-anchor="end" fill="#c0392b">${escapeXml(r.label)}</text>`);
  }
  if (o.xLabel) out.push(`<text x="${px(left + plotW / 2)}" y="${px(height - 6)}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  if (o.yLabel) out.push(`<text transform="translate(12 ${px(top + plotH / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`);
  out.push('</svg>');
  return out.join('');
}

export interface Series {
  name: string;
  /** [x, y] points, drawn in the given order; non-finite (or ≤ 0 on a log axis) points break the line. */
  points: readonly (readonly [number, number])[];
  color?: string;
  dashed?: boolean;
}

export interface LineChartOptions {
  series: readonly Series[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  logX?: boolean;
  logY?: boolean;
  width?: number;
  height?: number;
  /** Axis ranges; default to the data's extent. */
  xMin?: number;
  xMax?: number;
  yMin?: number;
  yMax?: number;
  /** Only integer x ticks (layers, steps). */
  integerX?: boolean;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** Several named series on shared axes, with a legend; linear or log x / y. */
export function lineChart(o: LineChartOptions): string {
  const usable = (v: number, log: boolean | undefined): boolean => Number.isFinite(v) && (!log || v > 0);
  const xs = o.series.flatMap((s) => s.points.filter((p) => usable(p[0], o.logX) && usable(p[1], o.logY)).map((p) => p[0]));
  const ys = o.series.flatMap((s) => s.points.filter((p) => usable(p[0], o.logX) && usable(p[1], o.logY)).map((p) => p[1]));
  const [xl, xh] = finiteExtent(xs);
  const [yl, yh] = finiteExtent(ys);
  const xAxis = o.logX ? logAxis(o.xMin ?? xl, o.xMax ?? Math.max(xh, xl * 10)) : niceAxis(o.xMin ?? xl, o.xMax ?? xh);
  const yAxis = o.logY ? logAxis(o.yMin ?? yl, o.yMax ?? Math.max(yh, yl * 10)) : niceAxis(o.yMin ?? yl, o.yMax ?? yh);
  const width = o.width ?? 480;
  const legendH = 14 * Math.ceil(o.series.length / 3);
  const height = (o.height ?? 260) + legendH;
  const left = 58;
  const top = o.title ? 28 : 10;
  const bottom = 34 + (o.xLabel ? 12 : 0) + legendH;
  const plotW = width - left - 14;
  const plotH = height - top - bottom;
  const tx = (v: number): number => (o.logX ? Math.log10(v) : v);
  const ty = (v: number): number => (o.logY ? Math.log10(v) : v);
  const X = (v: number): number => left + (plotW * (tx(v) - tx(xAxis.lo))) / (tx(xAxis.hi) - tx(xAxis.lo) || 1);
  const Y = (v: number): number => top + plotH * (1 - (ty(v) - ty(yAxis.lo)) / (ty(yAxis.hi) - ty(yAxis.lo) || 1));
  const out: string[] = [svgOpen(width, height, 'line-chart', o.title), titleText(o.title, 4)];
  for (const t of yAxis.ticks) {
    out.push(`<line x1="${px(left)}" x2="${px(left + plotW)}" y1="${px(Y(t))}" y2="${px(Y(t))}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${px(left - 4)}" y="${px(Y(t) + 4)}" text-anchor="end">${escapeXml(formatNumber(t))}</text>`);
  }
  const xTicks = o.integerX ? xAxis.ticks.filter((t) => Number.isInteger(t)) : xAxis.ticks;
  for (const t of xTicks) {
    out.push(`<line x1="${px(X(t))}" x2="${px(X(t))}" y1="${px(top)}" y2="${px(top + plotH)}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${px(X(t))}" y="${px(top + plotH + 14)}" text-anchor="middle">${escapeXml(formatNumber(t))}</text>`);
  }
  out.push(`<rect x="${px(left)}" y="${px(top)}" width="${px(plotW)}" height="${px(plotH)}" fill="none" stroke="#555"/>`);
  o.series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length];
    const segments: string[][] = [[]];
    for (const [x, y] of s.points) {
      if (usable(x, o.logX) && usable(y, o.logY)) segments[segments.length - 1].push(`${px(X(x))},${px(Y(y))}`);
      else if (segments[segments.length - 1].length) segments.push([]);
    }
    const dash = s.dashed ? ' stroke-dasharray="5 3"' : '';
    out.push(`<g class="series" data-series="${k}"><title>${escapeXml(s.name)}</title>`);
    for (const seg of segments) {
      if (seg.length > 1) out.push(`<polyline points="${seg.join(' ')}" fill="none" stroke="${escapeXml(color)}" stroke-width="1.5"${dash}/>`);
    }
    // Markers on short series (and on isolated points, which have no line), so overlapping series stay visible.
    const drawn = segments.flat();
    if (drawn.length <= 40 || segments.some((seg) => seg.length === 1)) {
      for (const seg of segments) {
        if (drawn.length > 40 && seg.length !== 1) continue;
        for (const p of seg) out.push(`<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="${2.5 + 1.5 * (o.series.length - 1 - k) / Math.max(1, o.series.length - 1)}" fill="${escapeXml(color)}"/>`);
      }
    }
    out.push('</g>');
    const lx = left + (k % 3) * (plotW / 3);
    const ly = height - legendH + 14 * Math.floor(k / 3) + 4;
    out.push(`<line x1="${px(lx)}" x2="${px(lx + 16)}" y1="${px(ly - 4)}" y2="${px(ly - 4)}" stroke="${escapeXml(color)}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${px(lx + 20)}" y="${px(ly)}">${escapeXml(s.name)}</text>`);
  });
  if (o.xLabel) out.push(`<text x="${px(left + plotW / 2)}" y="${px(top + plotH + 28)}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  if (o.yLabel) out.push(`<text transform="translate(12 ${px(top + plotH / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`);
  out.push('</svg>');
  return out.join('');
}
