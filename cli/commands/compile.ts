// `sdmoec compile FILE -o DIR [--set …] [--max-binding-size N]`: checks the file, then writes the
// front-end artefacts (normalised config as JSON and canonical .moe, parameter/memory summary as
// markdown and JSON). A buffer larger than the adapter's maxStorageBufferBindingSize is a user
// error naming the buffer (the summary is still written, so it can be read). Later stages add
// their artefacts by calling their own writer after writeFrontEnd in the action.
import { writeCompiledArtifacts } from '../../compiler/artifacts.ts';
import { LoweringError } from '../../compiler/lower/model.ts';
import { compileTraining, type CompiledTraining } from '../../compiler/pipeline.ts';
import { acquireDevice } from '../../runtime/device.ts';
import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../base/errors.ts';
import { formatDiagnostics } from '../../grammar/index.ts';
import {
  checkFile,
  formatBytes,
  formatCount,
  oversizeMessages,
  printConfig,
  renderSummary,
  summarize,
  type Limits,
  type NormalisedConfig,
  type Summary,
} from '../../compiler/config/index.ts';
import { collectSet } from './check.ts';
import { writeTorchTarget } from '../../runtime/targets/torch.ts';

/** lavapipe's maxStorageBufferBindingSize: the fallback when no adapter can be queried. */
export const DEFAULT_MAX_BINDING_SIZE = 134_217_728;

export interface FrontEndArtefacts {
  files: string[];
  summaries: Summary[];
}

/** Adapter limits: the flag wins; otherwise ask the WebGPU adapter, falling back to lavapipe's value. */
export async function resolveLimits(maxBindingSize: string | undefined): Promise<Limits> {
  if (maxBindingSize !== undefined) {
    const n = Number(maxBindingSize);
    if (!Number.isInteger(n) || n <= 0) throw new UserError(`--max-binding-size must be a positive integer (bytes), got '${maxBindingSize}'`);
    return { name: '--max-binding-size', maxStorageBufferBindingSize: n };
  }
  try {
    const { adapterLimits } = await import('../../runtime/device.ts');
    const limits = await adapterLimits();
    return { name: limits.name, maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize, maxBufferSize: limits.maxBufferSize };
  } catch (err) {
    process.stderr.write(`note: no WebGPU adapter (${(err as Error).message}); assuming maxStorageBufferBindingSize ${DEFAULT_MAX_BINDING_SIZE}\n`);
    return { name: 'lavapipe default', maxStorageBufferBindingSize: DEFAULT_MAX_BINDING_SIZE };
  }
}

/** Summaries of every model in the file; only the trained model gets the train block's activations. */
export function summarizeAll(config: NormalisedConfig, limits: Limits): Summary[] {
  return config.models.map((m) => summarize(m, config.train && config.train.model === m.name ? config.train : null, limits));
}

/** Writes config.json, config.moe, summary.md and summary.json into outDir. */
export function writeFrontEnd(config: NormalisedConfig, sourceFile: string, outDir: string, limits: Limits): FrontEndArtefacts {
  mkdirSync(outDir, { recursive: true });
  const summaries = summarizeAll(config, limits);
  const written: Record<string, string> = {
    'config.json': JSON.stringify({ source: sourceFile, ...config }, null, 2) + '\n',
    'config.moe': `# normalised from ${sourceFile} by sdmoec compile\n` + printConfig(config),
    'summary.md': `# Summary of ${sourceFile}\n\n` + summaries.map(renderSummary).join('\n'),
    'summary.json': JSON.stringify(summaries, null, 2) + '\n',
  };
  const files: string[] = [];
  for (const [name, text] of Object.entries(written)) {
    const path = join(outDir, name);
    writeFileSync(path, text);
    files.push(path);
  }
  return { files, summaries };
}

/**
 * IR, kernels and the buffer/dispatch manifest of the train block's model, when there is one and
 * the training engine supports it (otherwise a note says why they were skipped).
 */
async function writeBackEnd(config: NormalisedConfig, outDir: string): Promise<void> {
  const train = config.train;
  const model = train && config.models.find((m) => m.name === train.model);
  if (!train || !model) {
    process.stdout.write('IR and kernels: skipped (no train block)\n');
    return;
  }
  const ctx = await acquireDevice();
  let compiled: CompiledTraining;
  try {
    compiled = compileTraining(model, train, ctx.caps);
  } catch (e) {
    if (!(e instanceof LoweringError)) throw e;
    process.stdout.write(`IR and kernels: skipped (${e.message})\n`);
    return;
  }
  const a = writeCompiledArtifacts(outDir, compiled);
  const plan = compiled.stepPlan;
  process.stdout.write(
    `training step: ${a.stepDispatches} dispatches, ${formatBytes(plan.totalBytes)} of device buffers ` +
      `(activations without reuse would need ${formatBytes(plan.unplannedActivationBytes)}); evaluation: ${a.evalDispatches} dispatches\n` +
      `wrote forward.ir, step.ir, eval.ir, kernels/ (${a.kernels} kernels), manifest.json\n`,
  );
}

export function registerCompile(program: Command): void {
  program
    .command('compile')
    .description('check a .moe file and write its normalised config, memory summary, IR, kernels and dispatch manifest')
    .argument('<file>', '.moe file to compile')
    .requiredOption('-o, --out <dir>', 'output directory')
    .option('--set <key=value>', 'override a setting, e.g. train.optimizer.lr=4e-4 (repeatable)', collectSet, [])
    .option('--max-binding-size <bytes>', 'maxStorageBufferBindingSize to check buffers against (default: ask the adapter)')
    .option('--allow-oversize', 'report buffers above the binding limit as warnings (memory planning for larger GPUs)')
    .option('--target <target>', "what to emit after the config: 'webgpu' (IR, WGSL kernels, manifest) or 'torch' (a PyTorch package: model.py, train.py, data/; docs/torch-target.md)", 'webgpu')
    .action(async (file: string, opts: { out: string; set: string[]; maxBindingSize?: string; allowOversize?: boolean; target: string }) => {
      if (opts.target !== 'webgpu' && opts.target !== 'torch') throw new UserError(`--target must be 'webgpu' or 'torch', got '${opts.target}'`);
      const result = checkFile(file, { overrides: opts.set });
      if (result.diagnostics.length) process.stderr.write(formatDiagnostics(result.diagnostics));
      if (!result.config) throw new UserError(`sdmoec compile: ${file} has errors; nothing written`);
      const limits = await resolveLimits(opts.maxBindingSize);
      const artefacts = writeFrontEnd(result.config, file, opts.out, limits);
      for (const s of artefacts.summaries) {
        const act = s.memory.activationBytes === null ? '' : `, activations ${formatBytes(s.memory.activationBytes)}`;
        process.stdout.write(
          `${s.model}: ${formatCount(s.params.total)} parameters, ${formatCount(s.params.activePerToken)} active per token; ` +
            `weights+grads+optimizer ${formatBytes(s.memory.parameterBytes + s.memory.gradientBytes + s.memory.optimizerBytes)}${act}\n`,
        );
      }
      process.stdout.write(`wrote ${artefacts.files.join(', ')}\n`);
      const problems = oversizeMessages(artefacts.summaries);
      if (opts.target === 'torch') {
        const written = writeTorchTarget(result.config, file, opts.out, { overrides: opts.set, log: (line) => process.stdout.write(line + '\n') });
        process.stdout.write(`wrote ${written.join(', ')}\n`);
      } else if (!problems.length) await writeBackEnd(result.config, opts.out);
      // The binding limit is WebGPU's: a torch package is not bound by it.
      if (problems.length && (opts.allowOversize || opts.target === 'torch')) {
        process.stderr.write(problems.map((p) => `${file}: warning: ${p}\n`).join(''));
      } else if (problems.length) {
        throw new UserError(
          `${file}: error: ${problems.length} buffer${problems.length === 1 ? '' : 's'} would not fit:\n` +
            problems.map((p) => `  ${p}`).join('\n') +
            `\n  hint: reduce the sizes above, check against another adapter with --max-binding-size, or plan anyway with --allow-oversize`,
        );
      }
    });
}
