// Tokens of the .moe language. Keys are plain identifiers (the semantic model knows which keys a
// block accepts, so a misspelled key gets a "did you mean" instead of a parse error cascade);
// only the few words that shape the syntax are reserved. Names may be dotted (`expert.up`).
import { createToken, Lexer, type TokenType } from 'chevrotain';

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: 'Comment', pattern: /(?:#|\/\/)[^\n]*/, group: Lexer.SKIPPED });

/** Tokens that may start a stray run at top level / inside a block (see parser `junk` rules). */
export const TopJunk = createToken({ name: 'TopJunk', pattern: Lexer.NA });
export const BlockJunk = createToken({ name: 'BlockJunk', pattern: Lexer.NA });
/** Anything usable as a key or argument name: identifiers and the reserved words that read as keys. */
export const Word = createToken({ name: 'Word', pattern: Lexer.NA });

export const Ident = createToken({
  name: 'Ident',
  pattern: /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/,
  label: 'a name',
  categories: [Word, TopJunk],
});

function keyword(name: string, word: string, categories: TokenType[]): TokenType {
  return createToken({
    name,
    pattern: new RegExp(`${word}(?![A-Za-z0-9_.])`),
    longer_alt: Ident,
    label: `'${word}'`,
    categories,
  });
}

export const Model = keyword('Model', 'model', []);
export const Train = keyword('Train', 'train', []);
export const Experiment = keyword('Experiment', 'experiment', []);
// `eval` is both a top-level declaration and a key inside `train` (`eval every 200 steps`).
export const Eval = keyword('Eval', 'eval', [Word]);
export const Extends = keyword('Extends', 'extends', [TopJunk, BlockJunk]);
export const Every = keyword('Every', 'every', [TopJunk, BlockJunk]);
export const True = keyword('True', 'true', [TopJunk, BlockJunk]);
export const False = keyword('False', 'false', [TopJunk, BlockJunk]);
export const On = keyword('On', 'on', [TopJunk]);
export const Off = keyword('Off', 'off', [TopJunk]);

export const NumberLiteral = createToken({
  name: 'NumberLiteral',
  pattern: /[-+]?(?:\d[\d_]*(?:\.\d[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d+)?(?![\w.])/,
  label: 'a number',
  categories: [TopJunk, BlockJunk],
});
/** Digits run into letters (`12x8`, `16steps`): one token, so the error names the whole word. */
export const MalformedNumber = createToken({
  name: 'MalformedNumber',
  pattern: /[-+]?\.?\d[\w.]*/,
  label: 'a number',
  categories: [TopJunk, BlockJunk],
});
export const StringLiteral = createToken({
  name: 'StringLiteral',
  pattern: /"(?:[^"\\\n]|\\.)*"/,
  label: 'a string',
  categories: [TopJunk, BlockJunk],
});
export const LCurly = createToken({ name: 'LCurly', pattern: /\{/, label: "'{'", categories: [TopJunk] });
export const RCurly = createToken({ name: 'RCurly', pattern: /\}/, label: "'}'", categories: [TopJunk] });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: "'('", categories: [TopJunk, BlockJunk] });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: "')'", categories: [TopJunk, BlockJunk] });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: "','", categories: [TopJunk, BlockJunk] });
export const Equals = createToken({ name: 'Equals', pattern: /=/, label: "'='", categories: [TopJunk, BlockJunk] });

export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  TopJunk,
  BlockJunk,
  Word,
  Model,
  Train,
  Experiment,
  Eval,
  Extends,
  Every,
  True,
  False,
  On,
  Off,
  NumberLiteral,
  MalformedNumber,
  StringLiteral,
  Ident,
  LCurly,
  RCurly,
  LParen,
  RParen,
  Comma,
  Equals,
];

export const reservedWords = ['model', 'train', 'eval', 'experiment', 'extends', 'every', 'true', 'false', 'on', 'off'];

export const moeLexer = new Lexer(allTokens, {
  ensureOptimizations: false,
  positionTracking: 'onlyOffset',
  errorMessageProvider: {
    buildUnexpectedCharactersMessage(fullText, startOffset, length) {
      const text = fullText.slice(startOffset, startOffset + length);
      return `unexpected character${length > 1 ? 's' : ''} '${text}'`;
    },
    buildUnableToPopLexerModeMessage() {
      return 'internal lexer mode error';
    },
  },
});
