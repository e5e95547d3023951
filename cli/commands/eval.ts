// `sdmoec eval CKPT [FILE]`: held-out metrics of a checkpoint, as an eval block declares them
// (runtime/train/evaluate.ts; docs/language.md#eval). The model and training settings come from the
// run directory's config.json, written by `sdmoec run`, so a checkpoint is evaluated with the model
// and tokenizer it was trained with. The evaluation itself is FILE's eval block when FILE is given
// (its model must be the checkpoint's model), else the eval block the run recorded, else the
// train block's data and shape over the whole held-out split. `--batches` overrides the count.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stableJson } from '../../base/stable-json.ts';
import { loadConfig } from '../../compiler/config/index.ts';
import type { EvalConfig } from '../../compiler/config/types.ts';
import { loadCheckpoint } from '../../runtime/checkpoint/checkpoint.ts';
import { describeResult, implicitEval, metricFields, testSplitProblem } from '../../runtime/train/evaluate.ts';
import { readRunConfig } from '../../runtime/train/run-config.ts';
import { evaluate, expertDiagnostics, openSession, resolveDataPath, restore } from '../../runtime/train/trainer.ts';
import { UserError } from '../../base/errors.ts';
import { collectSet } from './check.ts';

function parseBatches(text: string): number | 'all' {
  if (text === 'all') return 'all';
  const n = Number(text);
  if (!(Number.isInteger(n) && n > 0)) throw new UserError(`--batches must be a positive integer or 'all', got ${text}`);
  return n;
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('print held-out metrics of a checkpoint (a run directory means its latest), as an eval block declares them')
    .argument('<checkpoint>', 'checkpoint directory (runs/<model>/step-000500) or run directory')
    .argument('[file]', ".moe file whose eval block to run (default: the run's own eval block, else its train block's data over the whole held-out split)")
    .option('--set <key=value>', 'override a setting of FILE, e.g. eval.batches=4 (repeatable)', collectSet, [])
    .option('--batches <n>', "held-out batches to score, or 'all' (default: the eval block's batches)")
    .option('--json', 'print the metrics as JSON')
    .action(async (checkpoint: string, file: string | undefined, opts: { set: string[]; batches?: string; json?: boolean }) => {
      if (!file && opts.set.length > 0) throw new UserError('--set applies to FILE: sdmoec eval CKPT FILE --set …');
      const batchesFlag = opts.batches === undefined ? undefined : parseBatches(opts.batches);
      const ckpt = await loadCheckpoint(checkpoint);
      const runDir = [join(ckpt.dir, '..'), dirname(ckpt.dir)].find((d) => existsSync(join(d, 'config.json')));
      const record = runDir ? readRunConfig(runDir) : undefined;
      if (!record) throw new UserError(`${ckpt.dir}: no config.json beside the checkpoint (was it written by sdmoec run?)`);
      const { model, train } = record;
      let spec: EvalConfig = record.eval ?? implicitEval(train, 'all');
      if (file) {
        const { config } = loadConfig(file, { overrides: opts.set });
        if (!config.eval) throw new UserError(`${file}: no eval block; add 'eval ${model.name} { … }' (or leave FILE out to evaluate as the run did)`);
        const evaluated = config.models.find((m) => m.name === config.eval!.model);
        if (!evaluated || stableJson(evaluated) !== stableJson(model)) {
          throw new UserError(`${file}: the eval block evaluates model ${config.eval.model}, which is not the model of ${ckpt.dir} (${model.name}, as recorded in ${runDir}/config.json)`);
        }
        spec = resolveDataPath(config.eval, file);
      }
      if (batchesFlag !== undefined) spec = { ...spec, batches: batchesFlag };
      // The run's data as it was prepared: with a test split held out only if its eval block said so.
      const testSplit = record.eval?.split === 'test';
      const problem = testSplitProblem(record.eval, train, spec);
      if (problem) throw new UserError(`${ckpt.dir}: ${problem}`);
      const session = await openSession(model, train, join(runDir!, 'config.json'), (line) => process.stderr.write(line + '\n'), spec, { testSplit });
      const tensors = new Map<string, { shape: readonly number[]; data: ArrayLike<number> }>(ckpt.params);
      for (const [name, t] of ckpt.optimizer) tensors.set(name, t);
      restore(session, tensors, ckpt.dir);
      const r = await evaluate(session);
      const diagnostics = spec.metrics.includes('expert_overlap') ? await expertDiagnostics(session) : undefined;
      const fields = metricFields(r, spec.metrics, diagnostics);
      const result = { checkpoint: ckpt.dir, step: ckpt.step, data: session.evalSetup.source, split: spec.split, batches: r.batches, tokens: r.tokens, ...fields };
      if (opts.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      else process.stdout.write(`${ckpt.dir} (step ${ckpt.step}), ${session.evalSetup.source}: ${describeResult(r, spec.metrics, fields)}\n`);
    });
}
