// `sdmoec opt --passes=a,b FILE.ir`: runs IR passes alone, text in, text out. `--list` prints the
// pass registry. The result is verified after every pass, so a broken pass is caught here too.
import type { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { IrError } from '../../compiler/ir/infer.ts';
import { parseGraph, printGraph, verifyGraph } from '../../compiler/ir/text.ts';
import { PASSES, findPass, runPasses } from '../../compiler/passes/registry.ts';
import { UserError } from '../../base/errors.ts';

export function registerOpt(program: Command): void {
  program
    .command('opt')
    .description('run IR passes on a textual IR file and print the result')
    .argument('[file]', 'IR file (textual form, as written by `sdmoec compile`)')
    .option('--passes <list>', 'comma-separated pass names, in order', '')
    .option('--list', 'list every pass with its summary')
    .option('-o, --output <file>', 'write the result here instead of stdout')
    .action((file: string | undefined, opts: { passes: string; list?: boolean; output?: string }) => {
      if (opts.list) {
        const width = Math.max(...PASSES.map((p) => p.name.length));
        for (const p of PASSES) process.stdout.write(`${p.name.padEnd(width)}  ${p.summary}\n`);
        return;
      }
      if (!file) throw new UserError('sdmoec opt: missing IR file (or use --list)');
      const names = opts.passes.split(',').map((s) => s.trim()).filter(Boolean);
      for (const n of names) {
        if (!findPass(n)) throw new UserError(`sdmoec opt: unknown pass '${n}'; passes are: ${PASSES.map((p) => p.name).join(', ')}`);
      }
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        throw new UserError(`sdmoec opt: cannot read ${file}`);
      }
      try {
        const g = parseGraph(text, file);
        verifyGraph(g);
        const result = runPasses(g, names, {}, (_name, cur) => verifyGraph(cur));
        const printed = printGraph(result);
        if (opts.output) writeFileSync(opts.output, printed);
        else process.stdout.write(printed);
      } catch (e) {
        if (e instanceof IrError) throw new UserError(`error: ${e.message}`);
        throw e;
      }
    });
}
