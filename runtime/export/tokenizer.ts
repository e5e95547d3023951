// The project's byte-level BPE (runtime/data/bpe.ts) as a Hugging Face `tokenizers` tokenizer.json,
// so a library reading that format encodes text as the project does. The mapping:
//   pre-tokenizer  Sequence[Split(the project's GPT-2 pattern, Isolated), ByteLevel(use_regex false)]:
//                  the split is ours; ByteLevel only maps each byte to GPT-2's printable character
//                  (bytes_to_unicode), adding no prefix space. `\s`/`\S` are written out as the
//                  character class JavaScript gives them, so Oniguruma (tokenizers' regex engine,
//                  whose `\s` differs in U+0085 and U+FEFF) splits exactly as V8 does.
//   model          BPE: vocab = each id's bytes as byte-level characters (ids 0..255 the bytes,
//                  256.. the merges in learnt order), merges in rank order; the lowest-rank pair
//                  merges first, as Tokenizer.encodeWord does; no unk, no dropout, no byte fallback.
//   added_tokens   the special tokens (<|endoftext|>) with their ids, special.
//   decoder        ByteLevel: characters back to bytes, then UTF-8.
// Known difference: `tokenizers` always splits added tokens out of the text, so a text containing
// the literal string "<|endoftext|>" encodes to the special id there, while Tokenizer.encode treats
// it as ordinary text. No other text differs (test/export/tokenizer.test.ts checks an independent
// Python reader of this file against Tokenizer.encode).
import { InternalError } from '../../base/errors.ts';
import { PRETOKENIZE_PATTERN, type Tokenizer } from '../data/bpe.ts';

/** GPT-2's byte → printable character table (the ByteLevel convention of `tokenizers`). */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) table[b] = printable.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + extra++);
  return table;
}

/** JavaScript's `\s` (ECMAScript WhiteSpace + LineTerminator), literally. */
const JS_WHITESPACE = '\t\n\u000b\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff';

/** The pre-tokenizer pattern with `\s` / `\S` spelt out, for regex engines other than V8. */
export function portablePattern(pattern = PRETOKENIZE_PATTERN): string {
  // `\s` occurs inside character classes ([^\s…]) and bare; `\S` only bare in this pattern.
  return pattern
    .replace(/\[\^\\s/g, `[^${JS_WHITESPACE}`)
    .replace(/\\s/g, `[${JS_WHITESPACE}]`)
    .replace(/\\S/g, `[^${JS_WHITESPACE}]`);
}

export function tokenizerJson(tok: Tokenizer): Record<string, unknown> {
  const table = bytesToUnicode();
  const specials = new Set(tok.specialTokens.map((t) => tok.specialId(t)));
  const vocab: Record<string, number> = {};
  const text = (id: number): string => Array.from(tok.decodeBytes([id]), (b) => table[b]).join('');
  for (let id = 0; id < tok.vocabSize; id++) {
    if (specials.has(id)) continue;
    const s = text(id);
    // Two merges that spell the same bytes would share one vocab entry and lose an id.
    if (s in vocab) throw new InternalError(`tokenizer: ids ${vocab[s]} and ${id} spell the same bytes; tokenizer.json cannot hold both`);
    vocab[s] = id;
  }
  const merges: string[] = [];
  for (let r = 0; r < tok.merges.length / 2; r++) merges.push(`${text(tok.merges[2 * r])} ${text(tok.merges[2 * r + 1])}`);
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: tok.specialTokens.map((content) => ({ id: tok.specialId(content), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: portablePattern() }, behavior: 'Isolated', invert: false }, byteLevel] },
    post_processor: null,
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}
