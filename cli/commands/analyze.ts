// `sdmoec analyze PATH [-o DIR]`: expert diagnostics of one checkpoint (this project's step or run
// directory, or a Hugging Face Mixtral / Qwen2-MoE / DeepSeek-V2/V3 directory) written as
// analysis.json, SVG charts and one self-contained index.html. No device: everything runs on the CPU.
import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../../base/errors.ts';
import { analyzeModel } from '../../runtime/analyze/analyze.ts';
import { loadForAnalysis } from '../../runtime/analyze/load.ts';
import type { ExpertMatrixKind } from '../../runtime/analyze/model.ts';
import { renderReport } from '../../runtime/analyze/report.ts';

function intList(flag: string, text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (!parts.every((p) => /^\d+$/.test(p))) throw new UserError(`${flag} expects comma-separated non-negative integers, got "${text}"`);
  return parts.map(Number);
}

function positiveInt(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UserError(`${flag} expects a positive integer, got "${text}"`);
  return Number(text);
}

export function registerAnalyze(program: Command): void {
  program
    .command('analyze')
    .description('expert diagnostics of a checkpoint (ours or Hugging Face Mixtral/Qwen2-MoE/DeepSeek-V2/V3): JSON, SVG, HTML')
    .argument('<path>', 'step-NNNNNN/ or run directory (latest checkpoint), or a Hugging Face model directory')
    .option('-o, --out <dir>', 'output directory (default: <run dir>/analysis-step-NNNNNN for ours, ./analysis otherwise)')
    .option('--layers <list>', 'only these MoE layers, e.g. 0,8,16')
    .option('--matrices <list>', 'only these expert matrices (gate, up, down)')
    .option('--fraction <x>', 'share of min(rows, cols) in the "top 1 %" subspace', '0.01')
    .option('--rank-k <n>', 'second subspace rank (default: the SD rank, else 8)')
    .option('--directions <n>', 'singular directions in the router alignment', '16')
    .option('--quiet', 'no progress lines')
    .action(async (path: string, opts: { out?: string; layers?: string; matrices?: string; fraction: string; rankK?: string; directions: string; quiet?: boolean }) => {
      const fraction = Number(opts.fraction);
      if (!(fraction > 0 && fraction <= 1)) throw new UserError(`--fraction expects a number in (0, 1], got "${opts.fraction}"`);
      const matrices = opts.matrices?.split(',').map((s) => s.trim());
      const badKind = matrices?.find((m) => !['gate', 'up', 'down'].includes(m));
      if (badKind !== undefined) throw new UserError(`--matrices: "${badKind}" is not one of gate, up, down`);
      const log = (line: string): void => {
        if (!opts.quiet) process.stderr.write(line + '\n');
      };
      const model = await loadForAnalysis(path);
      log(`${model.path}: ${model.format} ${model.architecture}, ${model.moeLayers.length} MoE layers × ${model.experts} experts`);
      const result = await analyzeModel(model, {
        fraction,
        rankK: positiveInt('--rank-k', opts.rankK),
        alignmentDirections: positiveInt('--directions', opts.directions),
        ...(opts.layers ? { layers: intList('--layers', opts.layers) } : {}),
        ...(matrices ? { matrices: matrices as ExpertMatrixKind[] } : {}),
        onProgress: log,
      });
      // Ours: beside the checkpoint in its run directory (never inside it); others: ./analysis.
      const out = resolve(opts.out ?? (model.format === 'sdmoec' ? join(dirname(model.path), `analysis-${basename(model.path)}`) : 'analysis'));
      const files = renderReport(result, `sdmoec analyze ${path}`);
      for (const f of files) {
        const target = join(out, f.name);
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, f.content);
      }
      const s = result.summary;
      const overlap = typeof s.expert_overlap === 'number' ? `, expert overlap ${s.expert_overlap.toFixed(3)} (${s.expert_overlap_on})` : '';
      process.stdout.write(`${out}: analysis.json, index.html and ${files.length - 2} SVG charts for ${result.entries.length} expert matrices${overlap}\n`);
    });
}
