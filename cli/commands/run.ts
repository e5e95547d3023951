// `sdmoec run FILE`: trains the model named by the file's train block (see runtime/train/trainer.ts).
// `sdmoec run --resume DIR` continues a run exactly as it was configured (DIR/config.json).
import type { Command } from 'commander';
import { runTraining } from '../../runtime/train/trainer.ts';
import { UserError } from '../../base/errors.ts';
import { collectSet } from './check.ts';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('train the model of a .moe file (progress, JSONL metrics, atomic checkpoints)')
    .argument('[file]', '.moe file with a train block (optional with --resume)')
    .option('--set <key=value>', 'override a setting, e.g. train.steps=100 (repeatable)', collectSet, [])
    .option('-o, --out <dir>', 'run directory (default runs/<model>)')
    .option('--resume <dir>', 'continue a run directory (its latest checkpoint) or a checkpoint directory, as it was configured')
    .option('--allow-changes', 'with --resume FILE: apply config changes that alter the run (they are printed)')
    .option('--force', 'start over in a run directory that already holds checkpoints')
    .option('--stop-after <step>', 'stop after this step with a checkpoint, as if interrupted (continue with --resume)')
    .action(async (file: string | undefined, opts: { set: string[]; out?: string; resume?: string; force?: boolean; stopAfter?: string; allowChanges?: boolean }) => {
      if (!file && !opts.resume) throw new UserError('sdmoec run needs a .moe file, or --resume RUN_DIR to continue a run');
      if (!file && opts.set.length > 0) throw new UserError('--set needs the .moe file too: sdmoec run FILE --set … --resume DIR (a resumed run keeps its recorded overrides)');
      const stopAfter = opts.stopAfter === undefined ? undefined : Number(opts.stopAfter);
      if (stopAfter !== undefined && !(Number.isInteger(stopAfter) && stopAfter > 0)) throw new UserError(`--stop-after must be a positive step number, got ${opts.stopAfter}`);
      const summary = await runTraining({ file, overrides: opts.set, out: opts.out, resume: opts.resume, force: opts.force, stopAfter, allowChanges: opts.allowChanges });
      const lines = [
        `trained ${summary.model} for ${summary.steps} steps: final training loss ${summary.finalLoss.toFixed(4)}`,
        summary.lastEval ? `validation: loss ${summary.lastEval.loss.toFixed(4)}, ${summary.lastEval.bitsPerByte.toFixed(4)} bits per byte` : 'validation: (no eval block step reached)',
        `throughput: ${summary.tokensPerSecond.toFixed(0)} tokens/s, ${summary.dispatchesPerStep} dispatches per step`,
        ...(summary.rebases.overlapped + summary.rebases.synchronous > 0
          ? [
              `re-basing:  ${summary.rebases.overlapped + summary.rebases.synchronous} times (${summary.rebases.overlapped} while the next step ran), ` +
                `${summary.rebases.seconds.toFixed(2)} s of main-thread work in all (the SVDs it computed, writes); ` +
                `${summary.rebases.svdsOnThread} of ${summary.rebases.svds} SVDs on the re-basing thread`,
            ]
          : []),
        `metrics:    ${summary.runDir}/metrics.jsonl`,
        `checkpoint: ${summary.lastCheckpoint ?? '(none)'}`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
