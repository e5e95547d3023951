// `sdmoec run FILE`: trains the model named by the file's train block (see runtime/train/trainer.ts).
import type { Command } from 'commander';
import { runTraining } from '../../runtime/train/trainer.ts';
import { UserError } from '../../base/errors.ts';
import { collectSet } from './check.ts';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('train the model of a .moe file (progress, JSONL metrics, atomic checkpoints)')
    .argument('<file>', '.moe file with a train block')
    .option('--set <key=value>', 'override a setting, e.g. train.steps=100 (repeatable)', collectSet, [])
    .option('-o, --out <dir>', 'run directory (default runs/<model>)')
    .option('--resume <dir>', 'continue from a run directory (its latest checkpoint) or a checkpoint directory')
    .option('--force', 'start over in a run directory that already holds checkpoints')
    .option('--stop-after <step>', 'stop after this step with a checkpoint, as if interrupted (continue with --resume)')
    .action(async (file: string, opts: { set: string[]; out?: string; resume?: string; force?: boolean; stopAfter?: string }) => {
      const stopAfter = opts.stopAfter === undefined ? undefined : Number(opts.stopAfter);
      if (stopAfter !== undefined && !(Number.isInteger(stopAfter) && stopAfter > 0)) throw new UserError(`--stop-after must be a positive step number, got ${opts.stopAfter}`);
      const summary = await runTraining({ file, overrides: opts.set, out: opts.out ?? opts.resume, resume: opts.resume, force: opts.force, stopAfter });
      const lines = [
        `trained ${summary.model} for ${summary.steps} steps: final training loss ${summary.finalLoss.toFixed(4)}`,
        summary.lastEval ? `validation: loss ${summary.lastEval.loss.toFixed(4)}, ${summary.lastEval.bitsPerByte.toFixed(4)} bits per byte` : 'validation: (no eval block step reached)',
        `throughput: ${summary.tokensPerSecond.toFixed(0)} tokens/s, ${summary.dispatchesPerStep} dispatches per step`,
        `metrics:    ${summary.runDir}/metrics.jsonl`,
        `checkpoint: ${summary.lastCheckpoint ?? '(none)'}`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
