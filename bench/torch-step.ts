// The PyTorch side of the train-step benchmark: compiles the .moe file's train block with the
// torch target (runtime/targets/torch.ts, what `sdmoec compile --target torch` writes), writes the
// WebGPU session's initial parameters as an sdmoec checkpoint, and keeps one Python process
// (bench/torch_step.py) alive that loads them and runs blocks of training steps on request, so
// the bench can alternate WebGPU and torch blocks without re-importing torch (10–15 s under load)
// each time. Both engines start from the same values and see the same batch at step s (train.py
// ports the BatchSampler bit for bit), so their losses at equal step numbers must agree: the bench
// reports the largest difference as the check that both steps compute the same thing.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NormalisedConfig } from '../compiler/config/types.ts';
import { saveCheckpoint } from '../runtime/checkpoint/checkpoint.ts';
import { writeTorchTarget } from '../runtime/targets/torch.ts';
import { snapshot, type TrainingSession } from '../runtime/train/trainer.ts';
import { PYTHON } from './torch.ts';

const DRIVER = fileURLToPath(new URL('./torch_step.py', import.meta.url));

export interface TorchBlock {
  /** torch.get_num_threads() while the block ran. */
  readonly threads: number;
  readonly steps: number[];
  readonly ms: number[];
  /** Cross-entropy per step (the `loss` the WebGPU step outputs). */
  readonly loss: number[];
}

export interface TorchInfo {
  readonly torch: string;
  readonly blas: string;
  readonly defaultThreads: number;
  /** OMP_WAIT_POLICY the driver ran with. */
  readonly ompWaitPolicy: string;
}

/** The session's current parameters and optimizer state as an sdmoec step-0 checkpoint in `dir` (torch loads the parameters). */
async function writeInitialCheckpoint(session: TrainingSession, dir: string): Promise<void> {
  const { params, optimizer } = await snapshot(session);
  await saveCheckpoint(dir, { step: 0, params, optimizer, state: { configHash: 'bench', metrics: {} } });
}

export class TorchStepDriver {
  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly lines: AsyncIterator<string>,
    private readonly rl: Interface,
    readonly info: TorchInfo,
  ) {}

  /**
   * Writes the torch package of `config`'s train block into `work/pkg`, the session's initial
   * parameters into `work/init`, and starts the driver (stderr passes through).
   */
  static async start(config: NormalisedConfig, file: string, overrides: readonly string[], session: TrainingSession, work: string): Promise<TorchStepDriver> {
    const pkg = join(work, 'pkg');
    writeTorchTarget(config, file, pkg, { overrides });
    const init = join(work, 'init');
    await writeInitialCheckpoint(session, init);
    // OpenMP threads spin at their barriers by default; on a machine shared with other work a
    // spinning thread waits for a descheduled one (measured here at load 27: 2 threads 592 ms
    // median for a 512×64×1024 GEMM forward and backward spinning, 35 ms passive, 62 ms 1 thread).
    // Passive waiting is what a shared machine calls for; lavapipe's threads do not spin either.
    // An OMP_WAIT_POLICY already in the environment is kept.
    const ompWaitPolicy = process.env.OMP_WAIT_POLICY ?? 'PASSIVE';
    const child = spawn(PYTHON, [DRIVER, pkg, init], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, OMP_WAIT_POLICY: ompWaitPolicy } }) as unknown as ChildProcessWithoutNullStreams;
    const rl = createInterface({ input: child.stdout });
    const lines = rl[Symbol.asyncIterator]();
    const first = await next(lines);
    if (!first.ready) throw new Error(`torch driver did not start: ${JSON.stringify(first)}`);
    return new TorchStepDriver(child, lines, rl, { torch: String(first.torch), blas: String(first.blas), defaultThreads: Number(first.defaultThreads), ompWaitPolicy });
  }

  /** Runs `count` training steps with `threads` intra-op threads (fewer, at least one, once
   *  `seconds` have passed) and returns their times. */
  async run(threads: number, count: number, seconds: number): Promise<TorchBlock> {
    this.child.stdin.write(`run ${threads} ${count} ${seconds}\n`);
    const r = await next(this.lines);
    if (r.error) throw new Error(`torch driver: ${String(r.error)}`);
    return { threads: Number(r.threads), steps: r.steps as number[], ms: r.ms as number[], loss: r.loss as number[] };
  }

  async stop(): Promise<void> {
    this.child.stdin.end('quit\n');
    this.rl.close();
    await new Promise<void>((done) => (this.child.exitCode !== null ? done() : this.child.once('exit', () => done())));
  }
}

async function next(lines: AsyncIterator<string>): Promise<Record<string, unknown>> {
  const r = await lines.next();
  if (r.done) throw new Error('torch driver exited early (see its stderr above)');
  return JSON.parse(r.value) as Record<string, unknown>;
}
