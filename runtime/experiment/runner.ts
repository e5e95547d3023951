// `sdmoec experiment`: runs the cells of an experiment one after another in this process (the
// kernel executor's pipeline cache is shared, so a cell compiles only shaders no earlier cell
// used) and rewrites OUT/results.{json,md} and OUT/report.html after every cell, so a stopped grid
// still reports what finished.
// Resumability: each cell trains in OUT/cells/<id>/ with periodic checkpoints; a cell whose
// result.json records ok or diverged is skipped; one with checkpoints but no result continues from
// its latest checkpoint (exact resume, see trainer.ts); a cell that errored (e.g. a setting the
// compiler does not support yet) is retried on the next run. Divergence is a result: the guard's
// stop is recorded with its step and reason and the grid goes on.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../base/errors.ts';
import { loadConfig } from '../../compiler/config/index.ts';
import type { ExperimentConfig, TrainConfig } from '../../compiler/config/types.ts';
import { findLatestCheckpoint } from '../checkpoint/checkpoint.ts';
import { DivergenceError } from '../metrics/guard.ts';
import { readMetrics, type EvalMetrics, type TrainMetrics } from '../metrics/jsonl.ts';
import { formatDuration } from '../metrics/progress.ts';
import { evaluate, runTraining } from '../train/trainer.ts';
import { expandGrid, type Cell } from './grid.ts';
import { reportHtml } from './html.ts';
import { flattenDiagnostics, resultsMarkdown, summarize, type CellResult } from './results.ts';

export interface ExperimentOptions {
  readonly file: string;
  readonly experiment: ExperimentConfig;
  /** Output directory (default runs/experiments/<name>). */
  readonly out?: string;
  readonly only?: readonly string[];
  /** CI size: a few steps, two seeds, small batches, two held-out batches. */
  readonly quick?: boolean;
  readonly stream?: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface ExperimentOutcome {
  readonly outDir: string;
  readonly cells: readonly Cell[];
  readonly results: readonly CellResult[];
  /** Cells run now (not skipped as already finished). */
  readonly ran: readonly string[];
  readonly interrupted: boolean;
}

/** --quick: small enough for CI on lavapipe. */
export const QUICK = { steps: 6, seeds: 2, batch: 2, evalBatches: 2 } as const;

/** The divergence guard's stop (the trainer's DivergenceError), as a result to record. */
export function divergenceOf(err: unknown): { step: number; reason: string; message: string } | null {
  return err instanceof DivergenceError ? { step: err.step, reason: err.reason, message: err.message } : null;
}

/** One progress display for the whole grid: cell i/N, arm, sweep, seed, step, loss, elapsed, ETA. */
class GridProgress {
  private readonly started = performance.now();
  private stepsDone = 0;
  private lastPlain = 0;
  constructor(
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly totalCells: number,
    private stepsRemaining: number,
  ) {}

  step(cell: Cell, step: number, total: number, loss: number): void {
    this.stepsDone++;
    this.stepsRemaining = Math.max(0, this.stepsRemaining - 1);
    const elapsed = (performance.now() - this.started) / 1000;
    const eta = (elapsed / this.stepsDone) * this.stepsRemaining;
    const sweep = Object.entries(cell.sweep).map(([k, v]) => ` ${k}=${v}`).join('');
    const line = `cell ${cell.index + 1}/${this.totalCells} ${cell.arm}${sweep} seed ${cell.seed} | step ${step}/${total} loss ${Number.isFinite(loss) ? loss.toFixed(4) : loss} | elapsed ${formatDuration(elapsed)} ETA ${formatDuration(eta)}`;
    if (this.stream.isTTY) this.stream.write(`\r\x1b[K${line}`);
    else if (step === total || step === 1 || performance.now() - this.lastPlain > 15_000) {
      this.stream.write(line + '\n');
      this.lastPlain = performance.now();
    }
  }

  /** Steps of a cell that will not run after all (diverged or failed early). */
  skip(steps: number): void {
    this.stepsRemaining = Math.max(0, this.stepsRemaining - steps);
  }

  message(text: string): void {
    this.stream.write((this.stream.isTTY ? '\r\x1b[K' : '') + text + '\n');
  }
}

function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** Curves, load imbalance and diagnostics from a cell's metrics.jsonl. */
function readCellMetrics(dir: string): Pick<CellResult, 'lossCurve' | 'evalCurve' | 'loadImbalance' | 'diagnostics' | 'lastEval' | 'steps'> {
  const path = join(dir, 'metrics.jsonl');
  const entries = existsSync(path) ? readMetrics(path) : [];
  const train = entries.filter((e): e is TrainMetrics => e.type === 'train');
  const evals = entries.filter((e): e is EvalMetrics => e.type === 'eval');
  const lastSteps = train.slice(Math.floor(train.length * 0.8));
  const imb = lastSteps.map((e) => e.load_imbalance).filter((x): x is number[] => Array.isArray(x) && x.length > 0).map((x) => x.reduce((a, b) => a + b, 0) / x.length);
  const lastEval = evals.length > 0 ? (evals[evals.length - 1] as Record<string, unknown>) : null;
  return {
    steps: train.length > 0 ? train[train.length - 1].step : 0,
    lossCurve: train.map((e) => [e.step, e.loss] as const),
    evalCurve: evals.map((e) => [e.step, e.loss ?? NaN, e.bits_per_byte ?? null] as const),
    loadImbalance: imb.length > 0 ? imb.reduce((a, b) => a + b, 0) / imb.length : null,
    diagnostics: lastEval ? flattenDiagnostics(lastEval) : {},
    lastEval,
  };
}

export async function runExperiment(opts: ExperimentOptions): Promise<ExperimentOutcome> {
  const exp = opts.experiment;
  const stream = opts.stream ?? process.stdout;
  const outDir = opts.out ?? join('runs', 'experiments', exp.name);
  const { config } = loadConfig(opts.file);
  const train: TrainConfig | null = config.train;
  if (!train) throw new UserError(`${opts.file}: an experiment needs a train block to vary`);
  const steps = opts.quick ? Math.min(QUICK.steps, exp.steps ?? train.steps) : (exp.steps ?? train.steps);
  const seeds = opts.quick ? exp.seeds.slice(0, QUICK.seeds) : exp.seeds;
  // Checkpoints every ~10 % of a cell: an interrupted cell loses little, and snapshots of these
  // small models cost far less than the steps between them.
  const checkpointEvery = opts.quick ? Math.max(1, Math.round(steps / 2)) : Math.max(10, Math.round(steps / 10));
  // Warmup must fit in the shortened run (a warmup longer than training is a config error).
  const extra = opts.quick
    ? [`train.batch=${Math.min(QUICK.batch, train.batch)}`, `train.eval=${steps}`, config.eval ? 'eval.batches=1' : `train.eval_batches=1`, `train.log=1`, `train.schedule.warmup=${Math.min(train.schedule.warmup, Math.floor(steps / 3))}`]
    : [];
  const cells = expandGrid(exp, { only: opts.only, steps, seeds, extra, checkpointEvery });
  const heldOutBatches = opts.quick ? QUICK.evalBatches : exp.evalBatches === 'all' ? Infinity : exp.evalBatches;
  mkdirSync(join(outDir, 'cells'), { recursive: true });

  const results = new Map<string, CellResult>();
  const pending: Cell[] = [];
  for (const c of cells) {
    const prior = readJson<CellResult>(join(outDir, 'cells', c.id, 'result.json'));
    if (prior && prior.status !== 'error') results.set(c.id, prior);
    else pending.push(c);
  }
  const writeReports = (): void => {
    const done = cells.map((c) => results.get(c.id)).filter((r): r is CellResult => r !== undefined);
    const groups = summarize(exp, cells, results);
    const note = opts.quick ? `--quick: ${steps} steps, seeds ${seeds.join(', ')}, batch ${Math.min(QUICK.batch, train.batch)}, ${QUICK.evalBatches} held-out batches — a smoke test, not a measurement.` : undefined;
    const md = resultsMarkdown({ exp: { ...exp, seeds }, file: opts.file, groups, results: done, totalCells: cells.length, note });
    writeFileSync(join(outDir, 'results.json'), JSON.stringify({ experiment: exp, file: opts.file, quick: !!opts.quick, steps, seeds, cells: cells.length, groups, results: done }, null, 2));
    writeFileSync(join(outDir, 'results.md'), md);
    writeFileSync(join(outDir, 'report.html'), reportHtml(`Experiment ${exp.name}`, groups, done, md));
  };
  if (pending.length < cells.length) (stream as NodeJS.WritableStream).write(`${cells.length - pending.length} of ${cells.length} cells already finished in ${outDir}; running the other ${pending.length}\n`);
  const progress = new GridProgress(stream, cells.length, pending.length * steps);
  const ran: string[] = [];
  let interrupted = false;

  for (const cell of pending) {
    const dir = join(outDir, 'cells', cell.id);
    const resume = existsSync(dir) && (await findLatestCheckpoint(dir)) ? dir : undefined;
    if (!resume) rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const logPath = join(dir, 'train.log');
    const t0 = performance.now();
    let loopStart: { step: number; time: number } | null = null;
    let loopEnd: { step: number; time: number } | null = null;
    let heldOut: CellResult['heldOut'] = null;
    let finished = false;
    let status: CellResult['status'] = 'ok';
    let diverged: CellResult['diverged'];
    let error: string | undefined;
    let stepsRun = 0;
    try {
      await runTraining({
        file: opts.file,
        overrides: cell.overrides,
        out: dir,
        resume,
        force: true,
        log: (line) => appendFileSync(logPath, line + '\n'),
        onStep: (s, info) => {
          const now = performance.now();
          // Step 1 of a fresh process compiles shaders on lavapipe: time the loop from the first
          // step's end, so tokens/s is the steady rate (re-basing and checkpoints included).
          if (!loopStart) loopStart = { step: s, time: now };
          loopEnd = { step: s, time: now };
          stepsRun++;
          progress.step(cell, s, info.total, info.loss);
        },
        afterTraining: async (session) => {
          finished = true;
          const r = await evaluate(session, heldOutBatches);
          heldOut = { loss: r.loss, bitsPerByte: r.bitsPerByte, tokens: r.tokens };
        },
      });
      if (!finished) {
        interrupted = true;
        progress.message(`interrupted in cell ${cell.id}; run the same command again to continue`);
        break;
      }
    } catch (err) {
      const div = divergenceOf(err);
      if (div) {
        status = 'diverged';
        diverged = div;
      } else {
        status = 'error';
        error = err instanceof Error ? err.message : String(err);
      }
      appendFileSync(logPath, `${status}: ${diverged?.message ?? error}\n`);
    }
    progress.skip(Math.max(0, steps - stepsRun));
    const cfg = readJson<{ train: TrainConfig }>(join(dir, 'config.json'));
    const tokensPerStep = cfg ? (cfg.train.gradAccum ?? 1) * cfg.train.batch * cfg.train.seqLen : 0;
    const a = loopStart as { step: number; time: number } | null;
    const b = loopEnd as { step: number; time: number } | null;
    const tokensPerSecond = a && b && b.step > a.step && tokensPerStep > 0 ? ((b.step - a.step) * tokensPerStep) / ((b.time - a.time) / 1000) : null;
    const metrics = readCellMetrics(dir);
    const result: CellResult = {
      index: cell.index,
      id: cell.id,
      arm: cell.arm,
      sweep: cell.sweep,
      seed: cell.seed,
      overrides: cell.overrides,
      status,
      ...(diverged ? { diverged } : {}),
      ...(error !== undefined ? { error } : {}),
      ...metrics,
      steps: diverged ? diverged.step : metrics.steps,
      lr: cfg?.train.optimizer.lr ?? null,
      clipGrad: cfg?.train.clipGrad ?? null,
      heldOut,
      tokensPerSecond,
      seconds: (performance.now() - t0) / 1000,
    };
    writeFileSync(join(dir, 'result.json'), JSON.stringify(result, null, 2));
    results.set(cell.id, result);
    ran.push(cell.id);
    const what = status === 'ok' ? `${(heldOut as CellResult['heldOut'])?.bitsPerByte.toFixed(4)} bits/byte` : status === 'diverged' ? `diverged at step ${diverged!.step} (${diverged!.reason})` : `error: ${(error ?? '').split('\n')[0]}`;
    progress.message(`cell ${cell.index + 1}/${cells.length} ${cell.id}: ${what} (${formatDuration(result.seconds)})`);
    writeReports();
  }
  writeReports();
  const done = cells.map((c) => results.get(c.id)).filter((r): r is CellResult => r !== undefined);
  progress.message(`results: ${join(outDir, 'results.md')}, ${join(outDir, 'report.html')}`);
  return { outDir, cells, results: done, ran, interrupted };
}
