// The analysis page in a real headless browser (Debian's chromium, installed by scripts/setup.sh,
// driven by puppeteer-core, which never downloads a browser of its own): the page loads from disk
// with no console errors and no failed requests, every heatmap has its E×E cells in the DOM and laid
// out with a size, and a screenshot is a non-empty PNG of more than one colour.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeModel } from '../../runtime/analyze/analyze.ts';
import { loadForAnalysis } from '../../runtime/analyze/load.ts';
import { renderReport } from '../../runtime/analyze/report.ts';
import { EXPERTS, writeHfModel } from './fixtures.ts';

// The project compiles without the DOM lib (adding it would let runtime code use `document`
// unnoticed), so the few browser globals the page-side functions use are declared here.
interface El { querySelectorAll(sel: string): ArrayLike<El> & Iterable<El>; getBoundingClientRect(): { width: number; height: number } }
interface Canvas { width: number; height: number; getContext(kind: '2d'): { drawImage(i: unknown, x: number, y: number): void; getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } }
interface Page { document: El & { title: string; scripts: { length: number }; createElement(tag: 'canvas'): Canvas }; Image: new () => { src: string; width: number; height: number; decode(): Promise<void> } }

const CHROMIUM = process.env.SDMOEC_CHROMIUM ?? '/usr/bin/chromium';
// Flags for a closed network and a root user: no background fetches (refused here, and slow), no
// sandbox (root), no GPU (none on the CI machine).
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

let work: string;
let browser: Browser | undefined;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sdmoec-browser-'));
});
afterAll(async () => {
  await browser?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('analysis page in headless chromium', () => {
  it('renders with every heatmap cell, no console errors or failed requests, and a non-blank screenshot', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh (installs Debian's chromium) or set SDMOEC_CHROMIUM`);
    const fx = writeHfModel(join(work, 'model'), 'mixtral', { dtype: 'BF16' });
    const result = await analyzeModel(await loadForAnalysis(fx.dir), { rankK: 2, alignmentDirections: 6 });
    const out = join(work, 'out');
    for (const f of renderReport(result, 'browser test')) {
      mkdirSync(dirname(join(out, f.name)), { recursive: true });
      writeFileSync(join(out, f.name), f.content);
    }
    const heatmaps = result.entries.reduce((n, e) => n + e.similarity.filter((s) => s.side === 'input').length, 0);

    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true, // puppeteer's "new" headless mode; --headless=new is also passed explicitly
      args: ARGS,
      userDataDir: join(work, 'profile'),
      timeout: 90_000,
    });
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${String(e)}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    await page.setViewport({ width: 1200, height: 900 });
    await page.goto(pathToFileURL(join(out, 'index.html')).href, { waitUntil: 'load', timeout: 60_000 });

    const dom = await page.evaluate(() => {
      const { document } = globalThis as unknown as Page;
      const maps = [...document.querySelectorAll('svg.heatmap')];
      return {
        title: document.title,
        heatmaps: maps.length,
        cellsPerMap: maps.map((m) => m.querySelectorAll('rect.cell').length),
        firstBox: maps.length ? (({ width, height }) => ({ width, height }))(maps[0].getBoundingClientRect()) : null,
        bars: document.querySelectorAll('svg.bar-chart rect.bar').length,
        lines: document.querySelectorAll('svg.line-chart .series').length,
        scripts: document.scripts.length,
      };
    });
    expect(dom.title).toMatch(/^Expert analysis: MixtralForCausalLM/);
    expect(dom.heatmaps).toBe(heatmaps);
    expect(dom.cellsPerMap.every((n) => n === EXPERTS * EXPERTS)).toBe(true);
    expect(dom.firstBox!.width).toBeGreaterThan(100);
    expect(dom.firstBox!.height).toBeGreaterThan(100);
    expect(dom.bars).toBeGreaterThan(0);
    expect(dom.lines).toBe(3); // gate, up, down across layers
    expect(dom.scripts).toBe(0);

    const png = Buffer.from(await page.screenshot({ type: 'png', fullPage: false }));
    writeFileSync(join(work, 'page.png'), png);
    expect(png.length).toBeGreaterThan(10_000);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    // Count colours by decoding the screenshot in a blank page (no PNG decoder needed in Node).
    const probe = await browser.newPage();
    const colours = await probe.evaluate(async (b64: string) => {
      const { document, Image } = globalThis as unknown as Page;
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width;
      c.height = img.height;
      const ctx = c.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      const data = ctx.getImageData(0, 0, c.width, c.height).data;
      const seen = new Set<number>();
      for (let i = 0; i < data.length && seen.size < 1000; i += 4) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      return { width: img.width, height: img.height, distinct: seen.size };
    }, png.toString('base64'));
    expect(colours.width).toBe(1200);
    expect(colours.distinct).toBeGreaterThan(20);
    expect(problems).toEqual([]);
  }, 180_000);
});
