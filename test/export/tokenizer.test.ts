// tokenizer.json (runtime/export/tokenizer.ts) read by an independent Python encoder
// (test/export/hf_reference.py `encode`: the Split regex with Python's `regex`, the byte-level
// table and rank-ordered BPE merges as the tokenizers library documents them) must encode every
// sample text exactly as Tokenizer.encode does: a tokenizer trained on one Gutenberg book, texts
// from another book plus edge cases (contractions, digits, every JavaScript whitespace, U+0085,
// CJK, emoji, combining marks, long space runs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCorpus } from '../../runtime/data/corpus.ts';
import { pretokenize, trainTokenizer, type Tokenizer } from '../../runtime/data/bpe.ts';
import { bytesToUnicode, portablePattern, tokenizerJson } from '../../runtime/export/tokenizer.ts';
import { referenceEncode, requirePythonTorch } from './support.ts';

let work: string;
let tok: Tokenizer;
let texts: string[];
beforeAll(() => {
  requirePythonTorch();
  work = mkdtempSync(join(tmpdir(), 'sdmoec-tok-'));
  const docs = loadCorpus({ kind: 'gutenberg' }).documents;
  tok = trainTokenizer([docs[0].text.slice(0, 400_000)], { vocabSize: 1024 });
  const other = docs[docs.length - 1].text;
  texts = [
    ...Array.from({ length: 20 }, (_, i) => other.slice(i * 2000, i * 2000 + 1500)),
    "I'll say it's the dog's; we'd've, they're 'RE' ' s",
    'x\u00a0y\u2003z\u3000w\ufeffv\u0085u\tt\r\ns\u000bq\fp\u2028o\u2029n',
    'numbers 12345 3.14159 ½ ² ٣٤٥',
    '日本語のテキスト、中文文本。 한국어 텍스트',
    'emoji 🦀🐇👩‍👩‍👧 and combining é e\u0301 naïve',
    '     many spaces      then text\n\n\n   \t  ',
    '',
  ];
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('tokenizer.json', () => {
  it('byte-level table: 256 distinct printable characters, printable ASCII kept', () => {
    const t = bytesToUnicode();
    expect(new Set(t).size).toBe(256);
    expect(t['A'.charCodeAt(0)]).toBe('A');
    expect(t[0x20]).toBe('Ġ');
    expect(t[0x0a]).toBe('Ċ');
  });

  it('the portable pattern splits exactly like the project pattern in V8', () => {
    const re = new RegExp(portablePattern(), 'gu');
    for (const text of texts) expect(text.match(re) ?? []).toEqual(pretokenize(text));
  });

  it('an independent Python reader of tokenizer.json encodes like Tokenizer.encode', () => {
    const dir = join(work, 'tok');
    mkdirSync(dir, { recursive: true });
    const json = tokenizerJson(tok);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
    expect(Object.keys((json.model as { vocab: object }).vocab)).toHaveLength(tok.vocabSize - tok.specialTokens.length);
    const theirs = referenceEncode(dir, texts, work);
    const ours = texts.map((t) => tok.encode(t));
    expect(ours.reduce((a, x) => a + x.length, 0)).toBeGreaterThan(5000);
    for (let i = 0; i < texts.length; i++) expect(theirs[i], JSON.stringify(texts[i].slice(0, 80))).toEqual(ours[i]);
    // The special token: tokenizers splits it out of any text (the documented difference).
    expect(referenceEncode(dir, ['a<|endoftext|>b'], work)[0]).toEqual([...tok.encode('a'), tok.specialId('<|endoftext|>'), ...tok.encode('b')]);
  });
});
