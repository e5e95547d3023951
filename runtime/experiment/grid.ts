// An experiment's cells: arms × (the sweeps that apply to each arm, crossed) × seeds, in a fixed
// order (arm, then sweep values in declaration order, then seed) so a resumed grid walks the same
// list. A cell is nothing but `--set` overrides on top of the file, so it trains exactly what
// `sdmoec run FILE --set …` would; its directory name is derived from them and is stable, which
// is what makes a stopped grid resumable.
import { UserError } from '../../base/errors.ts';
import { experimentCells } from '../../compiler/config/index.ts';
import type { ExperimentConfig } from '../../compiler/config/types.ts';

export interface Cell {
  /** Position in the grid, 0-based. */
  readonly index: number;
  /** Directory name under OUT/cells: `<arm>[-key=value…]-seed<S>`. */
  readonly id: string;
  readonly arm: string;
  /** The sweep settings of this cell, key → value, in sweep declaration order. */
  readonly sweep: Readonly<Record<string, string>>;
  readonly seed: number;
  /** Everything passed to runTraining: arm overrides, sweep values, seed, steps, checkpointing. */
  readonly overrides: readonly string[];
}

export interface GridOptions {
  /** Run only these arms (`--only`). */
  readonly only?: readonly string[];
  /** Steps per cell; overrides the experiment's `steps`. */
  readonly steps?: number | null;
  /** Seeds; overrides the experiment's. */
  readonly seeds?: readonly number[];
  /** Extra overrides for every cell (e.g. --quick's smaller batch), placed before the arm's. */
  readonly extra?: readonly string[];
  /** Checkpoint interval of every cell (so an interrupted cell loses at most this many steps). */
  readonly checkpointEvery?: number | null;
}

/** `train.optimizer.lr` → `lr`: the last path component keeps directory names short. */
function shortKey(key: string): string {
  const parts = key.split('.');
  return parts[parts.length - 1];
}

/** Values become part of a directory name: keep them portable. */
function safe(text: string): string {
  return text.replace(/[^A-Za-z0-9.+_-]/g, '_');
}

export function cellId(arm: string, sweep: Readonly<Record<string, string>>, seed: number): string {
  const keys = Object.keys(sweep);
  // Two sweeps ending in the same component (model.spectral.rank, model.x.rank) keep full keys.
  const shorts = keys.map(shortKey);
  const ambiguous = new Set(shorts).size !== shorts.length;
  const parts = keys.map((k, i) => `${safe(ambiguous ? k : shorts[i])}=${safe(sweep[k])}`);
  return [safe(arm), ...parts, `seed${seed}`].join('-');
}

export function expandGrid(exp: ExperimentConfig, options: GridOptions = {}): Cell[] {
  const armNames = exp.arms.map((a) => a.name);
  for (const name of options.only ?? []) {
    if (!armNames.includes(name)) throw new UserError(`--only ${name}: experiment ${exp.name} has no arm '${name}' (arms: ${armNames.join(', ')})`);
  }
  const seeds = options.seeds ?? exp.seeds;
  if (seeds.length === 0) throw new UserError(`experiment ${exp.name}: no seeds`);
  const steps = options.steps !== undefined ? options.steps : exp.steps;
  // The enumeration and the arm/sweep overrides are the config layer's (experimentCells), i.e.
  // exactly what `sdmoec check` validated; the runner adds its own settings around them.
  const selected = options.only && options.only.length > 0 ? exp.arms.filter((a) => options.only!.includes(a.name)) : exp.arms;
  const cells: Cell[] = experimentCells({ ...exp, arms: selected, seeds: [...seeds], steps: null }).map((c, index) => ({
    index,
    id: cellId(c.arm, c.sweep, c.seed),
    arm: c.arm,
    sweep: c.sweep,
    seed: c.seed,
    overrides: [
      ...(options.extra ?? []),
      ...c.overrides,
      `train.seed=${c.seed}`,
      ...(steps !== null && steps !== undefined ? [`train.steps=${steps}`] : []),
      ...(options.checkpointEvery ? [`train.checkpoint=${options.checkpointEvery}`] : []),
    ],
  }));
  const ids = new Set<string>();
  for (const c of cells) {
    if (ids.has(c.id)) throw new UserError(`experiment ${exp.name}: two cells would share the directory ${c.id} (a sweep repeats a value?)`);
    ids.add(c.id);
  }
  return cells;
}

/** Every `key=value` a cell sets, later settings winning (what the trainer will see). */
export function effectiveSettings(cell: Cell): Map<string, string> {
  const m = new Map<string, string>();
  for (const o of cell.overrides) {
    const eq = o.indexOf('=');
    if (eq > 0) m.set(o.slice(0, eq).trim(), o.slice(eq + 1).trim());
  }
  return m;
}
