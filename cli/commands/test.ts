// `sdmoec test FILE [--golden DIR] [--bless]`: golden WGSL for every kernel of a model plus CPU
// oracle checks, so users can lock their models' kernels in their own CI (runtime/model-test.ts).
import type { Command } from 'commander';
import { basename, dirname, join } from 'node:path';
import { testModel } from '../../runtime/model-test.ts';
import { collectSet } from './check.ts';

export function registerTest(program: Command): void {
  program
    .command('test')
    .description("compare a model's generated kernels with blessed copies and check each against its CPU oracle")
    .argument('<file>', '.moe file')
    .option('--golden <dir>', 'directory of blessed kernels (default: <file dir>/golden/<file name>)')
    .option('--bless', 'write the generated kernels as the new blessed copies')
    .option('--goldens-only', 'skip the numeric checks')
    .option('--set <key=value>', 'override a setting (repeatable)', collectSet, [])
    .action(async (file: string, opts: { golden?: string; bless?: boolean; goldensOnly?: boolean; set: string[] }) => {
      const goldenDir = opts.golden ?? join(dirname(file), 'golden', basename(file, '.moe'));
      const result = await testModel({
        file,
        overrides: opts.set,
        goldenDir,
        bless: Boolean(opts.bless),
        goldensOnly: opts.goldensOnly,
        log: (line) => process.stdout.write(line + '\n'),
      });
      if (!result.ok) {
        process.stdout.write(`sdmoec test: FAILED (${result.differs} kernel diffs, ${result.missing} missing, ${result.stale} stale, ${result.numericFailed} numeric failures)\n`);
        process.exitCode = 1;
      } else {
        process.stdout.write('sdmoec test: ok\n');
      }
    });
}
