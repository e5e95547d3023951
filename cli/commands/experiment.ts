// `sdmoec experiment FILE`: runs the file's experiment block — arms × sweeps × seeds, each cell a
// `sdmoec run` with overrides — resumably, and writes results.json, results.md and report.html
// (see runtime/experiment/runner.ts).
import type { Command } from 'commander';
import { loadConfig } from '../../compiler/config/index.ts';
import { runExperiment } from '../../runtime/experiment/runner.ts';
import { UserError } from '../../base/errors.ts';

function collect(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}

export function registerExperiment(program: Command): void {
  program
    .command('experiment')
    .description('run the experiment block of a .moe file (arms × sweeps × seeds) and report it; resumable')
    .argument('<file>', '.moe file with a train block and an experiment block')
    .option('--only <arm>', 'run only these arms (repeatable or comma-separated)', collect, [])
    .option('-o, --out <dir>', 'output directory (default runs/experiments/<name>); re-running continues it')
    .option('--quick', 'a smoke-test size: a few steps, two seeds, small batches (CI)')
    .action(async (file: string, opts: { only: string[]; out?: string; quick?: boolean }) => {
      const { config } = loadConfig(file);
      const experiment = config.experiment;
      if (!experiment) throw new UserError(`${file}: no experiment block; add 'experiment <name> { … }' (see docs/experiments.md)`);
      const outcome = await runExperiment({ file, experiment, out: opts.out, only: opts.only, quick: opts.quick });
      const counts = { ok: 0, diverged: 0, error: 0 };
      for (const r of outcome.results) counts[r.status]++;
      process.stdout.write(`${outcome.results.length}/${outcome.cells.length} cells: ${counts.ok} ok, ${counts.diverged} diverged, ${counts.error} errors${outcome.interrupted ? ' (interrupted; run again to continue)' : ''}\n`);
      if (outcome.interrupted) process.exitCode = 130;
    });
}
