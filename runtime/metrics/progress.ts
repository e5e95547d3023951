// Training progress display: a cli-progress bar (step/total, loss, tokens/s, ETA) on a TTY, and
// plain log lines on anything else (CI logs, pipes), where a redrawn bar would be noise.
// Plain mode prints the first update, then a line whenever `everySteps` steps or `intervalMs`
// have passed since the last one, and always the final step. The ETA is ours in both modes
// (mean time per step since the first update of this session, so shader compilation in the
// first step and the steps done before a resume do not distort it). The clock is injectable.

import cliProgress from 'cli-progress';

export interface ProgressOptions {
  total: number;
  /** The step a resumed run starts after. */
  startStep?: number;
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Force a mode; by default the bar is used exactly when the stream is a TTY. */
  tty?: boolean;
  everySteps?: number;
  intervalMs?: number;
  now?: () => number;
}

export interface StepInfo {
  loss: number;
  tokensPerSec?: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

function formatLoss(loss: number): string {
  return Number.isFinite(loss) ? loss.toFixed(4) : String(loss);
}

function formatRate(tokensPerSec: number | undefined): string {
  return tokensPerSec === undefined || !Number.isFinite(tokensPerSec) ? '-' : Math.round(tokensPerSec).toString();
}

export class TrainingProgress {
  private readonly total: number;
  private readonly stream: NonNullable<ProgressOptions['stream']>;
  private readonly now: () => number;
  private readonly everySteps: number;
  private readonly intervalMs: number;
  private readonly multibar: cliProgress.MultiBar | null = null;
  private readonly bar: cliProgress.SingleBar | null = null;
  private firstStep: number | null = null;
  private firstTime = 0;
  private lastLoggedStep = -1;
  private lastLoggedTime = 0;
  private last: { step: number; info: StepInfo } | null = null;
  private stopped = false;

  constructor(options: ProgressOptions) {
    this.total = options.total;
    this.stream = options.stream ?? process.stdout;
    this.now = options.now ?? Date.now;
    this.everySteps = options.everySteps ?? Math.max(1, Math.round(options.total / 50));
    this.intervalMs = options.intervalMs ?? 10_000;
    const tty = options.tty ?? this.stream.isTTY === true;
    if (tty) {
      this.multibar = new cliProgress.MultiBar(
        {
          stream: this.stream,
          format: 'step {value}/{total} [{bar}] loss {loss} | {tps} tok/s | ETA {etaText}',
          barsize: 24,
          hideCursor: true,
          clearOnComplete: false,
          // Our stream may be a test double: decide TTY-ness here, not inside cli-progress.
          noTTYOutput: true,
          notTTYSchedule: 1000,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar = this.multibar.create(this.total, options.startStep ?? 0, { loss: '-', tps: '-', etaText: '?' });
    }
  }

  private etaSeconds(step: number, time: number): number {
    if (this.firstStep === null || step <= this.firstStep) return NaN;
    const perStep = (time - this.firstTime) / 1000 / (step - this.firstStep);
    return perStep * (this.total - step);
  }

  update(step: number, info: StepInfo): void {
    const time = this.now();
    if (this.firstStep === null) {
      this.firstStep = step;
      this.firstTime = time;
    }
    this.last = { step, info };
    const eta = formatDuration(this.etaSeconds(step, time));
    if (this.bar) {
      this.bar.update(step, { loss: formatLoss(info.loss), tps: formatRate(info.tokensPerSec), etaText: eta });
      return;
    }
    const due =
      this.lastLoggedStep < 0 ||
      step - this.lastLoggedStep >= this.everySteps ||
      time - this.lastLoggedTime >= this.intervalMs ||
      step >= this.total;
    if (due) this.writePlain(step, info, eta, time);
  }

  private writePlain(step: number, info: StepInfo, eta: string, time: number): void {
    this.stream.write(
      `step ${step}/${this.total} loss ${formatLoss(info.loss)} tok/s ${formatRate(info.tokensPerSec)} eta ${eta}\n`,
    );
    this.lastLoggedStep = step;
    this.lastLoggedTime = time;
  }

  /** A message (eval result, checkpoint saved) that must not be overwritten by the bar. */
  log(message: string): void {
    const line = message.endsWith('\n') ? message : message + '\n';
    if (this.multibar && !this.stopped) {
      // cli-progress only flushes logged lines on its next redraw; force one so the message is
      // not lost if the process stops before the bar's timer fires.
      this.multibar.log(line);
      this.multibar.update();
    } else this.stream.write(line);
  }

  /** Final redraw / final line, and release of the bar's timer and cursor. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.multibar) {
      this.multibar.stop();
      return;
    }
    if (this.last && this.last.step !== this.lastLoggedStep) {
      this.writePlain(this.last.step, this.last.info, formatDuration(this.etaSeconds(this.last.step, this.now())), this.now());
    }
  }
}
