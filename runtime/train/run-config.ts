// The run directory's `config.json`: the resolved model and train config a run was started with
// (overrides applied, data path absolute), the file and overrides that produced it, and its hash.
// `sdmoec run --resume DIR` continues from this record alone, so a resumed run trains exactly as
// it was configured. When a FILE (and --set flags) is given with --resume, the freshly resolved
// config is compared with the record: harmless changes (logging/eval/checkpoint intervals, eval
// batches, the eval block, divergence thresholds, more steps under a constant schedule) are applied and printed; anything else is refused
// unless forced (`--allow-changes`), because it would silently change the run mid-way (a cosine
// schedule re-stretched over new steps, another learning rate, another model).
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../../base/errors.ts';
import { stableJson } from '../../base/stable-json.ts';
import type { EvalConfig, ModelConfig, TrainConfig } from '../../compiler/config/types.ts';

export interface RunConfigRecord {
  readonly model: ModelConfig;
  readonly train: TrainConfig;
  /** The file's eval block (data path resolved), which `sdmoec eval` of the run's checkpoints uses;
   *  null or absent (records older than eval blocks): the implicit evaluation of the train block. */
  readonly eval?: EvalConfig | null;
  readonly configHash: string;
  /** The .moe file and overrides the run was started (or last changed) with, for messages. */
  readonly file?: string;
  readonly overrides?: readonly string[];
  /** Changes accepted on resume, oldest first. */
  readonly changes?: readonly { atStep: number; changes: readonly ConfigChange[] }[];
}

export interface ConfigChange {
  /** Dotted path, e.g. `train.logEvery`. */
  readonly path: string;
  readonly from: unknown;
  readonly to: unknown;
  readonly harmless: boolean;
}

/** A run directory for a --resume argument: the directory itself, or the parent of a `step-N` checkpoint. */
export function runDirOf(resume: string): string {
  if (/^step-\d+$/.test(basename(resume)) && !existsSync(join(resume, 'config.json'))) return dirname(resume);
  return resume;
}

export function readRunConfig(runDir: string): RunConfigRecord | undefined {
  const path = join(runDir, 'config.json');
  if (!existsSync(path)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message}); the run's resolved config cannot be read`);
  }
  const r = parsed as Partial<RunConfigRecord>;
  if (!r || typeof r !== 'object' || !r.model || !r.train || typeof r.configHash !== 'string') {
    throw new UserError(`${path}: not a run config (expected model, train and configHash)`);
  }
  return r as RunConfigRecord;
}

// The divergence thresholds only decide when to stop, never what a step computes.
const HARMLESS_TRAIN_KEYS = new Set(['logEvery', 'evalEvery', 'checkpointEvery', 'evalBatches', 'divergence']);

function leaves(value: unknown, prefix: string, out: Map<string, string>): void {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) leaves(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.set(prefix, stableJson(value));
  }
}

/** Every leaf that differs between the recorded and the fresh config, each classified. */
export function diffRunConfig(
  recorded: { model: ModelConfig; train: TrainConfig; eval?: EvalConfig | null },
  fresh: { model: ModelConfig; train: TrainConfig; eval?: EvalConfig | null },
): ConfigChange[] {
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  leaves({ model: recorded.model, train: recorded.train, eval: recorded.eval ?? null }, '', a);
  leaves({ model: fresh.model, train: fresh.train, eval: fresh.eval ?? null }, '', b);
  // `split test` holds documents out of training: switching it on or off changes the train data.
  const testSplitChanged = (recorded.eval?.split === 'test') !== (fresh.eval?.split === 'test');
  const changes: ConfigChange[] = [];
  for (const path of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const from = a.get(path);
    const to = b.get(path);
    if (from === to) continue;
    const [root, key] = path.split('.');
    const moreStepsConstant =
      path === 'train.steps' && fresh.train.schedule.kind === 'constant' && recorded.train.schedule.kind === 'constant' && fresh.train.steps > recorded.train.steps;
    changes.push({
      path,
      from: from === undefined ? undefined : JSON.parse(from),
      to: to === undefined ? undefined : JSON.parse(to),
      // What is evaluated never changes what is trained, except whether a test split is held out.
      harmless: (root === 'train' && HARMLESS_TRAIN_KEYS.has(key)) || (root === 'eval' && !testSplitChanged) || moreStepsConstant,
    });
  }
  return changes;
}

export function describeChanges(changes: readonly ConfigChange[]): string {
  return changes.map((c) => `  ${c.path}: ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}${c.harmless ? '' : '  (changes the run)'}`).join('\n');
}
