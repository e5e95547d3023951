// Public face of the semantic model: later stages import from here only.
//   checkFile(path, {overrides}) → { config | null, diagnostics }   (never throws for user input)
//   loadConfig(path, {overrides}) → NormalisedConfig                 (throws UserError with diagnostics)
//   summarize(model, train, limits) → parameter / memory / buffer summary
//   printConfig(config) → canonical .moe text (round-trips to the same config)
import { readFileSync } from 'node:fs';
import { UserError } from '../../base/errors.ts';
import { DiagnosticBag, formatDiagnostics, Source, type Diagnostic } from '../../grammar/index.ts';
import { checkSource, type CheckOptions, type CheckResult } from './resolve.ts';
import type { ModelConfig, NormalisedConfig, TrainConfig } from './types.ts';

export * from './types.ts';
export { checkSource, checkAst, parseOverride, mergeBlocks, type CheckOptions, type CheckResult } from './resolve.ts';
export { experimentCells, type ExperimentCell } from './experiment.ts';
export { printConfig, printModel, printTrain, printEval, printExperiment } from './print.ts';
export {
  summarize,
  renderSummary,
  oversizeMessages,
  formatBytes,
  formatCount,
  type Summary,
  type Limits,
  type BufferEstimate,
  type ParameterCounts,
  type MemoryEstimate,
} from './summary.ts';

/** Read and check a .moe file; an unreadable file becomes a diagnostic, not an exception. */
export function checkFile(path: string, options: CheckOptions = {}): CheckResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    const bag = new DiagnosticBag();
    bag.error(`cannot read ${path}: ${reason}`);
    return { config: null, diagnostics: bag.items, ast: { decls: [] } };
  }
  return checkSource(new Source(path, text), options);
}

/** For stages that just need a valid config: errors become one UserError listing every diagnostic. */
export function loadConfig(path: string, options: CheckOptions = {}): { config: NormalisedConfig; warnings: Diagnostic[] } {
  const result = checkFile(path, options);
  if (!result.config) throw new UserError(formatDiagnostics(result.diagnostics).trimEnd());
  return { config: result.config, warnings: result.diagnostics.filter((d) => d.severity === 'warning') };
}

/** The model a file is about: the trained one, else the evaluated one, else the last declared. */
export function targetModel(config: NormalisedConfig): ModelConfig {
  const name = config.train?.model ?? config.eval?.model;
  return config.models.find((m) => m.name === name) ?? config.models[config.models.length - 1];
}

export function trainOf(config: NormalisedConfig): TrainConfig | null {
  return config.train;
}
