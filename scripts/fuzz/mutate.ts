// Mutations of .moe text and of `--set` arguments for the front-end fuzzers (the suite's seeded
// test and `npm run fuzz`): token deletion, duplication, swaps, character corruption, replacement
// by language tokens and by hostile numbers (huge, negative, NaN-like, denormal), unicode, and
// truncation. Deterministic for a given PRNG, so every finding names a reproducible case.
import { Rng } from '../../base/rng.ts';
import { moeLexer } from '../../grammar/lexer.ts';

/** Uniform draws in [0, 1) from the project's seeded RNG (base/rng.ts). */
export function prng(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.nextDouble();
}

const LANGUAGE = ['{', '}', '(', ')', '=', ',', '"', '"x"', 'every', 'steps', 'off', 'on', 'true', 'false', 'model', 'train', 'eval', 'experiment', 'arm', 'sweep', 'seeds', 'arms', 'extends', '#', '//', '@', 'dim', 'moe', 'spectral', 'rank', 'experts', 'top_k', 'zz', '\n', ''];
const NUMBERS = ['0', '-0', '1', '-1', '2', '3x', '1e999', '-1e999', '1e-999', '9007199254740993', '4294967297', '1_000_000_000_000', 'NaN', 'nan', 'Infinity', '-inf', '0x10', '1.5', '.5', '5.', '1e', '1e+', '--1', '+-1', '0.0000001', '65536', '1.7976931348623157e308', '4.9e-324'];
/** Plausible values, so that many mutants still check clean and reach compile. */
const PLAUSIBLE = ['1', '2', '3', '4', '8', '16', '32', '64', '96', '128', '0.5', '0.01', '1e-3'];
const UNICODE = ['é', 'ﬁ', '𝟙', '٣', '\u200b', '\u202e', '\ufeff', '😀', 'Ω', 'ı', 'İ', '\u0000', '\r', '\t', '\u2028'];

interface Span {
  start: number;
  end: number;
}

const pickFrom = <T>(list: readonly T[], random: () => number): T => list[Math.floor(random() * list.length)];

export function mutateText(text: string, random: () => number): string {
  const tokens: Span[] = moeLexer.tokenize(text).tokens.map((t) => ({ start: t.startOffset, end: t.startOffset + t.image.length }));
  if (tokens.length < 2) return text + pickFrom(LANGUAGE, random);
  const pick = (): Span => pickFrom(tokens, random);
  const splice = (span: Span, replacement: string): string => text.slice(0, span.start) + replacement + text.slice(span.end);
  const a = pick();
  // Number mutations (case 5) are drawn three times as often: they reach the deepest checks.
  const kind = Math.floor(random() * 11);
  switch (kind > 8 ? 5 : kind) {
    case 0:
      return splice(a, '');
    case 1:
      return splice(a, `${text.slice(a.start, a.end)} ${text.slice(a.start, a.end)}`);
    case 2: {
      const b = pick();
      const [x, y] = a.start < b.start ? [a, b] : [b, a];
      if (x === y) return splice(x, '');
      return text.slice(0, x.start) + text.slice(y.start, y.end) + text.slice(x.end, y.start) + text.slice(x.start, x.end) + text.slice(y.end);
    }
    case 3: {
      const at = a.start + Math.floor(random() * (a.end - a.start));
      return text.slice(0, at) + String.fromCharCode(33 + Math.floor(random() * 94)) + text.slice(at + 1);
    }
    case 4:
      return splice(a, pickFrom(LANGUAGE, random));
    case 5: {
      // a number token becomes a hostile number (or any token does, less often)
      const numeric = tokens.filter((t) => /^[-+\d.]/.test(text.slice(t.start, t.end)));
      const value = random() < 0.6 ? pickFrom(PLAUSIBLE, random) : pickFrom(NUMBERS, random);
      return splice(numeric.length > 0 && random() < 0.8 ? pickFrom(numeric, random) : a, value);
    }
    case 6: {
      const at = a.start + Math.floor(random() * (a.end - a.start + 1));
      return text.slice(0, at) + pickFrom(UNICODE, random) + text.slice(at);
    }
    case 7:
      return text.slice(0, Math.floor(random() * text.length));
    default:
      return splice(a, `${pickFrom(LANGUAGE, random)} ${pickFrom(NUMBERS, random)}`);
  }
}

export const SET_SEEDS = [
  'train.optimizer.lr=4e-4', 'model.moe.top_k=1', 'model.spectral=off', 'train.schedule.warmup=5', 'model.attention.heads=2',
  'train.data=path("x")', 'model.spectral.rank=4', 'train.steps=10', 'model.moe.experts=8', 'train.clip_grad=off', 'model.dim=32',
];

export function mutateSet(arg: string, random: () => number): string {
  const at = Math.floor(random() * (arg.length + 1));
  switch (Math.floor(random() * 5)) {
    case 0:
      return arg.slice(0, at) + arg.slice(at + 1);
    case 1:
      return arg.slice(0, at) + String.fromCharCode(32 + Math.floor(random() * 95)) + arg.slice(at);
    case 2:
      return arg.slice(0, at) + String.fromCharCode(32 + Math.floor(random() * 95)) + arg.slice(at + 1);
    case 3:
      return `${arg.split('=')[0]}=${pickFrom(NUMBERS, random)}`;
    default:
      return arg.slice(0, at) + pickFrom(UNICODE, random) + arg.slice(at);
  }
}
