// CST → AST. Runs on trees that error recovery may have left incomplete (missing tokens, tokens
// inserted with no position), so every access is guarded; the parser has already reported those
// errors, so the visitor only fills gaps with placeholders that the semantic model ignores.
import type { CstNode, IToken } from 'chevrotain';
import { didYouMean, type DiagnosticBag } from './diagnostics.ts';
import type { Block, BlockItem, CallArg, Decl, Entry, MoeFile, NumberValue, Value } from './ast.ts';
import { moeParser } from './parser.ts';
import type { Loc, Source } from './source.ts';

type Children = Record<string, (CstNode | IToken)[] | undefined>;

const BaseVisitor = moeParser.getBaseCstVisitorConstructor();

function isToken(x: CstNode | IToken | undefined): x is IToken {
  return x !== undefined && (x as IToken).image !== undefined;
}

function usable(token: IToken | undefined): token is IToken {
  return token !== undefined && !token.isInsertedInRecovery && Number.isFinite(token.startOffset);
}

export class AstBuilder extends BaseVisitor {
  constructor(
    private readonly source: Source,
    private readonly diagnostics: DiagnosticBag,
  ) {
    super();
    this.validateVisitor();
  }

  private tokenLoc(token: IToken | undefined, fallback?: Loc): Loc {
    if (usable(token)) return this.source.loc(token.startOffset, token.image.length);
    return fallback ?? this.source.end();
  }

  /** Offsets [start, end) of a node's real tokens. Chevrotain tracks node locations, but nodes
   *  built by error recovery may carry NaN, so those fall back to their children. */
  private span(node: CstNode | IToken): [number, number] | null {
    if (isToken(node)) return usable(node) ? [node.startOffset, node.startOffset + node.image.length] : null;
    const at = node.location;
    if (at && Number.isFinite(at.startOffset) && Number.isFinite(at.endOffset)) return [at.startOffset, at.endOffset! + 1];
    return this.childrenSpan(node.children);
  }

  private childrenSpan(children: Children): [number, number] | null {
    let start = Infinity;
    let end = -Infinity;
    for (const list of Object.values(children)) {
      for (const child of list ?? []) {
        const s = this.span(child);
        if (!s) continue;
        start = Math.min(start, s[0]);
        end = Math.max(end, s[1]);
      }
    }
    return Number.isFinite(start) ? [start, end] : null;
  }

  /** Location covering a node, or a visitor's children object. */
  private nodeLoc(node: CstNode | Children | undefined): Loc {
    const s = !node ? null : (node as CstNode).children && (node as CstNode).name ? this.span(node as CstNode) : this.childrenSpan(node as Children);
    return s ? this.source.loc(s[0], s[1] - s[0]) : this.source.end();
  }

  private startOf(node: CstNode): number {
    return this.span(node)?.[0] ?? Infinity;
  }

  private tok(ctx: Children, name: string, index = 0): IToken | undefined {
    const x = ctx[name]?.[index];
    return isToken(x) ? x : undefined;
  }
  private node(ctx: Children, name: string, index = 0): CstNode | undefined {
    const x = ctx[name]?.[index];
    return x && !isToken(x) ? x : undefined;
  }
  private nodes(ctx: Children, name: string): CstNode[] {
    return (ctx[name] ?? []).filter((x): x is CstNode => !isToken(x));
  }

  file(ctx: Children): MoeFile {
    const decls: Decl[] = [];
    // Children of different kinds come in separate arrays; restore source order by offset.
    const all = [
      ...this.nodes(ctx, 'modelDecl'),
      ...this.nodes(ctx, 'trainDecl'),
      ...this.nodes(ctx, 'evalDecl'),
      ...this.nodes(ctx, 'experimentDecl'),
      ...this.nodes(ctx, 'topJunk'),
    ].sort((a, b) => this.startOf(a) - this.startOf(b));
    for (const node of all) {
      const result = this.visit(node) as Decl | null;
      if (result) decls.push(result);
    }
    return { decls };
  }

  modelDecl(ctx: Children): Decl {
    const name = this.tok(ctx, 'name');
    const base = this.tok(ctx, 'base');
    const body = this.blockOf(ctx);
    return {
      kind: 'model',
      name: usable(name) ? name.image : '',
      nameLoc: this.tokenLoc(name, body.loc),
      base: this.tok(ctx, 'Extends') ? { name: usable(base) ? base.image : '', loc: this.tokenLoc(base, body.loc) } : null,
      body,
      loc: this.tokenLoc(this.tok(ctx, 'Model'), this.nodeLoc(ctx)),
    };
  }

  trainDecl(ctx: Children): Decl {
    const model = this.tok(ctx, 'model');
    const body = this.blockOf(ctx);
    return {
      kind: 'train',
      model: usable(model) ? model.image : '',
      modelLoc: this.tokenLoc(model, body.loc),
      body,
      loc: this.tokenLoc(this.tok(ctx, 'Train'), body.loc),
    };
  }

  evalDecl(ctx: Children): Decl {
    const model = this.tok(ctx, 'model');
    const body = this.blockOf(ctx);
    return {
      kind: 'eval',
      model: usable(model) ? model.image : '',
      modelLoc: this.tokenLoc(model, body.loc),
      body,
      loc: this.tokenLoc(this.tok(ctx, 'Eval'), body.loc),
    };
  }

  experimentDecl(ctx: Children): Decl {
    const name = this.tok(ctx, 'name');
    const body = this.blockOf(ctx);
    return {
      kind: 'experiment',
      name: usable(name) ? name.image : '',
      nameLoc: this.tokenLoc(name, body.loc),
      body,
      loc: this.tokenLoc(this.tok(ctx, 'Experiment'), body.loc),
    };
  }

  topJunk(ctx: Children): null {
    const first = this.tok(ctx, 'TopJunk');
    if (usable(first)) {
      const hint = didYouMean(first.image, ['model', 'train', 'eval', 'experiment']);
      this.diagnostics.error(
        `expected 'model', 'train', 'eval' or 'experiment' but found '${first.image}'${hint ? `, did you mean '${hint}'?` : ''}`,
        this.tokenLoc(first),
      );
    }
    return null;
  }

  private blockOf(ctx: Children): Block {
    const blockNode = this.node(ctx, 'block');
    return blockNode ? (this.visit(blockNode) as Block) : { items: [], loc: this.source.end() };
  }

  block(ctx: Children): Block {
    const items = [
      ...this.nodes(ctx, 'entry'),
      ...this.nodes(ctx, 'switchEntry'),
      ...this.nodes(ctx, 'blockJunk'),
    ].sort((a, b) => this.startOf(a) - this.startOf(b));
    const out: BlockItem[] = [];
    for (const item of items) {
      const result = this.visit(item) as BlockItem | null;
      if (result) out.push(result);
    }
    return { items: out, loc: this.tokenLoc(this.tok(ctx, 'LCurly'), this.nodeLoc(ctx)) };
  }

  entry(ctx: Children): Entry | null {
    const key = this.tok(ctx, 'key');
    if (!usable(key)) return null;
    const valueList = this.node(ctx, 'valueList');
    const blockNode = this.node(ctx, 'block');
    return {
      kind: 'entry',
      key: key.image,
      keyLoc: this.tokenLoc(key),
      values: valueList ? (this.visit(valueList) as (Value | null)[]).filter((v): v is Value => v !== null) : [],
      block: blockNode ? (this.visit(blockNode) as Block) : null,
      loc: this.nodeLoc(ctx),
    };
  }

  switchEntry(ctx: Children): BlockItem | null {
    const token = this.tok(ctx, 'On') ?? this.tok(ctx, 'Off');
    if (!usable(token)) return null;
    return { kind: 'switch', on: token.tokenType.name === 'On', loc: this.tokenLoc(token) };
  }

  blockJunk(ctx: Children): null {
    const first = this.tok(ctx, 'BlockJunk');
    if (usable(first)) {
      this.diagnostics.error(`expected a key, 'on', 'off' or '}' but found '${first.image}'`, this.tokenLoc(first), {
        hint: 'each entry is `key value`; separate list items with commas',
      });
    }
    return null;
  }

  valueList(ctx: Children): (Value | null)[] {
    return this.nodes(ctx, 'value').map((v) => this.visit(v) as Value | null);
  }

  private malformedNumber(token: IToken): NumberValue | null {
    if (!usable(token)) return null;
    this.diagnostics.error(`malformed number '${token.image}'`, this.tokenLoc(token), {
      hint: 'numbers look like 64, 1.5, 3e-4 or 151_936; separate a number from the next word with a space',
    });
    // NaN marks the value as already reported, so the semantic model stays quiet about it.
    return { kind: 'number', value: NaN, raw: token.image, loc: this.tokenLoc(token) };
  }

  private numberValue(token: IToken | undefined): NumberValue | null {
    if (!usable(token)) return null;
    // `-0` reads as 0: there is no setting where the sign of zero means something, and a -0 would
    // print as 0 and not survive the print/check round trip.
    const n = Number(token.image.replace(/_/g, ''));
    return { kind: 'number', value: n === 0 ? 0 : n, raw: token.image, loc: this.tokenLoc(token) };
  }

  value(ctx: Children): Value | null {
    const number = this.tok(ctx, 'NumberLiteral');
    if (number) return this.numberValue(number);
    const malformed = this.tok(ctx, 'MalformedNumber');
    if (malformed) return this.malformedNumber(malformed);
    const string = this.tok(ctx, 'StringLiteral');
    if (string) {
      if (!usable(string)) return null;
      let text: string;
      try {
        text = JSON.parse(string.image) as string;
      } catch {
        // JSON strings may not hold raw control characters (a tab, a NUL) or bad escapes.
        this.diagnostics.error(`malformed string ${JSON.stringify(string.image)}: write control characters as escapes (\\t, \\u0000)`, this.tokenLoc(string));
        // The raw text stands in, so the key does not also report a missing value.
        text = string.image.slice(1, -1);
      }
      return { kind: 'string', value: text, loc: this.tokenLoc(string) };
    }
    for (const [name, kind, flag] of [
      ['True', 'bool', true],
      ['False', 'bool', false],
      ['On', 'switch', true],
      ['Off', 'switch', false],
    ] as const) {
      const token = this.tok(ctx, name);
      if (!token) continue;
      if (!usable(token)) return null;
      return kind === 'bool'
        ? { kind: 'bool', value: flag, loc: this.tokenLoc(token) }
        : { kind: 'switch', on: flag, loc: this.tokenLoc(token) };
    }
    const sub = this.node(ctx, 'interval') ?? this.node(ctx, 'tuple') ?? this.node(ctx, 'nameOrCall');
    return sub ? (this.visit(sub) as Value | null) : null;
  }

  interval(ctx: Children): Value | null {
    const malformed = this.tok(ctx, 'MalformedNumber');
    const every = malformed ? this.malformedNumber(malformed) : this.numberValue(this.tok(ctx, 'NumberLiteral'));
    if (!every) return null;
    const unit = this.tok(ctx, 'unit');
    return {
      kind: 'interval',
      every,
      unit: usable(unit) ? unit.image : null,
      unitLoc: usable(unit) ? this.tokenLoc(unit) : null,
      loc: this.nodeLoc(ctx),
    };
  }

  tuple(ctx: Children): Value {
    const items = this.nodes(ctx, 'value')
      .map((v) => this.visit(v) as Value | null)
      .filter((v): v is Value => v !== null);
    return { kind: 'tuple', items, loc: this.nodeLoc(ctx) };
  }

  nameOrCall(ctx: Children): Value | null {
    const name = this.tok(ctx, 'Ident');
    if (!usable(name)) return null;
    if (!this.tok(ctx, 'LParen')) return { kind: 'name', name: name.image, loc: this.tokenLoc(name) };
    const args = this.nodes(ctx, 'arg')
      .map((a) => this.visit(a) as CallArg | null)
      .filter((a): a is CallArg => a !== null);
    return { kind: 'call', name: name.image, nameLoc: this.tokenLoc(name), args, loc: this.nodeLoc(ctx) };
  }

  arg(ctx: Children): CallArg | null {
    const valueNode = this.node(ctx, 'value');
    const value = valueNode ? (this.visit(valueNode) as Value | null) : null;
    if (!value) return null;
    const name = this.tok(ctx, 'name');
    return { name: usable(name) ? name.image : null, nameLoc: usable(name) ? this.tokenLoc(name) : null, value };
  }
}
