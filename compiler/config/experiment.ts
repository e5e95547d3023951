// Reads an `experiment NAME { … }` block into ExperimentConfig. Arms and sweeps are kept as
// `key=value` strings exactly as `sdmoec run --set` takes them (the value is the source text as
// written), plus the located Override objects resolve.ts uses to check every arm and every sweep
// value against the file before any run starts, so a typo in an arm is a located check error.
//   arm NAME                         the file as it is
//   arm NAME(key = value, …)         the file with these overrides
//   sweep KEY(v1, v2, …[, arms = (A, B)])
//   baseline NAME  seeds 1, 2, 3  steps 400  eval_batches all|N  metrics bits_per_byte, …
import { describeValue, suggestion, type Block, type Entry, type Loc, type Value } from '../../grammar/index.ts';
import { BlockReader, type Override, type ReadContext } from './reader.ts';
import { EXPERIMENT_METRICS, type ExperimentConfig } from './types.ts';

/** Located overrides behind the strings of ExperimentConfig, for validation in resolve.ts. */
export interface ExperimentOverrides {
  arms: { name: string; nameLoc: Loc; overrides: Override[] }[];
  sweeps: { key: string; values: Override[]; arms: string[] | null }[];
  steps: Override | null;
}

/** Source text of a value as written: what `--set key=value` would take. */
function sourceText(v: Value): string {
  return v.loc.source.text.slice(v.loc.offset, v.loc.offset + v.loc.length);
}

/** An override located in the .moe file: each dotted segment of the key gets its own location. */
function fileOverride(key: string, keyLoc: Loc, value: Value): Override {
  const segments: Override['segments'] = [];
  let offset = 0;
  for (const name of key.split('.')) {
    segments.push({ name, loc: keyLoc.source.loc(keyLoc.offset + offset, name.length) });
    offset += name.length + 1;
  }
  return { path: key, segments, value, used: false };
}

export function overrideString(o: Override): string {
  return `${o.path}=${sourceText(o.value)}`;
}

function keyProblem(key: string): string | null {
  const segments = key.split('.');
  if (segments.length < 2) return `'${key}' needs a block and a key, e.g. model.dim or train.steps`;
  if (!['model', 'train', 'eval'].includes(segments[0])) {
    return `an override starts with model, train or eval, not '${segments[0]}'${suggestion(segments[0], ['model', 'train', 'eval'])}`;
  }
  return null;
}

export function readExperiment(
  name: string,
  nameLoc: Loc,
  body: Block,
  ctx: ReadContext,
): { config: ExperimentConfig; located: ExperimentOverrides } {
  const bag = ctx.bag;
  // `arm` and `sweep` repeat, so they are taken out before the reader (which rejects duplicates).
  const repeated = (e: Entry): boolean => e.key === 'arm' || e.key === 'sweep';
  const armEntries = body.items.filter((i): i is Entry => i.kind === 'entry' && i.key === 'arm');
  const sweepEntries = body.items.filter((i): i is Entry => i.kind === 'entry' && i.key === 'sweep');
  const rest: Block = { items: body.items.filter((i) => i.kind !== 'entry' || !repeated(i)), loc: body.loc };
  const r = new BlockReader('experiment', rest, ctx, nameLoc);
  r.entry('arm');
  r.entry('sweep');
  if (r.switchItem) bag.error(`an experiment cannot be switched ${r.switchItem.on ? 'on' : 'off'}; remove the line`, r.switchItem.loc);

  const located: ExperimentOverrides = { arms: [], sweeps: [], steps: null };

  for (const e of armEntries) {
    if (e.block) bag.error(`'arm' takes NAME(key = value, …), not a block`, e.block.loc);
    if (e.values.length === 0) {
      if (!e.block) bag.error(`'arm' needs a name, e.g. arm baseline or arm sd(model.spectral.rank = 4)`, e.keyLoc);
      continue;
    }
    if (e.values.length > 1) bag.error(`one arm per line: 'arm NAME(key = value, …)'`, e.values[1].loc);
    const v = e.values[0];
    if (v.kind !== 'name' && v.kind !== 'call') {
      bag.error(`an arm is NAME or NAME(key = value, …), found '${describeValue(v)}'`, v.loc);
      continue;
    }
    const armName = v.name;
    const armNameLoc = v.kind === 'call' ? v.nameLoc : v.loc;
    if (armName.includes('.')) {
      bag.error(`arm name '${armName}' may not contain '.'`, armNameLoc);
      continue;
    }
    const previous = located.arms.find((a) => a.name === armName);
    if (previous) {
      bag.error(`arm '${armName}' is declared twice`, armNameLoc, { notes: [{ message: 'first declared here', loc: previous.nameLoc }] });
      continue;
    }
    const overrides: Override[] = [];
    for (const arg of v.kind === 'call' ? v.args : []) {
      if (arg.name === null || arg.nameLoc === null) {
        bag.error(`an arm's overrides are 'key = value', e.g. model.spectral.rank = 4; found '${describeValue(arg.value)}'`, arg.value.loc);
        continue;
      }
      const problem = keyProblem(arg.name);
      if (problem) {
        bag.error(problem, arg.nameLoc);
        continue;
      }
      const dup = overrides.find((o) => o.path === arg.name);
      if (dup) {
        bag.error(`arm '${armName}' sets ${arg.name} twice`, arg.nameLoc, { notes: [{ message: 'first set here', loc: dup.segments[0].loc }] });
        continue;
      }
      overrides.push(fileOverride(arg.name, arg.nameLoc, arg.value));
    }
    located.arms.push({ name: armName, nameLoc: armNameLoc, overrides });
  }
  const armNames = located.arms.map((a) => a.name);
  if (armEntries.length === 0) bag.error(`experiment '${name}' needs at least one arm, e.g. arm baseline`, nameLoc);

  for (const e of sweepEntries) {
    if (e.block) bag.error(`'sweep' takes KEY(value, …), not a block`, e.block.loc);
    const v = e.values[0];
    if (!v) {
      if (!e.block) bag.error(`'sweep' needs KEY(value, …), e.g. sweep train.optimizer.lr(1e-3, 3e-3)`, e.keyLoc);
      continue;
    }
    if (e.values.length > 1) bag.error(`one sweep per line: 'sweep KEY(value, …)'`, e.values[1].loc);
    if (v.kind !== 'call') {
      bag.error(`a sweep is KEY(value, …), e.g. sweep train.optimizer.lr(1e-3, 3e-3); found '${describeValue(v)}'`, v.loc);
      continue;
    }
    const problem = keyProblem(v.name);
    if (problem) {
      bag.error(problem, v.nameLoc);
      continue;
    }
    const previous = located.sweeps.find((s) => s.key === v.name);
    if (previous) {
      bag.error(`${v.name} is swept twice`, v.nameLoc, { notes: [{ message: 'first swept here', loc: previous.values[0]?.segments[0].loc ?? v.nameLoc }] });
      continue;
    }
    const values: Override[] = [];
    let arms: string[] | null = null;
    for (const arg of v.args) {
      if (arg.name === null) {
        const text = sourceText(arg.value);
        if (values.some((o) => sourceText(o.value) === text)) bag.error(`value ${text} appears twice in the sweep of ${v.name}`, arg.value.loc);
        else values.push(fileOverride(v.name, v.nameLoc, arg.value));
        continue;
      }
      if (arg.name !== 'arms') {
        bag.error(`unknown sweep argument '${arg.name}'${suggestion(arg.name, ['arms']) || '; a sweep takes its values and optionally arms = (A, B)'}`, arg.nameLoc ?? arg.value.loc);
        continue;
      }
      const items = arg.value.kind === 'tuple' ? arg.value.items : [arg.value];
      arms = [];
      for (const item of items) {
        if (item.kind !== 'name') {
          bag.error(`arms = (…) lists arm names, found '${describeValue(item)}'`, item.loc);
          continue;
        }
        if (!armNames.includes(item.name)) bag.error(`unknown arm '${item.name}'${suggestion(item.name, armNames)}`, item.loc);
        else if (!arms.includes(item.name)) arms.push(item.name);
      }
    }
    if (values.length === 0) bag.error(`sweep of ${v.name} needs at least one value`, v.loc);
    located.sweeps.push({ key: v.name, values, arms });
  }

  const baselineValue = r.value('baseline');
  let baseline = armNames[0] ?? '';
  if (baselineValue) {
    if (baselineValue.kind === 'name' && armNames.includes(baselineValue.name)) baseline = baselineValue.name;
    else {
      const word = baselineValue.kind === 'name' ? baselineValue.name : describeValue(baselineValue);
      bag.error(`baseline must name an arm, found '${word}'${suggestion(word, armNames) || (armNames.length ? `; arms: ${armNames.join(', ')}` : '')}`, baselineValue.loc);
    }
  }

  const seeds: number[] = [];
  const seedValues = r.values('seeds');
  if (seedValues === undefined && r.ok('seeds')) bag.error(`experiment '${name}' needs seeds, e.g. seeds 1, 2, 3`, nameLoc);
  for (const sv of seedValues ?? []) {
    if (sv.kind === 'number' && Number.isNaN(sv.value)) continue; // malformed, already reported
    if (sv.kind !== 'number' || !Number.isInteger(sv.value) || sv.value < 0) {
      bag.error(`a seed is a non-negative integer, found '${describeValue(sv)}'`, sv.loc);
      continue;
    }
    if (seeds.includes(sv.value)) bag.error(`seed ${sv.raw} is listed twice`, sv.loc);
    else seeds.push(sv.value);
  }

  let steps: number | null = null;
  if (r.present('steps')) {
    steps = r.int('steps', 1, { min: 1 });
    const sv = r.value('steps');
    if (sv && r.ok('steps')) located.steps = fileOverride('train.steps', r.entry('steps')?.keyLoc ?? nameLoc, sv);
  }

  let evalBatches: number | 'all' = 'all';
  const eb = r.value('eval_batches');
  if (eb) {
    if (eb.kind === 'name' && eb.name === 'all') evalBatches = 'all';
    else if (eb.kind === 'number' && Number.isInteger(eb.value) && eb.value >= 1) evalBatches = eb.value;
    else if (!(eb.kind === 'number' && Number.isNaN(eb.value))) {
      bag.error(`'eval_batches' must be a positive integer or 'all', found '${describeValue(eb)}'`, eb.loc);
    }
  }

  const metrics: string[] = [];
  const metricValues = r.values('metrics');
  for (const mv of metricValues ?? []) {
    const m = r.checkChoice('metrics', mv, EXPERIMENT_METRICS);
    if (m && !metrics.includes(m)) metrics.push(m);
  }
  if (metricValues === undefined) metrics.push('bits_per_byte', 'tokens_per_s');
  r.finish();

  return {
    config: {
      name,
      arms: located.arms.map((a) => ({ name: a.name, overrides: a.overrides.map(overrideString) })),
      baseline,
      sweeps: located.sweeps.map((s) => ({ key: s.key, values: s.values.map((o) => sourceText(o.value)), arms: s.arms })),
      seeds,
      metrics,
      steps,
      evalBatches,
    },
    located,
  };
}

/** One run of an experiment. */
export interface ExperimentCell {
  arm: string;
  /** `train.steps` (when the experiment sets it), the arm's overrides, then one value of each
   *  sweep applying to the arm, in declaration order: the order check validated them in. */
  overrides: string[];
  /** The sweep values of this cell, by key (empty when no sweep applies to the arm). */
  sweep: Record<string, string>;
  seed: number;
}

/** Every cell: arms in order, sweeps crossed (first sweep varies slowest), seeds innermost. */
export function experimentCells(x: ExperimentConfig): ExperimentCell[] {
  const cells: ExperimentCell[] = [];
  for (const arm of x.arms) {
    const sweeps = x.sweeps.filter((s) => s.arms === null || s.arms.includes(arm.name));
    let combos: Record<string, string>[] = [{}];
    for (const s of sweeps) combos = combos.flatMap((c) => s.values.map((v) => ({ ...c, [s.key]: v })));
    for (const combo of combos) {
      const overrides = [...(x.steps === null ? [] : [`train.steps=${x.steps}`]), ...arm.overrides, ...Object.entries(combo).map(([k, v]) => `${k}=${v}`)];
      for (const seed of x.seeds) cells.push({ arm: arm.name, overrides, sweep: combo, seed });
    }
  }
  return cells;
}
