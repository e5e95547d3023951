// Typed AST of a .moe file. It mirrors the syntax (the semantic model in compiler/config gives
// keys their meaning), and every node carries a location so any later stage can point at it.
import type { Loc } from './source.ts';

export type Value =
  | NumberValue
  | StringValue
  | BoolValue
  | SwitchValue
  | NameValue
  | CallValue
  | TupleValue
  | IntervalValue;

export interface NumberValue {
  kind: 'number';
  value: number;
  /** As written, so diagnostics can quote it and integers can be told from `1.0`. */
  raw: string;
  loc: Loc;
}
export interface StringValue {
  kind: 'string';
  value: string;
  loc: Loc;
}
export interface BoolValue {
  kind: 'bool';
  value: boolean;
  loc: Loc;
}
/** `on` / `off`: turns an optional feature on or off (`spectral off`, `z_loss off`). */
export interface SwitchValue {
  kind: 'switch';
  on: boolean;
  loc: Loc;
}
export interface NameValue {
  kind: 'name';
  name: string;
  loc: Loc;
}
export interface CallArg {
  /** null for a positional argument. */
  name: string | null;
  nameLoc: Loc | null;
  value: Value;
}
/** `adamw(lr = 3e-4, betas = (0.9, 0.95))`: a named choice with parameters. */
export interface CallValue {
  kind: 'call';
  name: string;
  nameLoc: Loc;
  args: CallArg[];
  loc: Loc;
}
export interface TupleValue {
  kind: 'tuple';
  items: Value[];
  loc: Loc;
}
/** `every 16 steps`; the unit is optional in the syntax and checked by the semantic model. */
export interface IntervalValue {
  kind: 'interval';
  every: NumberValue;
  unit: string | null;
  unitLoc: Loc | null;
  loc: Loc;
}

export interface Entry {
  kind: 'entry';
  key: string;
  keyLoc: Loc;
  /** Comma-separated values after the key; empty when the key only opens a block. */
  values: Value[];
  block: Block | null;
  loc: Loc;
}
/** A bare `on`/`off` line inside a block. */
export interface SwitchEntry {
  kind: 'switch';
  on: boolean;
  loc: Loc;
}
export type BlockItem = Entry | SwitchEntry;

export interface Block {
  items: BlockItem[];
  loc: Loc;
}

export interface ModelDecl {
  kind: 'model';
  name: string;
  nameLoc: Loc;
  base: { name: string; loc: Loc } | null;
  body: Block;
  loc: Loc;
}
export interface TrainDecl {
  kind: 'train';
  model: string;
  modelLoc: Loc;
  body: Block;
  loc: Loc;
}
export interface EvalDecl {
  kind: 'eval';
  model: string;
  modelLoc: Loc;
  body: Block;
  loc: Loc;
}
/** `experiment NAME { … }`: arms, sweeps and seeds over the file's train block (compiler/config/experiment.ts). */
export interface ExperimentDecl {
  kind: 'experiment';
  name: string;
  nameLoc: Loc;
  body: Block;
  loc: Loc;
}
export type Decl = ModelDecl | TrainDecl | EvalDecl | ExperimentDecl;

export interface MoeFile {
  decls: Decl[];
}

/** Short human description of a value, for messages like "expected an integer, found 'softmax'". */
export function describeValue(v: Value): string {
  switch (v.kind) {
    case 'number':
      return v.raw;
    case 'string':
      return JSON.stringify(v.value);
    case 'bool':
      return String(v.value);
    case 'switch':
      return v.on ? 'on' : 'off';
    case 'name':
      return v.name;
    case 'call':
      return `${v.name}(…)`;
    case 'tuple':
      return '(…)';
    case 'interval':
      return `every ${v.every.raw}${v.unit ? ' ' + v.unit : ''}`;
  }
}
