// Compiler-style diagnostics: `file:line:col: error: message`, the source line, a caret under the
// offending span, then notes and hints. Formatting is pure text (no colour) so golden files can
// compare it byte for byte. Suggestions ("did you mean") use edit distance over known names.
import { distance } from 'fastest-levenshtein';
import type { Loc } from './source.ts';

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  severity: Severity;
  message: string;
  /** Absent only for problems with no place in any text (e.g. an unreadable file path). */
  loc?: Loc;
  /** Secondary locations, e.g. where a duplicate was first defined. */
  notes?: { message: string; loc?: Loc }[];
  hint?: string;
}

/** Collects diagnostics from every stage; identical ones (same place, same text) are kept once,
 *  because an error in a base model would otherwise repeat for every model that extends it. */
export class DiagnosticBag {
  readonly items: Diagnostic[] = [];
  private readonly seen = new Set<string>();

  add(d: Diagnostic): void {
    const key = `${d.severity}|${d.loc?.source.name}|${d.loc?.offset}|${d.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.items.push(d);
  }
  error(message: string, loc?: Loc, extra: Partial<Diagnostic> = {}): void {
    this.add({ severity: 'error', message, loc, ...extra });
  }
  warning(message: string, loc?: Loc, extra: Partial<Diagnostic> = {}): void {
    this.add({ severity: 'warning', message, loc, ...extra });
  }
  get errors(): Diagnostic[] {
    return this.items.filter((d) => d.severity === 'error');
  }
  get warnings(): Diagnostic[] {
    return this.items.filter((d) => d.severity === 'warning');
  }
  hasErrors(): boolean {
    return this.items.some((d) => d.severity === 'error');
  }
  /** By place, not by severity: a reader follows the file top to bottom. */
  sorted(): Diagnostic[] {
    return [...this.items].sort((a, b) => {
      const bySource = (a.loc?.source.id ?? -1) - (b.loc?.source.id ?? -1);
      return bySource !== 0 ? bySource : (a.loc?.offset ?? -1) - (b.loc?.offset ?? -1);
    });
  }
}

/** The closest candidate within a distance that still looks like a typo, or undefined. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const lower = word.toLowerCase();
  for (const candidate of candidates) {
    const d = distance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  if (best === undefined) return undefined;
  // Short words tolerate one edit, longer ones two or three (a swapped pair of letters costs two).
  const longest = Math.max(word.length, best.length);
  const allowed = longest <= 3 ? 1 : longest <= 8 ? 2 : 3;
  return bestDistance <= allowed && bestDistance > 0 ? best : undefined;
}

/** ", did you mean 'x'?" or "" — ready to append to a message. */
export function suggestion(word: string, candidates: Iterable<string>, quote = true): string {
  const best = didYouMean(word, candidates);
  if (!best) return '';
  return quote ? `, did you mean '${best}'?` : `, did you mean ${best}?`;
}

function renderSnippet(loc: Loc): string[] {
  const text = loc.source.lineText(loc.line);
  const gutter = String(loc.line);
  const pad = ' '.repeat(gutter.length);
  // Tabs are kept in the caret line so the caret lines up under tab-indented source.
  const lead = text.slice(0, loc.column - 1).replace(/[^\t]/g, ' ');
  const width = Math.max(1, Math.min(loc.length, text.length - (loc.column - 1)));
  return [` ${gutter} | ${text}`, ` ${pad} | ${lead}${'^'.repeat(width)}`];
}

function where(loc: Loc | undefined): string {
  return loc ? `${loc.source.name}:${loc.line}:${loc.column}: ` : '';
}

/** One diagnostic as the CLI prints it (no trailing newline). */
export function formatDiagnostic(d: Diagnostic): string {
  const lines = [`${where(d.loc)}${d.severity}: ${d.message}`];
  if (d.loc) lines.push(...renderSnippet(d.loc));
  for (const note of d.notes ?? []) {
    lines.push(`${where(note.loc)}note: ${note.message}`);
    if (note.loc) lines.push(...renderSnippet(note.loc));
  }
  if (d.hint) lines.push(`  hint: ${d.hint}`);
  return lines.join('\n');
}

/** All diagnostics plus a count line, e.g. "2 errors, 1 warning". */
export function formatDiagnostics(diagnostics: Diagnostic[]): string {
  if (diagnostics.length === 0) return '';
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const summary = [errors ? plural(errors, 'error') : '', warnings ? plural(warnings, 'warning') : '']
    .filter(Boolean)
    .join(', ');
  return diagnostics.map(formatDiagnostic).join('\n\n') + `\n\n${summary}\n`;
}
