// Typed, validating access to a block of entries. The reader *is* the schema: each key a stage
// asks for becomes a known key of that block, so anything left unread at the end is an unknown
// key and gets a "did you mean" from the keys that were read. Command-line overrides (`--set`)
// are consulted by full path before the file's own entries, so they are validated identically.
import {
  describeValue,
  didYouMean,
  suggestion,
  type Block,
  type CallValue,
  type DiagnosticBag,
  type Entry,
  type Loc,
  type SwitchEntry,
  type Value,
} from '../../grammar/index.ts';

/** Largest integer setting: every size, count and index is an i32/u32 on the device. */
const MAX_INT = 2 ** 31 - 1;
/** Largest finite float32: a setting above it would become Infinity in a kernel. */
const MAX_F32 = 3.4028234663852886e38;

/** What the device cannot represent, whatever the key's own range allows. */
function deviceProblem(value: number, integer: boolean): string | undefined {
  if (integer && Math.abs(value) > MAX_INT) return `at most ${MAX_INT} (sizes and counts are 32-bit integers on the device)`;
  if (Math.abs(value) > MAX_F32) return `at most ${MAX_F32} in magnitude (the device computes in float32)`;
  return undefined;
}

export interface Override {
  /** Dotted path, e.g. `train.optimizer.lr`. */
  path: string;
  segments: { name: string; loc: Loc }[];
  value: Value;
  used: boolean;
}

/** Overrides plus the record of which keys each path knows, for unknown-key suggestions. */
export class OverrideSet {
  private readonly knownKeys = new Map<string, Set<string>>();
  constructor(readonly list: Override[] = []) {}

  lookup(path: string): Override | undefined {
    let found: Override | undefined;
    for (const o of this.list) {
      if (o.path === path) {
        o.used = true;
        found = o; // the last --set for a path wins, as on most command lines
      }
    }
    return found;
  }
  hasUnder(path: string): boolean {
    return this.list.some((o) => o.path.startsWith(path + '.'));
  }
  noteKey(parent: string, key: string): void {
    let set = this.knownKeys.get(parent);
    if (!set) this.knownKeys.set(parent, (set = new Set()));
    set.add(key);
  }

  /** Every override no reader asked for is an unknown key: point at its first unknown segment. */
  reportUnused(bag: DiagnosticBag, unreadRoots: string[] = []): void {
    for (const o of this.list) {
      // A block that could not be read (e.g. its model's base is missing) has no known keys;
      // its error is already reported, so its overrides are not "unknown".
      if (o.used || unreadRoots.includes(o.segments[0].name)) continue;
      let depth = o.segments.length - 1;
      while (depth > 0 && !this.knownKeys.has(o.segments.slice(0, depth).map((s) => s.name).join('.'))) depth--;
      const parent = o.segments.slice(0, depth).map((s) => s.name).join('.');
      const bad = o.segments[depth];
      const candidates = depth === 0 ? ['model', 'train', 'eval'] : [...(this.knownKeys.get(parent) ?? [])];
      const unknownPath = o.segments.slice(0, depth + 1).map((s) => s.name).join('.');
      const blockKeys = this.knownKeys.get(o.path);
      if (blockKeys && blockKeys.size > 0) {
        bag.error(`${o.path} is a block: set one of its keys, e.g. ${o.path}.${[...blockKeys][0]}`, o.segments[o.segments.length - 1].loc);
        continue;
      }
      if (depth > 0 && candidates.includes(bad.name) && depth + 1 < o.segments.length) {
        bag.error(`${unknownPath} takes a value; it has no key '${o.segments[depth + 1].name}'`, o.segments[depth + 1].loc);
        continue;
      }
      let message = `unknown key ${unknownPath}${suggestion(bad.name, candidates, false)}`;
      if (depth === 0 && o.segments[0].name === 'eval') message = 'there is no eval block to override in this file';
      else if (depth === 0 && o.segments[0].name === 'train') message = 'there is no train block to override in this file';
      bag.error(message, bad.loc);
    }
  }
}

export interface ReadContext {
  bag: DiagnosticBag;
  overrides: OverrideSet;
  /** Overrides apply only to the declaration being read for the command line's target. */
  useOverrides: boolean;
}

export interface Range {
  min?: number;
  max?: number;
  /** Exclusive bounds. */
  above?: number;
  below?: number;
}

export interface ArgSpec {
  name: string;
  type: 'number' | 'int' | 'name' | 'pair' | 'string';
  default?: number | string | [number, number];
  range?: Range;
  options?: readonly string[];
}
export type CallSpec = Record<string, ArgSpec[]>;
export type ArgValues = Record<string, number | string | [number, number]>;

function rangeProblem(n: number, r: Range | undefined): string | null {
  if (!r) return null;
  if (r.min !== undefined && n < r.min) return `at least ${r.min}`;
  if (r.max !== undefined && n > r.max) return `at most ${r.max}`;
  if (r.above !== undefined && n <= r.above) return `greater than ${r.above}`;
  if (r.below !== undefined && n >= r.below) return `less than ${r.below}`;
  return null;
}

export class BlockReader {
  private readonly entries = new Map<string, Entry>();
  private readonly queried = new Set<string>();
  /** Keys whose value was missing or invalid: cross-field checks on them would only repeat it. */
  private readonly failed = new Set<string>();
  readonly switchItem: SwitchEntry | null = null;

  constructor(
    /** Dotted path of this block, e.g. `model.moe.router`; used in messages and for overrides. */
    readonly path: string,
    readonly block: Block | null,
    readonly ctx: ReadContext,
    /** Where "missing key" errors point when the block itself has no location. */
    readonly anchor: Loc,
  ) {
    for (const item of block?.items ?? []) {
      if (item.kind === 'switch') {
        this.switchItem = item;
        continue;
      }
      const previous = this.entries.get(item.key);
      if (previous) {
        ctx.bag.error(`duplicate key '${item.key}' in ${this.path}`, item.keyLoc, {
          notes: [{ message: `'${item.key}' was first set here`, loc: previous.keyLoc }],
        });
      }
      this.entries.set(item.key, item);
    }
  }

  private get bag(): DiagnosticBag {
    return this.ctx.bag;
  }

  /** Displayed name of a key, e.g. `moe.top_k` (without the leading declaration kind). */
  name(key: string): string {
    const inner = this.path.split('.').slice(1).join('.');
    return inner ? `${inner}.${key}` : key;
  }

  private override(key: string): Override | undefined {
    return this.ctx.useOverrides ? this.ctx.overrides.lookup(`${this.path}.${key}`) : undefined;
  }

  private note(key: string): void {
    this.queried.add(key);
    if (this.ctx.useOverrides) this.ctx.overrides.noteKey(this.path, key);
  }

  /** Best place to point at for a key's value: the override, the written value, the key, or the block. */
  where(key: string): Loc {
    const o = this.ctx.useOverrides ? this.ctx.overrides.list.filter((x) => x.path === `${this.path}.${key}`).pop() : undefined;
    if (o) return o.value.loc;
    const e = this.entries.get(key);
    return e?.values[0]?.loc ?? e?.keyLoc ?? this.anchor;
  }

  /** The entry for a key (not its override). */
  entry(key: string): Entry | undefined {
    this.note(key);
    return this.entries.get(key);
  }

  /** True when the key is written in the file or set on the command line (itself or below it). */
  present(key: string): boolean {
    this.note(key);
    const path = `${this.path}.${key}`;
    if (this.ctx.useOverrides && (this.ctx.overrides.hasUnder(path) || this.ctx.overrides.list.some((o) => o.path === path))) return true;
    return this.entries.has(key);
  }

  /** All values of a key (a comma list), override first. */
  values(key: string): Value[] | undefined {
    this.note(key);
    const o = this.override(key);
    if (o) return o.value.kind === 'tuple' ? o.value.items : [o.value];
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.block) {
      this.failed.add(key);
      this.bag.error(`'${this.name(key)}' takes a value, not a block`, e.block.loc);
      return undefined;
    }
    if (e.values.length === 0) {
      this.failed.add(key);
      this.bag.error(`'${this.name(key)}' needs a value`, e.keyLoc);
      return undefined;
    }
    return e.values;
  }

  /** The single value of a key, or undefined. Reports lists where one value is expected. */
  value(key: string): Value | undefined {
    const vs = this.values(key);
    if (!vs || vs.length === 0) return undefined;
    if (vs.length > 1) {
      this.bag.error(`'${this.name(key)}' takes one value, found ${vs.length}`, vs[1].loc);
    }
    return vs[0];
  }

  /** True when none of the keys failed to read, so rules relating them are worth checking. */
  ok(...keys: string[]): boolean {
    return keys.every((k) => !this.failed.has(k));
  }

  /** Missing keys are reported in finish(), so a misspelled key can explain its own absence. */
  private readonly missingKeys = new Map<string, string>();
  private missing(key: string, what: string): void {
    this.failed.add(key);
    this.missingKeys.set(key, what);
  }

  private checkNumber(key: string, v: Value, integer: boolean, range?: Range): number | undefined {
    if (v.kind === 'number' && Number.isNaN(v.value)) {
      return undefined; // a malformed number, already reported by the parser
    }
    if (v.kind !== 'number' || !Number.isFinite(v.value)) {
      this.bag.error(`'${this.name(key)}' must be ${integer ? 'an integer' : 'a number'}, found '${describeValue(v)}'`, v.loc);
      return undefined;
    }
    if (integer && !Number.isInteger(v.value)) {
      this.bag.error(`'${this.name(key)}' must be an integer, found '${v.raw}'`, v.loc);
      return undefined;
    }
    const problem = deviceProblem(v.value, integer) ?? rangeProblem(v.value, range);
    if (problem) {
      this.bag.error(`'${this.name(key)}' must be ${problem}, found ${v.raw}`, v.loc);
      return undefined;
    }
    return v.value;
  }

  int(key: string, fallback: number | undefined, range?: Range): number {
    const v = this.value(key);
    if (v === undefined) {
      if (fallback === undefined && !this.failed.has(key)) this.missing(key, 'an integer');
      return fallback ?? 1;
    }
    const n = this.checkNumber(key, v, true, range);
    if (n === undefined) this.failed.add(key);
    return n ?? fallback ?? 1;
  }

  number(key: string, fallback: number | undefined, range?: Range): number {
    const v = this.value(key);
    if (v === undefined) {
      if (fallback === undefined && !this.failed.has(key)) this.missing(key, 'a number');
      return fallback ?? 1;
    }
    const n = this.checkNumber(key, v, false, range);
    if (n === undefined) this.failed.add(key);
    return n ?? fallback ?? 1;
  }

  /** A number, or `off` (→ null). */
  numberOrOff(key: string, fallback: number | null, range?: Range): number | null {
    const v = this.value(key);
    if (v === undefined) return fallback;
    if (v.kind === 'switch' && !v.on) return null;
    if (v.kind === 'switch') {
      this.bag.error(`'${this.name(key)}' takes a number or 'off', found 'on'`, v.loc);
      return fallback;
    }
    return this.checkNumber(key, v, false, range) ?? fallback;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.value(key);
    if (v === undefined) return fallback;
    if (v.kind === 'bool') return v.value;
    if (v.kind === 'switch') return v.on;
    this.bag.error(`'${this.name(key)}' must be true or false, found '${describeValue(v)}'`, v.loc);
    return fallback;
  }

  string(key: string, fallback: string): string {
    const v = this.value(key);
    if (v === undefined) return fallback;
    if (v.kind === 'string') return v.value;
    this.bag.error(`'${this.name(key)}' must be a string in double quotes, found '${describeValue(v)}'`, v.loc);
    return fallback;
  }

  /** A name from a closed set, with "did you mean" for typos. */
  choice<T extends string>(key: string, options: readonly T[], fallback: T): T {
    const v = this.value(key);
    if (v === undefined) return fallback;
    return this.checkChoice(key, v, options) ?? fallback;
  }

  checkChoice<T extends string>(key: string, v: Value, options: readonly T[]): T | undefined {
    const word = v.kind === 'name' ? v.name : v.kind === 'bool' ? String(v.value) : v.kind === 'switch' ? (v.on ? 'on' : 'off') : null;
    if (word !== null && (options as readonly string[]).includes(word)) return word as T;
    if (v.kind === 'string' && (options as readonly string[]).includes(v.value)) {
      this.bag.error(`${this.name(key)} takes a name, not a string: write ${v.value} without quotes`, v.loc);
      return undefined;
    }
    const hint = word !== null ? suggestion(word, options) : '';
    this.bag.error(
      `unknown ${this.name(key)} '${describeValue(v)}'${hint || `; expected one of: ${options.join(', ')}`}`,
      v.loc,
    );
    return undefined;
  }

  /** `every N steps` or a bare integer; always a positive step count. `off` → null if allowed. */
  interval(key: string, fallback: number | null, allowOff: boolean): number | null {
    const v = this.value(key);
    if (v === undefined) return fallback;
    if (v.kind === 'switch' && !v.on && allowOff) return null;
    const n = v.kind === 'interval' ? v.every : v;
    if (v.kind === 'interval' && v.unit !== null && v.unit !== 'steps' && v.unit !== 'step') {
      this.bag.error(`unknown unit '${v.unit}' for ${this.name(key)}${suggestion(v.unit, ['steps']) || "; only 'steps' is supported"}`, v.unitLoc ?? v.loc);
      return fallback;
    }
    if (n.kind !== 'number') {
      this.bag.error(`'${this.name(key)}' must be 'every N steps'${allowOff ? " or 'off'" : ''}, found '${describeValue(v)}'`, v.loc);
      return fallback;
    }
    return this.checkNumber(key, n, true, { min: 1 }) ?? fallback;
  }

  /**
   * A parameterised choice such as `adamw(lr = 3e-4)` or a bare name (`rmsnorm`). Arguments may be
   * overridden one by one (`--set train.optimizer.lr=…`). Returns null for `off` when allowed.
   */
  call(key: string, spec: CallSpec, fallbackKind: string | null, allowOff = false): { kind: string; args: ArgValues } | null {
    const v = this.value(key);
    const kinds = Object.keys(spec);
    let kind: string | null = fallbackKind;
    let given: CallValue | null = null;
    if (v !== undefined) {
      if (v.kind === 'switch' && !v.on && allowOff) kind = null;
      else if (v.kind === 'name' || v.kind === 'call') {
        const name = v.kind === 'name' ? v.name : v.name;
        if (!kinds.includes(name)) {
          this.bag.error(`unknown ${this.name(key)} '${name}'${suggestion(name, kinds) || `; expected one of: ${kinds.join(', ')}`}`, v.kind === 'call' ? v.nameLoc : v.loc);
          return fallbackKind === null ? null : this.callArgs(key, fallbackKind, spec[fallbackKind], null);
        }
        kind = name;
        given = v.kind === 'call' ? v : null;
      } else {
        this.bag.error(`'${this.name(key)}' must be one of ${kinds.map((k) => `${k}(…)`).join(', ')}${allowOff ? " or 'off'" : ''}, found '${describeValue(v)}'`, v.loc);
      }
    }
    if (kind === null) {
      // Keep argument overrides of a switched-off feature from being reported as unknown keys.
      if (this.ctx.useOverrides) for (const s of Object.values(spec)) for (const a of s) this.ctx.overrides.noteKey(`${this.path}.${key}`, a.name);
      return null;
    }
    return this.callArgs(key, kind, spec[kind], given);
  }

  private callArgs(key: string, kind: string, specs: ArgSpec[], given: CallValue | null): { kind: string; args: ArgValues } {
    const argPath = `${this.path}.${key}`;
    const byName = new Map<string, Value>();
    let positional = 0;
    for (const arg of given?.args ?? []) {
      if (arg.name === null) {
        const spec = specs[positional++];
        if (!spec) {
          this.bag.error(`${kind}(…) takes at most ${specs.length} argument${specs.length === 1 ? '' : 's'}`, arg.value.loc);
          continue;
        }
        byName.set(spec.name, arg.value);
      } else {
        const spec = specs.find((s) => s.name === arg.name);
        if (!spec) {
          const names = specs.map((s) => s.name);
          this.bag.error(
            `unknown argument '${arg.name}' of ${kind}(…)${suggestion(arg.name, names) || (names.length ? `; it takes: ${names.join(', ')}` : '; it takes no arguments')}`,
            arg.nameLoc ?? arg.value.loc,
          );
          continue;
        }
        if (byName.has(spec.name)) this.bag.error(`argument '${spec.name}' of ${kind}(…) given twice`, arg.nameLoc ?? arg.value.loc);
        byName.set(spec.name, arg.value);
      }
    }
    const args: ArgValues = {};
    for (const spec of specs) {
      if (this.ctx.useOverrides) this.ctx.overrides.noteKey(argPath, spec.name);
      const o = this.ctx.useOverrides ? this.ctx.overrides.lookup(`${argPath}.${spec.name}`) : undefined;
      const v = o?.value ?? byName.get(spec.name);
      const label = `${this.name(key)}.${spec.name}`;
      if (v === undefined) {
        if (spec.default === undefined) this.bag.error(`${kind}(…) needs '${spec.name}'`, given?.loc ?? this.anchor);
        else args[spec.name] = spec.default;
        continue;
      }
      const checked = this.checkArg(label, spec, v);
      if (checked !== undefined) args[spec.name] = checked;
      else if (spec.default !== undefined) args[spec.name] = spec.default;
    }
    return { kind, args };
  }

  private checkArg(label: string, spec: ArgSpec, v: Value): number | string | [number, number] | undefined {
    const numberOk = (x: Value, integer: boolean): number | undefined => {
      if (x.kind === 'number' && Number.isNaN(x.value)) return undefined;
      // 1e999 lexes as Infinity: refuse it here as checkNumber does (a printed 'Infinity' would not re-parse).
      if (x.kind !== 'number' || !Number.isFinite(x.value) || (integer && !Number.isInteger(x.value))) {
        this.bag.error(`'${label}' must be ${integer ? 'an integer' : 'a number'}, found '${describeValue(x)}'`, x.loc);
        return undefined;
      }
      const problem = deviceProblem(x.value, integer) ?? rangeProblem(x.value, spec.range);
      if (problem) {
        this.bag.error(`'${label}' must be ${problem}, found ${x.raw}`, x.loc);
        return undefined;
      }
      return x.value;
    };
    switch (spec.type) {
      case 'number':
        return numberOk(v, false);
      case 'int':
        return numberOk(v, true);
      case 'string':
        if (v.kind === 'string') return v.value;
        this.bag.error(`'${label}' must be a string in double quotes, found '${describeValue(v)}'`, v.loc);
        return undefined;
      case 'name': {
        const options = spec.options ?? [];
        if (v.kind === 'name' && options.includes(v.name)) return v.name;
        const word = v.kind === 'name' ? v.name : describeValue(v);
        this.bag.error(`unknown ${label} '${word}'${suggestion(word, options) || `; expected one of: ${options.join(', ')}`}`, v.loc);
        return undefined;
      }
      case 'pair': {
        if (v.kind !== 'tuple' || v.items.length !== 2) {
          this.bag.error(`'${label}' must be a pair like (0.9, 0.95), found '${describeValue(v)}'`, v.loc);
          return undefined;
        }
        const a = numberOk(v.items[0], false);
        const b = numberOk(v.items[1], false);
        return a === undefined || b === undefined ? undefined : [a, b];
      }
    }
  }

  /** Nested block reader. `off` (as value or bare switch) is reported through `enabled`. */
  sub(key: string): BlockReader {
    const e = this.entry(key);
    const anchor = e?.keyLoc ?? this.anchor;
    if (e && e.values.length > 0 && !(e.values.length === 1 && e.values[0].kind === 'switch')) {
      this.bag.error(`'${this.name(key)}' is a block: write ${this.name(key).split('.').pop()} { … }`, e.values[0].loc);
    }
    return new BlockReader(`${this.path}.${key}`, e?.block ?? null, this.ctx, anchor);
  }

  /** Whether an optional block is on: present and not switched off (by value, bare switch or --set). */
  enabled(key: string, child: BlockReader): boolean {
    const o = this.override(key);
    if (o) {
      if (o.value.kind === 'switch' || o.value.kind === 'bool') return o.value.kind === 'switch' ? o.value.on : o.value.value;
      this.bag.error(`'${this.name(key)}' can only be set to on or off`, o.value.loc);
    }
    const e = this.entries.get(key);
    const v = e?.values[0];
    if (v?.kind === 'switch' && !v.on) return false;
    if (child.switchItem && !child.switchItem.on) return false;
    return this.present(key);
  }

  /** Report keys of this block that no reader asked for. Call after all reads. */
  finish(): void {
    const explained = new Set<string>();
    for (const [key, e] of this.entries) {
      if (this.queried.has(key)) continue;
      const known = [...this.queried];
      const best = didYouMean(key, known);
      if (best) explained.add(best);
      const where = this.path.includes('.') ? `in ${this.path.split('.').slice(1).join('.')}` : `in ${this.path} block`;
      this.bag.error(`unknown key '${key}' ${where}${suggestion(key, known) || (known.length ? `; expected one of: ${known.join(', ')}` : '')}`, e.keyLoc);
    }
    for (const [key, what] of this.missingKeys) {
      if (!explained.has(key)) this.bag.error(`missing '${this.name(key)}' (${what})`, this.anchor);
    }
  }
}
