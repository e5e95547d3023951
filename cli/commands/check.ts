// `sdmoec check FILE… [--print|--json] [--set key=value …]`: parse, resolve and validate .moe
// files, reporting every diagnostic (stderr). Exit 1 when any file has an error (or a warning
// with --werror); warnings alone exit 0. --print writes the normalised config as canonical .moe.
import type { Command } from 'commander';
import { UserError } from '../../base/errors.ts';
import { formatDiagnostics, type Diagnostic } from '../../grammar/index.ts';
import { checkFile, experimentCells, printConfig, type NormalisedConfig } from '../../compiler/config/index.ts';

export function collectSet(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export interface CheckedFile {
  file: string;
  config: NormalisedConfig | null;
  diagnostics: Diagnostic[];
}

/** Check files; diagnostics go to stderr as they come. Returns per-file results. */
export function checkFiles(files: string[], overrides: string[]): CheckedFile[] {
  return files.map((file) => {
    const result = checkFile(file, { overrides });
    if (result.diagnostics.length) process.stderr.write(formatDiagnostics(result.diagnostics));
    return { file, config: result.config, diagnostics: result.diagnostics };
  });
}

function describe(config: NormalisedConfig): string {
  const models = config.models.map((m) => `${m.name}${m.spectral ? ' (SD)' : ''}`).join(', ');
  const parts = [`models: ${models}`];
  if (config.train) parts.push(`train: ${config.train.model}, ${config.train.steps} steps`);
  if (config.eval) parts.push(`eval: ${config.eval.model}`);
  const x = config.experiment;
  if (x) parts.push(`experiment: ${x.name}, ${x.arms.length} arm${x.arms.length === 1 ? '' : 's'} × ${x.seeds.length} seed${x.seeds.length === 1 ? '' : 's'}, ${experimentCells(x).length} runs`);
  return parts.join('; ');
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('check .moe files: syntax, names, units and ranges; print the normalised config')
    .argument('<files...>', '.moe files to check')
    .option('--print', 'print the normalised config as canonical .moe text')
    .option('--json', 'print the normalised config as JSON')
    .option('--set <key=value>', 'override a setting, e.g. train.optimizer.lr=4e-4 (repeatable)', collectSet, [])
    .option('--werror', 'treat warnings as errors')
    .action((files: string[], opts: { print?: boolean; json?: boolean; set: string[]; werror?: boolean }) => {
      if (opts.print && opts.json) throw new UserError('sdmoec check: choose one of --print and --json');
      const results = checkFiles(files, opts.set);
      const failed = results.filter((r) => !r.config || (opts.werror && r.diagnostics.length > 0));
      for (const r of results) {
        if (!r.config) continue;
        if (opts.json) {
          process.stdout.write(JSON.stringify(files.length > 1 ? { file: r.file, ...r.config } : r.config, null, 2) + '\n');
        } else if (opts.print) {
          if (files.length > 1) process.stdout.write(`# ${r.file}\n`);
          process.stdout.write(printConfig(r.config));
        } else {
          process.stdout.write(`${r.file}: ok (${describe(r.config)})\n`);
        }
      }
      if (failed.length > 0) {
        // Diagnostics are already printed; the error line only names what failed.
        throw new UserError(`sdmoec check: ${failed.length} of ${files.length} file${files.length === 1 ? '' : 's'} failed`);
      }
    });
}
