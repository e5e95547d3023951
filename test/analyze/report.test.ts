// The generic report charts (runtime/report/svg.ts, html.ts): marks land where the values say,
// caller text is escaped, non-finite values never reach a coordinate.
import { describe, expect, it } from 'vitest';
import { barChart, colorAt, escapeXml, heatmap, lineChart } from '../../runtime/report/svg.ts';
import { htmlPage, table } from '../../runtime/report/html.ts';

const attr = (el: string, name: string): number => Number(new RegExp(`${name}="([^"]+)"`).exec(el)![1]);
const marks = (svg: string, cls: string): string[] => svg.match(new RegExp(`<rect class="${cls}"[^>]*>`, 'g')) ?? [];

describe('svg charts', () => {
  it('heatmap: one cell per entry, colour ordered by value, NaN grey, labels escaped', () => {
    const svg = heatmap({ values: [[0, 0.5, 1], [1, NaN, 0.25]], rowLabels: ['a<b', 'c'], title: 'x & y', min: 0, max: 1 });
    const cells = marks(svg, 'cell');
    expect(cells).toHaveLength(6);
    const fill = (i: number, j: number): string => /fill="([^"]+)"/.exec(cells.find((c) => c.includes(`data-row="${i}" data-col="${j}"`))!)![1];
    expect(fill(0, 0)).toBe(colorAt(0));
    expect(fill(0, 2)).toBe(colorAt(1));
    expect(fill(0, 0)).not.toBe(fill(0, 2));
    expect(fill(1, 1)).toBe('#d0d0d0');
    expect(svg).toContain('a&lt;b');
    expect(svg).toContain('x &amp; y');
    expect(svg).not.toMatch(/NaN"|="NaN/);
  });

  it('bar chart: heights proportional to values from a zero baseline', () => {
    const svg = barChart({ bars: [{ label: 'e0', value: 1 }, { label: 'e1', value: 3 }, { label: 'e2', value: NaN }], min: 0, max: 4 });
    const bars = marks(svg, 'bar');
    expect(bars).toHaveLength(2);
    const h = bars.map((b) => attr(b, 'height'));
    expect(h[1] / h[0]).toBeCloseTo(3, 2);
    // Both bars stand on the same baseline.
    expect(attr(bars[0], 'y') + h[0]).toBeCloseTo(attr(bars[1], 'y') + h[1], 1);
  });

  it('line chart: log-x places decades evenly and breaks lines at unusable points', () => {
    const svg = lineChart({ series: [{ name: 's<1>', points: [[1, 1], [10, 2], [100, 3], [0, 4], [1000, 5], [10000, 6]] }], logX: true });
    const polys = [...svg.matchAll(/points="([^"]+)"/g)].map((m) => m[1].split(' ').map((p) => p.split(',').map(Number)));
    expect(polys).toHaveLength(2); // x = 0 is not drawable on a log axis
    const [a, b, c] = polys[0];
    expect(b[0] - a[0]).toBeCloseTo(c[0] - b[0], 1);
    expect(svg).toContain('s&lt;1&gt;');
  });

  it('escapeXml covers the five XML specials', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

describe('html page', () => {
  it('is a complete document with no scripts and escaped text', () => {
    const page = htmlPage({ title: 'T <1>', sections: [{ id: 'a', heading: 'A', html: table(['h'], [['<x>']]) }, { id: 'b', heading: 'B', html: '' }] });
    expect(page.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(page).toContain('<title>T &lt;1&gt;</title>');
    expect(page).toContain('<td>&lt;x&gt;</td>');
    expect(page).toContain('href="#b"');
    expect(page).not.toMatch(/<script/i);
    expect(() => htmlPage({ title: 't', sections: [{ id: 'a b', heading: '', html: '' }] })).toThrow(/anchor/);
  });
});

describe('analysis page layer selection', () => {
  it('keeps at most six layers, evenly spread, first and last included', async () => {
    const { pageLayers } = await import('../../runtime/analyze/report.ts');
    expect(pageLayers([0, 1, 2])).toEqual([0, 1, 2]);
    expect(pageLayers(Array.from({ length: 24 }, (_, i) => i))).toEqual([0, 5, 9, 14, 18, 23]);
    expect(pageLayers([1, 3, 5, 7, 9, 11, 13, 15], 3)).toEqual([1, 9, 15]); // the middle index 3.5 rounds up
  });
});
