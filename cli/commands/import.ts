// `sdmoec import config.json -o FILE.moe`: a Hugging Face MoE config as a .moe model
// (runtime/export/import.ts). Fields the language cannot express are listed on stderr and in a
// comment at the top of the file; the written file is checked like `sdmoec check` before return.
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { UserError } from '../../base/errors.ts';
import { checkFile } from '../../compiler/config/index.ts';
import { formatDiagnostics } from '../../grammar/index.ts';
import { importHfConfig } from '../../runtime/export/import.ts';

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('write a .moe model from a Hugging Face config.json (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE, DeepSeek-V2/V3)')
    .argument('<config>', 'config.json of a Hugging Face model')
    .requiredOption('-o, --out <file>', 'the .moe file to write')
    .option('--name <name>', 'model name (default: from _name_or_path, else the model_type)')
    .action((config: string, opts: { out: string; name?: string }) => {
      const r = importHfConfig(config, opts.name);
      writeFileSync(opts.out, r.text);
      const checked = checkFile(opts.out);
      if (!checked.config) throw new UserError(`${opts.out}: the imported model does not pass check:\n${formatDiagnostics(checked.diagnostics)}`);
      for (const line of r.reported) process.stderr.write(`not expressible: ${line}\n`);
      process.stdout.write(`wrote ${opts.out} (${r.architecture}${r.reported.length ? `, ${r.reported.length} field${r.reported.length === 1 ? '' : 's'} not expressible, listed above and in the file` : ''})\n`);
    });
}
