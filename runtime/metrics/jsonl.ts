// Append-only JSONL metrics log: one JSON object per line, written with a synchronous write per
// line, so the line is in the OS when log() returns and a crash loses at most the line being
// written. Non-finite numbers (a NaN loss is exactly what one wants to see in the log) are
// stored as the strings "NaN", "Infinity", "-Infinity" and turned back into numbers on read.
// On resume from step S the file is rewritten (temp file + rename) to keep only entries with
// step <= S, so that the log of a resumed run is identical to one of an uninterrupted run.

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { UserError } from '../../base/errors.ts';

export interface TrainMetrics {
  type: 'train';
  step: number;
  loss: number;
  lr: number;
  grad_norm: number;
  /** Auxiliary losses by name (load_balance, global_load_balance, z_loss, ...). */
  aux?: Record<string, number>;
  /** tokens_per_expert[layer][expert]. */
  tokens_per_expert?: number[][];
  /** Per MoE layer: max expert load / mean expert load (1 = perfectly balanced). */
  load_imbalance?: number[];
  tokens_per_s?: number;
  /** Largest grad norm / aux loss of any step since the previous train line (this step included). */
  max_grad_norm?: number;
  max_aux?: Record<string, number>;
  [extra: string]: unknown;
}

export interface EvalMetrics {
  type: 'eval';
  step: number;
  /** Absent when an eval block's `metrics` leaves it out (as every other metric). */
  loss?: number;
  bits_per_byte?: number;
  /** Headline SD diagnostics (runtime/sd/diagnostics.ts#summarizeDiagnostics) and per-matrix `diagnostics`. */
  expert_overlap?: number;
  expert_overlap_on?: string;
  [extra: string]: unknown;
}

/** One SD matrix at a re-basing (runtime/train/spectral.ts#MatrixRebaseReport; docs/diagnostics.md). */
export interface SpectralMatrixMetrics {
  name: string;
  layer: number;
  matrix: string;
  energy_top_k: number;
  residual_norm: number;
  /** left: U_k (input side), right: V_k (output side); 1 = the basis did not move. */
  basis_overlap: { left: number; right: number };
  reprojected_norm: { mean: number; max: number };
  singular_values: number[];
}

/** Written at every SD re-basing, whether or not the step is a log step. */
export interface SpectralMetrics {
  type: 'spectral';
  step: number;
  /** Means over the SD matrices. */
  energy_top_k: number;
  residual_norm: number;
  matrices: SpectralMatrixMetrics[];
  /** Host wall time of the re-basing (the SVDs and the writes), and whether it ran while the next
   *  step's first dispatches did (else between two steps). Absent in lines of older runs. */
  seconds?: number;
  overlapped?: boolean;
  [extra: string]: unknown;
}

export type MetricsEntry = TrainMetrics | EvalMetrics | SpectralMetrics;

const NON_FINITE = new Map<string, number>([
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
]);

export function encodeMetricsLine(entry: MetricsEntry): string {
  return JSON.stringify(entry, (_key, value) =>
    typeof value === 'number' && !Number.isFinite(value) ? String(value) : value,
  );
}

export function decodeMetricsLine(line: string): MetricsEntry {
  return JSON.parse(line, (_key, value) =>
    typeof value === 'string' && NON_FINITE.has(value) ? NON_FINITE.get(value) : value,
  ) as MetricsEntry;
}

/**
 * Parse a metrics file. A final line without its newline is the one a crash interrupted and is
 * dropped; any other unparsable line is an error naming path:line.
 */
export function parseMetrics(text: string, source: string): MetricsEntry[] {
  // The last element after splitting is '' when the file ends in a newline and the torn line
  // when it does not; either way it is not a complete entry.
  const complete = text.split('\n').slice(0, -1);
  const entries: MetricsEntry[] = [];
  complete.forEach((line, i) => {
    if (line.trim() === '') return;
    let entry: unknown;
    try {
      entry = decodeMetricsLine(line);
    } catch (e) {
      throw new UserError(`${source}:${i + 1}: corrupt metrics line (${(e as Error).message})`);
    }
    const step = (entry as { step?: unknown } | null)?.step;
    if (typeof entry !== 'object' || entry === null || !Number.isSafeInteger(step)) {
      throw new UserError(`${source}:${i + 1}: metrics line has no integer "step"`);
    }
    entries.push(entry as MetricsEntry);
  });
  return entries;
}

export function readMetrics(path: string): MetricsEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${path}: metrics file not found`);
    throw new UserError(`${path}: cannot read (${(e as Error).message})`);
  }
  return parseMetrics(text, path);
}

export interface MetricsWriterOptions {
  /** Continue a run resumed at this step: drop logged entries with a later step, then append. */
  resumeStep?: number;
  /** fsync after every line (survives power loss, costs a disk flush per step). */
  fsyncEachLine?: boolean;
}

export class MetricsWriter {
  private fd: number | null;

  /** Opens `path`; a fresh run (no resumeStep) starts an empty file. */
  constructor(
    readonly path: string,
    private readonly options: MetricsWriterOptions = {},
  ) {
    const { resumeStep } = options;
    if (resumeStep !== undefined) {
      const kept = existsSync(path) ? readMetrics(path).filter((e) => e.step <= resumeStep) : [];
      const tmp = `${path}.tmp-${process.pid}`;
      const tmpFd = openSync(tmp, 'w');
      try {
        writeFileSync(tmpFd, kept.map((e) => encodeMetricsLine(e) + '\n').join(''));
        fsyncSync(tmpFd);
      } finally {
        closeSync(tmpFd);
      }
      renameSync(tmp, path);
      this.fd = openSync(path, 'a');
    } else {
      this.fd = openSync(path, 'w');
    }
  }

  log(entry: MetricsEntry): void {
    if (this.fd === null) throw new Error(`metrics writer for ${this.path} is closed`);
    const bytes = Buffer.from(encodeMetricsLine(entry) + '\n', 'utf8');
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done);
    if (this.options.fsyncEachLine) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === null) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = null;
  }
}
