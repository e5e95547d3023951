// Entry point of the grammar: text → typed AST plus located diagnostics. Never throws for bad
// input; lexer, parser and visitor problems all become diagnostics in the caller's bag.
import type { IRecognitionException, IToken } from 'chevrotain';
import type { MoeFile, Value } from './ast.ts';
import { DiagnosticBag } from './diagnostics.ts';
import { moeLexer } from './lexer.ts';
import { moeParser } from './parser.ts';
import { Source } from './source.ts';
import { AstBuilder } from './visitor.ts';

export * from './ast.ts';
export * from './diagnostics.ts';
export { Source, type Loc } from './source.ts';

function exceptionLoc(source: Source, e: IRecognitionException) {
  const token: IToken | undefined = e.token;
  if (token && Number.isFinite(token.startOffset) && token.tokenType?.name !== 'EOF') {
    return source.loc(token.startOffset, token.image.length);
  }
  // At end of file, point just after the last real token so the caret sits where input stopped.
  const previous = (e as unknown as { previousToken?: IToken }).previousToken;
  if (previous && Number.isFinite(previous.startOffset)) {
    return source.loc(previous.startOffset + previous.image.length, 1);
  }
  return source.end();
}

export function parseSource(source: Source, diagnostics: DiagnosticBag = new DiagnosticBag()): MoeFile {
  const lexed = moeLexer.tokenize(source.text);
  for (const e of lexed.errors) diagnostics.error(e.message, source.loc(e.offset, e.length));
  moeParser.input = lexed.tokens;
  const cst = moeParser.file();
  for (const e of moeParser.errors) diagnostics.error(e.message, exceptionLoc(source, e));
  const builder = new AstBuilder(source, diagnostics);
  return builder.visit(cst) as MoeFile;
}

/** Parse a single value, e.g. the right-hand side of `--set key=value`. */
export function parseValue(source: Source, diagnostics: DiagnosticBag): Value | null {
  const lexed = moeLexer.tokenize(source.text);
  for (const e of lexed.errors) diagnostics.error(e.message, source.loc(e.offset, e.length));
  if (lexed.errors.length) return null;
  moeParser.input = lexed.tokens;
  const cst = moeParser.valueList();
  for (const e of moeParser.errors) diagnostics.error(e.message, exceptionLoc(source, e));
  if (moeParser.errors.length) return null;
  const values = new AstBuilder(source, diagnostics).visit(cst) as (Value | null)[];
  const present = values.filter((v): v is Value => v !== null);
  if (present.length === 1) return present[0];
  if (present.length > 1) return { kind: 'tuple', items: present, loc: source.loc(0, source.text.length) };
  return null;
}
