// One self-contained HTML page for reports: inline CSS, inline SVG (from ./svg.ts), no scripts and
// nothing fetched from the network, so the file can be mailed, archived or opened from disk and
// looks the same everywhere. The page shell, a table and a figure helper; callers build sections.
// Invariants: caller text is escaped by the helpers (`html` fields are trusted markup the caller
// built with them); the document declares UTF-8 and a viewport, and a CSP forbidding scripts and
// remote loads, so a report can never phone home.
import { escapeXml } from './svg.ts';

export { escapeXml as escapeHtml };

export interface Section {
  /** Anchor id for the table of contents (letters, digits, dashes). */
  id: string;
  heading: string;
  /** Trusted markup (built with the helpers here and in svg.ts). */
  html: string;
}

export interface PageOptions {
  title: string;
  /** Trusted markup shown under the title. */
  intro?: string;
  sections: readonly Section[];
  /** Plain text in the footer (e.g. the command and version that made the page). */
  footer?: string;
}

const CSS = `
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1rem 1.5rem 3rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .3rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
h3 { margin: 1.2rem 0 .4rem; font-size: 1.05rem; }
nav ul { columns: 2; padding-left: 1.2rem; } nav a { color: #2a5db0; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; } th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem 1.5rem; align-items: flex-start; }
figure { margin: 0; } figcaption { font-size: .85rem; color: #555; max-width: 420px; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .4rem .8rem; font-size: .9rem; }
code { background: #f4f4f4; padding: 0 .2rem; border-radius: 3px; }
footer { margin-top: 3rem; font-size: .8rem; color: #777; }
`;

const SAFE_ID = /^[A-Za-z][A-Za-z0-9_-]*$/;

/** The whole document. */
export function htmlPage(o: PageOptions): string {
  for (const s of o.sections) if (!SAFE_ID.test(s.id)) throw new Error(`htmlPage: section id "${s.id}" is not a plain anchor`);
  const toc = o.sections.length > 1
    ? `<nav><ul>${o.sections.map((s) => `<li><a href="#${s.id}">${escapeXml(s.heading)}</a></li>`).join('')}</ul></nav>`
    : '';
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // No scripts, no remote anything: the page is complete as written.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    `<title>${escapeXml(o.title)}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<h1>${escapeXml(o.title)}</h1>`,
    o.intro ?? '',
    toc,
    ...o.sections.map((s) => `<section id="${s.id}"><h2>${escapeXml(s.heading)}</h2>${s.html}</section>`),
    o.footer ? `<footer>${escapeXml(o.footer)}</footer>` : '',
    '</body></html>',
    '',
  ].join('\n');
}

/** A table of plain-text cells (numbers formatted by the caller); no header row when every header is empty. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const head = headers.some((h) => h) ? `<tr>${headers.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr>` : '';
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeXml(c)}</td>`).join('')}</tr>`).join('');
  return `<table>${head}${body}</table>`;
}

/** An inline SVG (trusted markup) with a plain-text caption. */
export function figure(svg: string, caption?: string): string {
  return `<figure>${svg}${caption ? `<figcaption>${escapeXml(caption)}</figcaption>` : ''}</figure>`;
}

/** Figures side by side, wrapping. */
export function figures(items: readonly string[]): string {
  return `<div class="figures">${items.join('')}</div>`;
}

/** A paragraph of plain text. */
export function paragraph(text: string, cls?: string): string {
  return `<p${cls ? ` class="${escapeXml(cls)}"` : ''}>${escapeXml(text)}</p>`;
}
