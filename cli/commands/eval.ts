// `sdmoec eval CKPT`: held-out metrics of a checkpoint (validation loss, bits per byte,
// perplexity). The model and data settings come from the run directory's config.json, written by
// `sdmoec run`, so a checkpoint is evaluated exactly as it was trained.
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ModelConfig, TrainConfig } from '../../compiler/config/types.ts';
import { loadCheckpoint } from '../../runtime/checkpoint/checkpoint.ts';
import { evaluate, openSession, restore } from '../../runtime/train/trainer.ts';
import { UserError } from '../../base/errors.ts';

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('print held-out metrics of a checkpoint (a run directory means its latest)')
    .argument('<checkpoint>', 'checkpoint directory (runs/<model>/step-000500) or run directory')
    .option('--batches <n>', 'validation batches to score (default: the train block\'s eval_batches)')
    .option('--json', 'print the metrics as JSON')
    .action(async (checkpoint: string, opts: { batches?: string; json?: boolean }) => {
      const ckpt = await loadCheckpoint(checkpoint);
      const configPath = [join(ckpt.dir, '..', 'config.json'), join(dirname(ckpt.dir), 'config.json')].find(existsSync);
      if (!configPath) throw new UserError(`${ckpt.dir}: no config.json beside the checkpoint (was it written by sdmoec run?)`);
      const { model, train } = JSON.parse(readFileSync(configPath, 'utf8')) as { model: ModelConfig; train: TrainConfig };
      const session = await openSession(model, train, configPath, (line) => process.stderr.write(line + '\n'));
      const tensors = new Map<string, { shape: readonly number[]; data: ArrayLike<number> }>(ckpt.params);
      for (const [name, t] of ckpt.optimizer) tensors.set(name, t);
      restore(session, tensors, ckpt.dir);
      const batches = opts.batches ? Number(opts.batches) : train.evalBatches;
      if (!(Number.isInteger(batches) && batches > 0)) throw new UserError(`--batches must be a positive integer, got ${opts.batches}`);
      const r = await evaluate(session, batches);
      const result = { checkpoint: ckpt.dir, step: ckpt.step, loss: r.loss, bits_per_byte: r.bitsPerByte, perplexity: Math.exp(r.loss), tokens: r.tokens };
      if (opts.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      else process.stdout.write(`${ckpt.dir} (step ${ckpt.step}): validation loss ${r.loss.toFixed(4)}, ${r.bitsPerByte.toFixed(4)} bits per byte, perplexity ${result.perplexity.toFixed(2)} over ${r.tokens} tokens\n`);
    });
}
