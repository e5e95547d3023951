// What a grid produced: one CellResult per cell (written beside the cell as result.json, and all
// together as OUT/results.json), and their aggregation per arm × sweep setting for results.md.
// Seeds are the unit of replication: a group's spread is the sample standard deviation over its
// seeds, and an arm is compared with the baseline by *paired* differences (same seed, same sweep
// setting), whose spread is usually much smaller than the seed spread because both cells saw the
// same initialisation and batches. Diagnostics are read generically from the last eval line of
// the cell's metrics.jsonl (any numeric field, per-layer arrays averaged), so new fields other
// code logs appear here without changes.
import type { ExperimentConfig } from '../../compiler/config/types.ts';
import { effectiveSettings, type Cell } from './grid.ts';

/** A cell (grid.ts) with what running it produced. */
export interface CellResult extends Cell {
  /** ok: trained and evaluated; diverged: the divergence guard stopped it (a result, not a failure);
   *  error: it could not run (e.g. a setting the compiler does not support yet). */
  readonly status: 'ok' | 'diverged' | 'error';
  readonly diverged?: { step: number; reason: string; message: string };
  readonly error?: string;
  /** Steps trained (the last step reached when diverged). */
  readonly steps: number;
  /** Peak learning rate and clip of the trained config (for charts; read from the run's config.json). */
  readonly lr: number | null;
  readonly clipGrad: number | null;
  /** Held-out metrics at the end, over `heldOutTokens` tokens. */
  readonly heldOut: { loss: number; bitsPerByte: number; tokens: number } | null;
  /** [step, training loss] of every logged step. */
  readonly lossCurve: readonly (readonly [number, number])[];
  /** [step, held-out loss, bits/byte] of every in-training evaluation. */
  readonly evalCurve: readonly (readonly [number, number, number | null])[];
  /** Mean over MoE layers of max/mean expert load, averaged over the logged steps of the last 20 %. */
  readonly loadImbalance: number | null;
  /** Flattened numeric fields of the last eval line (per-layer arrays become their mean). */
  readonly diagnostics: Readonly<Record<string, number>>;
  /** The last eval line as logged (keeps per-layer / per-expert arrays for heatmaps). */
  readonly lastEval: Readonly<Record<string, unknown>> | null;
  /** Training tokens per second over the loop's wall time from step 2 on (shader compilation in
   *  step 1 excluded; re-basing and optimizer included). */
  readonly tokensPerSecond: number | null;
  /** Wall time of the whole cell (compile, train, evaluate). */
  readonly seconds: number;
}

export interface Stat {
  readonly n: number;
  readonly mean: number;
  /** Sample standard deviation (n − 1); NaN for n < 2. */
  readonly std: number;
}

export function stat(values: readonly number[]): Stat {
  const xs = values.filter((v) => Number.isFinite(v));
  const n = xs.length;
  const mean = n > 0 ? xs.reduce((a, b) => a + b, 0) / n : NaN;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN;
  return { n, mean, std };
}

/**
 * The baseline cell a cell is compared with: same seed, and for every key the baseline's cell
 * sweeps, the same value — the cell's own setting of that key (swept or set by its arm) when it
 * has one, else the sweep's first value, which by convention is the file's own setting.
 * Returns null when the cell is a baseline cell or no unique partner exists.
 */
export function pairedBaseline(cell: Cell, cells: readonly Cell[], exp: ExperimentConfig): Cell | null {
  if (cell.arm === exp.baseline) return null;
  const mine = effectiveSettings(cell);
  const firstValue = new Map(exp.sweeps.map((s) => [s.key, s.values[0]]));
  const matches = cells.filter(
    (b) => b.arm === exp.baseline && b.seed === cell.seed && Object.entries(b.sweep).every(([k, v]) => (mine.has(k) ? mine.get(k) === v : firstValue.get(k) === v)),
  );
  return matches.length === 1 ? matches[0] : null;
}

export interface GroupSummary {
  readonly arm: string;
  readonly sweep: Readonly<Record<string, string>>;
  /** Label for tables: `arm key=value …`. */
  readonly label: string;
  readonly cells: number;
  readonly ok: number;
  readonly diverged: number;
  readonly errors: number;
  readonly bitsPerByte: Stat;
  readonly heldOutLoss: Stat;
  readonly perplexity: Stat;
  /** Paired difference of held-out bits/byte to the baseline (this − baseline), over the seeds
   *  where both finished; null for the baseline arm itself. */
  readonly pairedDiff: Stat | null;
  readonly pairs: readonly { seed: number; cell: string; baseline: string; diff: number }[];
  readonly loadImbalance: Stat;
  readonly tokensPerSecond: Stat;
  readonly diagnostics: Readonly<Record<string, Stat>>;
  readonly errorMessages: readonly string[];
}

export function summarize(exp: ExperimentConfig, cells: readonly Cell[], results: ReadonlyMap<string, CellResult>): GroupSummary[] {
  const groups = new Map<string, Cell[]>();
  for (const c of cells) {
    const key = JSON.stringify([c.arm, c.sweep]);
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const out: GroupSummary[] = [];
  for (const members of groups.values()) {
    const { arm, sweep } = members[0];
    const done = members.map((c) => results.get(c.id)).filter((r): r is CellResult => r !== undefined);
    const ok = done.filter((r) => r.status === 'ok' && r.heldOut);
    const pairs: { seed: number; cell: string; baseline: string; diff: number }[] = [];
    if (arm !== exp.baseline) {
      for (const c of members) {
        const r = results.get(c.id);
        const b = pairedBaseline(c, cells, exp);
        const rb = b ? results.get(b.id) : undefined;
        if (r?.heldOut && r.status === 'ok' && rb?.heldOut && rb.status === 'ok' && b) {
          pairs.push({ seed: c.seed, cell: c.id, baseline: b.id, diff: r.heldOut.bitsPerByte - rb.heldOut.bitsPerByte });
        }
      }
    }
    const diagKeys = [...new Set(ok.flatMap((r) => Object.keys(r.diagnostics)))].sort();
    out.push({
      arm,
      sweep,
      label: [arm, ...Object.entries(sweep).map(([k, v]) => `${k}=${v}`)].join(' '),
      cells: members.length,
      ok: ok.length,
      diverged: done.filter((r) => r.status === 'diverged').length,
      errors: done.filter((r) => r.status === 'error').length,
      bitsPerByte: stat(ok.map((r) => r.heldOut!.bitsPerByte)),
      heldOutLoss: stat(ok.map((r) => r.heldOut!.loss)),
      perplexity: stat(ok.map((r) => Math.exp(r.heldOut!.loss))),
      pairedDiff: arm === exp.baseline ? null : stat(pairs.map((p) => p.diff)),
      pairs,
      loadImbalance: stat(ok.map((r) => r.loadImbalance ?? NaN)),
      tokensPerSecond: stat(done.map((r) => r.tokensPerSecond ?? NaN)),
      diagnostics: Object.fromEntries(diagKeys.map((k) => [k, stat(ok.map((r) => r.diagnostics[k] ?? NaN))])),
      errorMessages: [...new Set(done.filter((r) => r.status === 'error').map((r) => r.error ?? ''))],
    });
  }
  return out;
}

/** Numeric leaves of an eval line, per-layer arrays averaged; skips what the tables show anyway. */
export function flattenDiagnostics(entry: Readonly<Record<string, unknown>>): Record<string, number> {
  const out: Record<string, number> = {};
  const skip = new Set(['type', 'step', 'loss', 'bits_per_byte']);
  const leaves = (v: unknown): number[] => (typeof v === 'number' ? [v] : Array.isArray(v) ? v.flatMap(leaves) : []);
  const visit = (prefix: string, v: unknown): void => {
    if (typeof v === 'number') out[prefix] = v;
    else if (Array.isArray(v)) {
      const xs = leaves(v).filter(Number.isFinite);
      if (xs.length > 0) out[prefix] = xs.reduce((a, b) => a + b, 0) / xs.length;
    } else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) visit(prefix ? `${prefix}.${k}` : k, x);
  };
  for (const [k, v] of Object.entries(entry)) if (!skip.has(k)) visit(k, v);
  return out;
}

function fmt(x: number, digits = 4): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '—';
}

function pm(s: Stat, digits = 4): string {
  if (s.n === 0) return '—';
  return Number.isFinite(s.std) ? `${fmt(s.mean, digits)} ± ${fmt(s.std, digits)}` : `${fmt(s.mean, digits)} (n=1)`;
}

function signed(s: Stat | null, digits = 4): string {
  if (!s || s.n === 0) return '—';
  const m = (s.mean >= 0 ? '+' : '') + fmt(s.mean, digits);
  return Number.isFinite(s.std) ? `${m} ± ${fmt(s.std, digits)} (n=${s.n})` : `${m} (n=1)`;
}

function heldOutTokens(results: readonly CellResult[]): string {
  const counts = [...new Set(results.map((r) => r.heldOut?.tokens).filter((t): t is number => t !== undefined))];
  return counts.length === 0 ? 'no cell evaluated yet' : `${counts.join(' / ')} held-out tokens per cell`;
}

export interface MarkdownInput {
  readonly exp: ExperimentConfig;
  readonly file: string;
  readonly groups: readonly GroupSummary[];
  readonly results: readonly CellResult[];
  readonly totalCells: number;
  readonly note?: string;
}

export function resultsMarkdown({ exp, file, groups, results, totalCells, note }: MarkdownInput): string {
  const lines: string[] = [];
  lines.push(`# Experiment ${exp.name}`, '');
  lines.push(`From \`${file}\`: ${results.length} of ${totalCells} cells finished; baseline arm \`${exp.baseline}\`; seeds ${exp.seeds.join(', ')}.`);
  if (note) lines.push('', note);
  lines.push(
    '',
    `Held-out bits/byte at the end of each cell (${heldOutTokens(results)}), mean ± sample std over seeds. "Δ vs baseline" is`,
    'the paired difference to the baseline cell with the same seed and sweep setting (mean ± std of the',
    'per-seed differences); compare its std with the seed spread to judge whether an arm differs.',
    '',
  );
  // `metrics` picks the optional columns (EXPERIMENT_METRICS); empty means all of them. Held-out
  // bits/byte, the paired difference and divergences are always shown: they are the point.
  const want = (m: string): boolean => exp.metrics.length === 0 || exp.metrics.includes(m);
  const optional: [string, (g: GroupSummary) => string][] = [
    ...(want('loss') ? [['held-out loss', (g: GroupSummary) => pm(g.heldOutLoss)] as [string, (g: GroupSummary) => string]] : []),
    ...(want('perplexity') ? [['perplexity', (g: GroupSummary) => pm(g.perplexity, 2)] as [string, (g: GroupSummary) => string]] : []),
    ...(want('load_imbalance') ? [['load imbalance', (g: GroupSummary) => pm(g.loadImbalance, 3)] as [string, (g: GroupSummary) => string]] : []),
    ...(want('tokens_per_s') ? [['tokens/s', (g: GroupSummary) => pm(g.tokensPerSecond, 0)] as [string, (g: GroupSummary) => string]] : []),
  ];
  lines.push(`| arm / setting | bits/byte (seed spread) | Δ vs baseline (paired) | diverged |${optional.map(([h]) => ` ${h} |`).join('')}`);
  lines.push(`|---|---|---|---|${optional.map(() => '---|').join('')}`);
  for (const g of groups) {
    const div = `${g.diverged}/${g.cells}${g.errors ? ` (${g.errors} error${g.errors > 1 ? 's' : ''})` : ''}`;
    lines.push(`| ${g.label} | ${pm(g.bitsPerByte)} | ${signed(g.pairedDiff)} | ${div} |${optional.map(([, f]) => ` ${f(g)} |`).join('')}`);
  }
  // Every other requested metric (expert_overlap, router_entropy, …) and, with no list, every
  // numeric field of the last eval line is read from the diagnostics by name or name prefix.
  const tableMetrics = new Set(['loss', 'bits_per_byte', 'perplexity', 'load_imbalance', 'tokens_per_s']);
  const wanted = exp.metrics.filter((m) => !tableMetrics.has(m));
  const diagKeys = [...new Set(groups.flatMap((g) => Object.keys(g.diagnostics)))].filter((k) => exp.metrics.length === 0 || wanted.some((w) => k === w || k.startsWith(w)));
  if (diagKeys.length > 0) {
    lines.push('', '## Diagnostics at the last evaluation (mean ± std over seeds; per-layer values averaged)', '');
    lines.push(`| arm / setting | ${diagKeys.join(' | ')} |`);
    lines.push(`|---|${diagKeys.map(() => '---').join('|')}|`);
    for (const g of groups) lines.push(`| ${g.label} | ${diagKeys.map((k) => (g.diagnostics[k] ? pm(g.diagnostics[k], 3) : '—')).join(' | ')} |`);
  }
  const missing = wanted.filter((w) => !diagKeys.some((k) => k.startsWith(w)));
  if (missing.length > 0) lines.push('', `Not logged by any finished cell: ${missing.join(', ')}.`);
  const failed = results.filter((r) => r.status !== 'ok');
  if (failed.length > 0) {
    lines.push('', '## Cells that did not finish normally', '');
    for (const r of failed) {
      const why = r.status === 'diverged' ? `diverged at step ${r.diverged?.step} (${r.diverged?.reason})` : `error: ${(r.error ?? '').split('\n')[0]}`;
      lines.push(`- \`${r.id}\`: ${why}`);
    }
  }
  lines.push('', '## Cells', '', '| cell | status | steps | held-out bits/byte | held-out loss | tokens/s | wall s |', '|---|---|---|---|---|---|---|');
  for (const r of [...results].sort((a, b) => a.index - b.index)) {
    lines.push(`| ${r.id} | ${r.status} | ${r.steps} | ${fmt(r.heldOut?.bitsPerByte ?? NaN)} | ${fmt(r.heldOut?.loss ?? NaN)} | ${fmt(r.tokensPerSecond ?? NaN, 0)} | ${fmt(r.seconds, 1)} |`);
  }
  return lines.join('\n') + '\n';
}
