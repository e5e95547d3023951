// The semantic model of a .moe file: collects declarations, resolves `extends` (deep merge of
// blocks, derived wins), applies `--set` overrides to the target (the trained model, its train
// block and eval block), then reads everything into the normalised config. Never throws for user
// input; every problem is a located diagnostic. The config is null when any error was reported.
// An `experiment` block is checked by re-checking the file once per arm and once per (sweep value,
// arm it applies to) with those overrides added, so each arm and value is validated by exactly the
// machinery `--set` uses and its errors point into the experiment block.
import {
  DiagnosticBag,
  Source,
  parseSource,
  parseValue,
  suggestion,
  describeValue,
  type Block,
  type BlockItem,
  type Diagnostic,
  type Entry,
  type EvalDecl,
  type ExperimentDecl,
  type Loc,
  type ModelDecl,
  type MoeFile,
  type TrainDecl,
} from '../../grammar/index.ts';
import { readExperiment, type ExperimentOverrides } from './experiment.ts';
import { readModel } from './model.ts';
import { BlockReader, OverrideSet, type Override, type ReadContext } from './reader.ts';
import { readEval, readTrain } from './train.ts';
import type { ExperimentConfig, ModelConfig, NormalisedConfig, TrainConfig } from './types.ts';

/** Deep merge for `extends`: entries are matched by key; nested blocks merge recursively. */
export function mergeBlocks(base: Block, derived: Block): Block {
  const items: BlockItem[] = base.items.filter((i) => !(i.kind === 'switch' && derived.items.some((d) => d.kind === 'switch')));
  for (const item of derived.items) {
    if (item.kind === 'switch') {
      items.push(item);
      continue;
    }
    const index = items.findIndex((i) => i.kind === 'entry' && i.key === item.key);
    if (index < 0) items.push(item);
    else items[index] = mergeEntries(items[index] as Entry, item);
  }
  return { items, loc: derived.loc };
}

function mergeEntries(base: Entry, derived: Entry): Entry {
  const baseIsSwitch = base.values.length === 1 && base.values[0].kind === 'switch';
  // A derived block re-enables a feature the base switched off (`spectral off` → `spectral { … }`).
  const values = derived.values.length > 0 ? derived.values : derived.block && baseIsSwitch ? [] : base.values;
  const block = base.block && derived.block ? mergeBlocks(base.block, derived.block) : (derived.block ?? base.block);
  return { ...derived, values, block };
}

/** Parse one `--set key=value` argument. */
export function parseOverride(arg: string, bag: DiagnosticBag): Override | null {
  const shown = new Source('--set', arg);
  const eq = arg.indexOf('=');
  if (eq < 0) {
    bag.error(`expected key=value, e.g. train.optimizer.lr=4e-4`, shown.loc(0, arg.length));
    return null;
  }
  const segments: { name: string; loc: import('../../grammar/index.ts').Loc }[] = [];
  let offset = 0;
  for (const name of arg.slice(0, eq).split('.')) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      bag.error(`'${name}' is not a valid key in ${arg.slice(0, eq)}`, shown.loc(offset, Math.max(1, name.length)));
      return null;
    }
    segments.push({ name, loc: shown.loc(offset, name.length) });
    offset += name.length + 1;
  }
  if (segments.length < 2) {
    bag.error(`a --set key needs a block and a key, e.g. model.dim or train.steps`, shown.loc(0, eq));
    return null;
  }
  // The value is parsed alone but located inside the whole argument.
  const valueSource = new Source('--set', ' '.repeat(eq + 1) + arg.slice(eq + 1), arg);
  if (arg.slice(eq + 1).trim() === '') {
    bag.error(`missing value after '='`, shown.loc(eq, 1));
    return null;
  }
  const value = parseValue(valueSource, bag);
  if (!value) return null;
  return { path: segments.map((s) => s.name).join('.'), segments, value, used: false };
}

export interface CheckResult {
  /** Null when any error was reported. */
  config: NormalisedConfig | null;
  diagnostics: Diagnostic[];
  ast: MoeFile;
}

export interface CheckOptions {
  /** Raw `--set` arguments, `path=value`. */
  overrides?: string[];
}

/** Resolve `extends` chains; reports unknown bases and cycles; returns merged bodies by name. */
function resolveModels(models: Map<string, ModelDecl>, bag: DiagnosticBag): Map<string, Block | null> {
  const merged = new Map<string, Block | null>();
  const visiting = new Set<string>();
  // null marks a model whose base is missing or cyclic: reading it would only cascade errors.
  const resolve = (decl: ModelDecl): Block | null => {
    if (merged.has(decl.name)) return merged.get(decl.name)!;
    if (!decl.base) {
      merged.set(decl.name, decl.body);
      return decl.body;
    }
    const base = models.get(decl.base.name);
    let body: Block | null = null;
    if (!base) {
      if (decl.base.name) {
        bag.error(`unknown model '${decl.base.name}' in extends${suggestion(decl.base.name, models.keys())}`, decl.base.loc);
      }
    } else if (visiting.has(decl.name)) {
      bag.error(`model '${decl.name}' extends itself through a cycle`, decl.base.loc);
    } else {
      visiting.add(decl.name);
      const baseBody = resolve(base);
      body = baseBody ? mergeBlocks(baseBody, decl.body) : null;
      visiting.delete(decl.name);
    }
    merged.set(decl.name, body);
    return body;
  };
  for (const decl of models.values()) resolve(decl);
  return merged;
}

export function checkAst(ast: MoeFile, bag: DiagnosticBag, options: CheckOptions = {}, emptyLoc?: Loc): NormalisedConfig | null {
  const overrideList: Override[] = [];
  for (const arg of options.overrides ?? []) {
    const o = parseOverride(arg, bag);
    if (o) overrideList.push(o);
  }
  return checkWith(ast, bag, overrideList, emptyLoc, true);
}

/** Re-check the file under each arm and each sweep value (with the arm it applies to); their errors
 *  join the bag with a note naming the arm. Sweeps are checked one value at a time, not crossed:
 *  that catches every bad key and value in len(arms) + Σ values·arms checks instead of the grid. */
function validateExperiment(ast: MoeFile, bag: DiagnosticBag, cli: Override[], located: ExperimentOverrides, emptyLoc: Loc | undefined): void {
  const fresh = (list: Override[]): Override[] => list.map((o) => ({ ...o, used: false }));
  const steps = located.steps ? [located.steps] : [];
  const tryCell = (arm: ExperimentOverrides['arms'][number], extra: Override[], what: string): void => {
    const sub = new DiagnosticBag();
    checkWith(ast, sub, fresh([...cli, ...steps, ...arm.overrides, ...extra]), emptyLoc, false);
    for (const d of sub.errors) bag.add({ ...d, notes: [...(d.notes ?? []), { message: `${what}arm '${arm.name}'`, loc: arm.nameLoc }] });
  };
  for (const arm of located.arms) tryCell(arm, [], 'in ');
  for (const sweep of located.sweeps) {
    const arms = located.arms.filter((a) => sweep.arms === null || sweep.arms.includes(a.name));
    for (const value of sweep.values) for (const arm of arms) tryCell(arm, [value], `in the sweep of ${sweep.key}, with `);
  }
}

function checkWith(ast: MoeFile, bag: DiagnosticBag, overrideList: Override[], emptyLoc: Loc | undefined, withExperiment: boolean): NormalisedConfig | null {
  const overrides = new OverrideSet(overrideList);

  const models = new Map<string, ModelDecl>();
  let trainDecl: TrainDecl | null = null;
  let evalDecl: EvalDecl | null = null;
  let experimentDecl: ExperimentDecl | null = null;
  // Reported with the experiment, so they do not stop the first one's arms being checked.
  const extraExperiments: ExperimentDecl[] = [];
  for (const decl of ast.decls) {
    if (decl.kind === 'model') {
      if (!decl.name) continue;
      const previous = models.get(decl.name);
      if (previous) {
        bag.error(`model '${decl.name}' is declared twice`, decl.nameLoc, { notes: [{ message: 'first declared here', loc: previous.nameLoc }] });
        continue;
      }
      models.set(decl.name, decl);
    } else if (decl.kind === 'train') {
      if (trainDecl) bag.error('only one train block per file', decl.loc, { notes: [{ message: 'the first one is here', loc: trainDecl.loc }] });
      else trainDecl = decl;
    } else if (decl.kind === 'experiment') {
      if (experimentDecl) extraExperiments.push(decl);
      else experimentDecl = decl;
    } else {
      if (evalDecl) bag.error('only one eval block per file', decl.loc, { notes: [{ message: 'the first one is here', loc: evalDecl.loc }] });
      else evalDecl = decl;
    }
  }
  if (models.size === 0 && !bag.hasErrors() && emptyLoc) bag.error('this file declares no model', emptyLoc);

  // `--set train.model=NAME` (or eval.model) retargets a block, so a file holding a baseline and
  // its SD variant can train either one.
  const retarget = <D extends TrainDecl | EvalDecl>(decl: D | null, path: string): D | null => {
    if (!decl) return decl;
    overrides.noteKey(path.split('.')[0], 'model');
    const o = overrides.lookup(path);
    if (!o) return decl;
    if (o.value.kind === 'name') return { ...decl, model: o.value.name, modelLoc: o.value.loc };
    bag.error(`${path} must be a model name, found '${describeValue(o.value)}'`, o.value.loc);
    return decl;
  };
  // An eval block about the trained model follows `train.model=NAME` (the file's evaluation of
  // the file's run), unless `eval.model` retargets it too.
  const trainedBefore = trainDecl?.model;
  trainDecl = retarget(trainDecl, 'train.model');
  if (evalDecl && trainDecl && evalDecl.model === trainedBefore && trainDecl.model !== trainedBefore) evalDecl = { ...evalDecl, model: trainDecl.model, modelLoc: trainDecl.modelLoc };
  evalDecl = retarget(evalDecl, 'eval.model');

  const bodies = resolveModels(models, bag);
  const checkName = (name: string, loc: import('../../grammar/index.ts').Loc): boolean => {
    if (!name) return false;
    if (models.has(name)) return true;
    bag.error(`unknown model '${name}'${suggestion(name, models.keys())}`, loc);
    return false;
  };
  const trainTarget = trainDecl && checkName(trainDecl.model, trainDecl.modelLoc) ? trainDecl.model : null;
  const evalTarget = evalDecl && checkName(evalDecl.model, evalDecl.modelLoc) ? evalDecl.model : null;
  const target = trainTarget ?? evalTarget;

  const read = (useOverrides: boolean): ReadContext => ({ bag, overrides, useOverrides });
  const configs: ModelConfig[] = [];
  for (const [name, decl] of models) {
    const body = bodies.get(name);
    if (!body) continue;
    const ctx = read(target === null || target === name);
    configs.push(readModel(name, new BlockReader('model', body, ctx, decl.nameLoc)));
  }
  const byName = (n: string | null) => configs.find((c) => c.name === n) ?? null;
  let train: TrainConfig | null = null;
  if (trainDecl) train = readTrain(new BlockReader('train', trainDecl.body, read(true), trainDecl.modelLoc), byName(trainTarget), evalDecl !== null);
  const evalConfig = evalDecl ? readEval(new BlockReader('eval', evalDecl.body, read(true), evalDecl.modelLoc), byName(evalTarget), train) : null;

  const targetUnread = target !== null && !configs.some((c) => c.name === target);
  overrides.reportUnused(bag, targetUnread ? ['model'] : []);

  let experiment: ExperimentConfig | null = null;
  if (experimentDecl && withExperiment) {
    // The experiment's own keys are not `--set` targets: its arms already are overrides. Arms are
    // re-checked whenever the file itself is clean, even if the block has other mistakes, so one
    // check run reports every problem of the grid.
    const fileOk = !bag.hasErrors();
    const read = readExperiment(experimentDecl.name, experimentDecl.nameLoc, experimentDecl.body, { bag, overrides: new OverrideSet(), useOverrides: false });
    experiment = read.config;
    if (!trainDecl) bag.error(`experiment '${experimentDecl.name}' runs the file's train block, and this file has none`, experimentDecl.loc);
    else if (fileOk) validateExperiment(ast, bag, overrideList, read.located, emptyLoc);
    for (const extra of extraExperiments) {
      bag.error('only one experiment block per file', extra.loc, { notes: [{ message: 'the first one is here', loc: experimentDecl.loc }] });
    }
  }
  if (bag.hasErrors()) return null;
  return { models: configs, train, eval: evalConfig, experiment };
}

/** Parse and check one source text. */
export function checkSource(source: Source, options: CheckOptions = {}): CheckResult {
  const bag = new DiagnosticBag();
  const ast = parseSource(source, bag);
  const config = checkAst(ast, bag, options, source.loc(0, 0));
  return { config: bag.hasErrors() ? null : config, diagnostics: bag.sorted(), ast };
}
