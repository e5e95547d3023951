// Chevrotain grammar of .moe files (CST only; grammar/visitor.ts builds the typed AST).
// Shape: declarations `model NAME [extends BASE] { … }`, `train MODEL { … }`, `eval MODEL { … }`,
// `experiment NAME { … }`;
// a block holds entries `key [value {, value}] [{ … }]` or a bare `on`/`off`. Recovery is on, and
// stray tokens are absorbed by explicit `junk` rules so one run reports every problem it can.
import { CstParser, EOF, type IParserErrorMessageProvider, type IToken, type TokenType } from 'chevrotain';
import {
  allTokens,
  BlockJunk,
  Comma,
  Equals,
  Eval,
  Every,
  Experiment,
  Extends,
  False,
  Ident,
  LCurly,
  LParen,
  MalformedNumber,
  Model,
  NumberLiteral,
  Off,
  On,
  RCurly,
  RParen,
  StringLiteral,
  TopJunk,
  Train,
  True,
  Word,
} from './lexer.ts';

function tokenLabel(type: TokenType): string {
  if (type === EOF) return 'end of file';
  if (type === Word) return 'a key';
  return type.LABEL ?? type.name;
}

export function describeToken(token: IToken): string {
  if (token.tokenType === EOF) return 'end of file';
  return `'${token.image}'`;
}

function joinAlternatives(labels: string[]): string {
  const unique = [...new Set(labels)];
  if (unique.length <= 1) return unique[0] ?? 'something else';
  return `${unique.slice(0, -1).join(', ')} or ${unique[unique.length - 1]}`;
}

const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual }) {
    return `expected ${tokenLabel(expected)} but found ${describeToken(actual)}`;
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return `expected 'model', 'train', 'eval' or 'experiment' but found ${describeToken(firstRedundant)}`;
  },
  buildNoViableAltMessage({ expectedPathsPerAlt, actual }) {
    const firsts = expectedPathsPerAlt.flatMap((alt) => alt.map((path) => tokenLabel(path[0])));
    return `expected ${joinAlternatives(firsts)} but found ${describeToken(actual[0])}`;
  },
  buildEarlyExitMessage({ expectedIterationPaths, actual }) {
    const firsts = expectedIterationPaths.map((path) => tokenLabel(path[0]));
    return `expected ${joinAlternatives(firsts)} but found ${describeToken(actual[0])}`;
  },
};

export class MoeParser extends CstParser {
  constructor() {
    super(allTokens, { recoveryEnabled: true, maxLookahead: 3, nodeLocationTracking: 'onlyOffset', errorMessageProvider: messages });
    this.performSelfAnalysis();
  }

  file = this.RULE('file', () => {
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.modelDecl) },
        { ALT: () => this.SUBRULE(this.trainDecl) },
        { ALT: () => this.SUBRULE(this.evalDecl) },
        { ALT: () => this.SUBRULE(this.experimentDecl) },
        { ALT: () => this.SUBRULE(this.topJunk) },
      ]);
    });
  });

  modelDecl = this.RULE('modelDecl', () => {
    this.CONSUME(Model);
    this.CONSUME(Ident, { LABEL: 'name' });
    this.OPTION(() => {
      this.CONSUME(Extends);
      this.CONSUME2(Ident, { LABEL: 'base' });
    });
    this.SUBRULE(this.block);
  });

  trainDecl = this.RULE('trainDecl', () => {
    this.CONSUME(Train);
    this.CONSUME(Ident, { LABEL: 'model' });
    this.SUBRULE(this.block);
  });

  evalDecl = this.RULE('evalDecl', () => {
    this.CONSUME(Eval);
    this.CONSUME(Ident, { LABEL: 'model' });
    this.SUBRULE(this.block);
  });

  /** `experiment NAME { arm …  sweep …  seeds … }`: a grid of runs of the file's train block. */
  experimentDecl = this.RULE('experimentDecl', () => {
    this.CONSUME(Experiment);
    this.CONSUME(Ident, { LABEL: 'name' });
    this.SUBRULE(this.block);
  });

  /** Tokens that cannot start a declaration, kept so the visitor can report them as one error. */
  topJunk = this.RULE('topJunk', () => {
    this.AT_LEAST_ONE(() => this.CONSUME(TopJunk));
  });

  block = this.RULE('block', () => {
    this.CONSUME(LCurly);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.entry) },
        { ALT: () => this.SUBRULE(this.switchEntry) },
        { ALT: () => this.SUBRULE(this.blockJunk) },
      ]);
    });
    this.CONSUME(RCurly);
  });

  entry = this.RULE('entry', () => {
    this.CONSUME(Word, { LABEL: 'key' });
    this.OPTION(() => this.SUBRULE(this.valueList));
    this.OPTION2(() => this.SUBRULE(this.block));
  });

  /** A bare `on` / `off` inside a block switches the whole block, e.g. `spectral { off }`. */
  switchEntry = this.RULE('switchEntry', () => {
    this.OR([{ ALT: () => this.CONSUME(On) }, { ALT: () => this.CONSUME(Off) }]);
  });

  blockJunk = this.RULE('blockJunk', () => {
    this.AT_LEAST_ONE(() => this.CONSUME(BlockJunk));
  });

  valueList = this.RULE('valueList', () => {
    this.SUBRULE(this.value);
    this.MANY(() => {
      this.CONSUME(Comma);
      this.SUBRULE2(this.value);
    });
  });

  value = this.RULE('value', () => {
    this.OR([
      { ALT: () => this.CONSUME(NumberLiteral) },
      { ALT: () => this.CONSUME(MalformedNumber) },
      { ALT: () => this.CONSUME(StringLiteral) },
      { ALT: () => this.CONSUME(True) },
      { ALT: () => this.CONSUME(False) },
      { ALT: () => this.CONSUME(On) },
      { ALT: () => this.CONSUME(Off) },
      { ALT: () => this.SUBRULE(this.interval) },
      { ALT: () => this.SUBRULE(this.tuple) },
      { ALT: () => this.SUBRULE(this.nameOrCall) },
    ]);
  });

  interval = this.RULE('interval', () => {
    this.CONSUME(Every);
    this.OR([{ ALT: () => this.CONSUME(NumberLiteral) }, { ALT: () => this.CONSUME(MalformedNumber) }]);
    this.OPTION(() => this.CONSUME(Ident, { LABEL: 'unit' }));
  });

  tuple = this.RULE('tuple', () => {
    this.CONSUME(LParen);
    this.SUBRULE(this.value);
    this.MANY(() => {
      this.CONSUME(Comma);
      this.SUBRULE2(this.value);
    });
    this.CONSUME(RParen);
  });

  nameOrCall = this.RULE('nameOrCall', () => {
    this.CONSUME(Ident);
    this.OPTION(() => {
      this.CONSUME(LParen);
      this.OPTION2(() => {
        this.SUBRULE(this.arg);
        this.MANY(() => {
          this.CONSUME(Comma);
          this.SUBRULE2(this.arg);
        });
      });
      this.CONSUME(RParen);
    });
  });

  arg = this.RULE('arg', () => {
    this.OPTION(() => {
      this.CONSUME(Word, { LABEL: 'name' });
      this.CONSUME(Equals);
    });
    this.SUBRULE(this.value);
  });
}

/** One parser instance is reused: Chevrotain parsers are stateful but reset on each `input =`. */
export const moeParser = new MoeParser();
