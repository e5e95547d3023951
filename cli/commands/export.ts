// `sdmoec export CKPT --format hf -o DIR`: a trained checkpoint as a Hugging Face model directory
// (runtime/export/hf.ts). The architecture is the one computing the same function
// (runtime/export/architecture.ts); without one the export is refused with the options that
// differ, unless --architecture forces one, whose mismatches are then printed.
import type { Command } from 'commander';
import { UserError } from '../../base/errors.ts';
import { ARCHITECTURE_TITLE, describeMismatches, EXPORT_ARCHITECTURES, type ExportArchitecture } from '../../runtime/export/architecture.ts';
import { exportHf, parseSize } from '../../runtime/export/hf.ts';
import { loadTrainedModel, runTokenizer } from '../../runtime/sample/forward.ts';

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write a checkpoint as a Hugging Face model directory (SD experts merged)')
    .argument('<checkpoint>', 'checkpoint directory or run directory (its latest checkpoint)')
    .requiredOption('-o, --out <dir>', 'output directory')
    .option('--format <format>', 'output format (hf)', 'hf')
    .option('--architecture <name>', `force an architecture (${EXPORT_ARCHITECTURES.join(', ')}) even where it computes a different function`)
    .option('--max-shard-size <size>', 'shard model.safetensors above this size (e.g. 2GB, 500MB, bytes)', '5GB')
    .option('--no-tokenizer', 'do not write tokenizer.json (skips loading the run\'s corpus)')
    .action(async (checkpoint: string, opts: { out: string; format: string; architecture?: string; maxShardSize: string; tokenizer: boolean }) => {
      if (opts.format !== 'hf') throw new UserError(`--format ${opts.format}: the only export format is hf (Hugging Face)`);
      if (opts.architecture !== undefined && !EXPORT_ARCHITECTURES.includes(opts.architecture as ExportArchitecture)) {
        throw new UserError(`--architecture ${opts.architecture}: unknown; export writes ${EXPORT_ARCHITECTURES.join(', ')}`);
      }
      const maxShardBytes = parseSize(opts.maxShardSize);
      const trained = await loadTrainedModel(checkpoint);
      const log = (line: string): void => void process.stderr.write(line + '\n');
      const tokenizer = opts.tokenizer ? runTokenizer(trained.model, trained.train, log, { testSplit: trained.testSplit }) : undefined;
      const r = await exportHf(trained.model, trained.ckpt.params, { outDir: opts.out, architecture: opts.architecture as ExportArchitecture | undefined, maxShardBytes, tokenizer, where: trained.ckpt.dir });
      if (r.mismatches.length > 0) {
        process.stderr.write(`warning: ${ARCHITECTURE_TITLE[r.architecture]} computes a different function from model ${trained.model.name}:\n${describeMismatches(r.mismatches)}\n`);
      }
      for (const n of r.notes) process.stderr.write(`note: ${n.option}: ${n.detail}\n`);
      process.stdout.write(
        `exported ${trained.ckpt.dir} (step ${trained.ckpt.step}) as ${ARCHITECTURE_TITLE[r.architecture]}: ${r.tensors} tensors, ${(r.bytes / 2 ** 20).toFixed(1)} MiB` +
          `${r.merged ? `, ${r.merged} SD matrices merged as W_c + W_u(i)` : ''}\n${r.files.map((f) => `  ${opts.out}/${f}`).join('\n')}\n`,
      );
    });
}
