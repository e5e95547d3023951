// `train { tokenizer byte }` in the data layer: the byte tokenizer (256 bytes + the BPE path's
// special tokens, no merges) round-trips any text, its streams are the documents' UTF-8 bytes with a
// separator before each document, its cache entries are apart from BPE's and independent of the
// model's vocab, and the config's vocab floor (TOKENIZER_BASE_VOCAB) is exactly what it emits.
// `prepareHeldOut` (an eval block's own `data`) encodes another corpus's validation split with a
// run's tokenizer.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../base/errors.ts';
import { TOKENIZER_BASE_VOCAB } from '../../compiler/config/train.ts';
import { END_OF_TEXT, pretokenize, Tokenizer } from '../../runtime/data/bpe.ts';
import { loadCorpus } from '../../runtime/data/corpus.ts';
import { byteTokenizer, prepareData, prepareHeldOut } from '../../runtime/data/prepare.ts';
import { splitDocuments } from '../../runtime/data/split.ts';
import { targetByteCount } from '../../runtime/data/bits-per-byte.ts';

const root = mkdtempSync(join(tmpdir(), 'sdmoec-tokkind-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const books = join(root, 'books');
mkdirSync(books);
const gutenberg = loadCorpus({ kind: 'gutenberg' });
for (const doc of gutenberg.documents.slice(0, 6)) writeFileSync(join(books, `${doc.id}.txt`), doc.text.slice(0, 12_000));
const other = join(root, 'other');
mkdirSync(other);
for (const doc of gutenberg.documents.slice(10, 14)) writeFileSync(join(other, `${doc.id}.txt`), doc.text.slice(5_000, 12_000));

describe('byte tokenizer', () => {
  it('has 256 byte ids plus the BPE path\'s special tokens, the floor check uses', () => {
    const t = byteTokenizer();
    expect(t.vocabSize).toBe(257);
    expect(TOKENIZER_BASE_VOCAB).toBe(t.vocabSize);
    expect(t.specialId(END_OF_TEXT)).toBe(256);
  });

  it('round-trips text, one id per UTF-8 byte, the same ids as pre-tokenised byte encoding', () => {
    const t = byteTokenizer();
    const texts = ['plain ASCII, with "quotes"\nand lines', 'Grüße, 東京, emoji 🙂 and tabs\t\t  ', '', "it's  a  <|endoftext|> string"];
    for (const text of texts) {
      const ids = t.encode(text);
      expect(ids).toEqual(Array.from(new TextEncoder().encode(text)));
      expect(t.decode(ids)).toBe(text);
      expect(ids.every((id) => id < 256)).toBe(true);
      // The fast path skips pre-tokenising, which would give the same bytes (its words cover the text).
      expect(pretokenize(text).flatMap((w) => Array.from(new TextEncoder().encode(w)))).toEqual(ids);
      expect(Tokenizer.fromJSON(t.toJSON()).vocabSize).toBe(257);
    }
    expect(t.tokenByteLengths()[256]).toBe(0); // the separator is no text
  });

  it('prepares streams of the documents\' bytes, cached apart from BPE and independent of the model vocab', () => {
    const cacheDir = join(root, 'cache');
    const a = prepareData({ source: { kind: 'path', path: books }, tokenizer: 'byte', vocabSize: 300, seqLen: 32, cacheDir });
    const b = prepareData({ source: { kind: 'path', path: books }, tokenizer: 'byte', vocabSize: 1024, seqLen: 32, cacheDir });
    const bpe = prepareData({ source: { kind: 'path', path: books }, tokenizer: 'bpe', vocabSize: 300, seqLen: 32, cacheDir });
    expect(a.tokenizerKind).toBe('byte');
    expect(a.tokenizer.vocabSize).toBe(257);
    expect(b.cacheKey).toBe(a.cacheKey);
    expect(b.fromCache.train).toBe(true);
    expect(bpe.cacheKey).not.toBe(a.cacheKey);
    expect(bpe.tokenizer.vocabSize).toBeGreaterThan(257);
    const split = splitDocuments(loadCorpus({ kind: 'path', path: books }).documents);
    const expected: number[] = [];
    for (const doc of split.validation) expected.push(256, ...new TextEncoder().encode(doc.text));
    expect(Array.from(a.validation)).toEqual(expected);
    // Bits per byte counts every byte target once and the separators not at all.
    expect(targetByteCount(a.tokenizer, a.validation)).toBe(a.bytes.validation);
  });

  it('refuses a vocabulary below 257 for either kind', () => {
    for (const tokenizer of ['byte', 'bpe'] as const) {
      expect(() => prepareData({ source: { kind: 'path', path: books }, tokenizer, vocabSize: 256, seqLen: 32, useCache: false })).toThrow(UserError);
    }
  });
});

describe('prepareHeldOut', () => {
  it('encodes another corpus\'s validation split with the run\'s tokenizer', () => {
    const run = prepareData({ source: { kind: 'path', path: books }, vocabSize: 400, seqLen: 32, useCache: false });
    const held = prepareHeldOut({ source: { kind: 'path', path: other }, tokenizer: run.tokenizer, tokenizerKey: run.cacheKey, seqLen: 32, useCache: false });
    const split = splitDocuments(loadCorpus({ kind: 'path', path: other }).documents);
    expect(held.documents).toEqual(split.validation.map((d) => d.id));
    const sep = run.tokenizer.specialId(END_OF_TEXT);
    const texts = run.tokenizer.decode(Array.from(held.tokens).map((id) => (id === sep ? -1 : id)).filter((id) => id >= 0));
    expect(texts).toBe(split.validation.map((d) => d.text).join(''));
    expect(held.bytes).toBe(targetByteCount(run.tokenizer, held.tokens));
    expect(() => prepareHeldOut({ source: { kind: 'path', path: other }, tokenizer: run.tokenizer, tokenizerKey: run.cacheKey, seqLen: 1_000_000, useCache: false })).toThrow(/eval data's validation split/);
  });
});

describe('test split (an eval block\'s split test)', () => {
  const many = Array.from({ length: 200 }, (_, i) => ({ id: `d${i}`, text: `text ${i}\n` }));

  it('comes from the train side only: validation unchanged, the three sides disjoint and complete', () => {
    const plain = splitDocuments(many);
    const withTest = splitDocuments(many, { testFraction: 1 / 18 });
    expect(withTest.validation.map((d) => d.id)).toEqual(plain.validation.map((d) => d.id));
    const test = withTest.test!.map((d) => d.id);
    expect(test.length).toBeGreaterThan(2);
    const train = new Set(withTest.train.map((d) => d.id));
    for (const id of test) expect(train.has(id) || plain.validation.some((d) => d.id === id)).toBe(false);
    expect(withTest.train.length + withTest.validation.length + test.length).toBe(many.length);
    expect(plain.test).toBeUndefined();
    // One train document: its tail.
    const two = [{ id: 'a', text: 'line one\nline two\nline three\nline four\n' }, { id: 'b', text: 'other one\nother two\nother three\n' }];
    const one = splitDocuments(two, { validationFraction: 0.5, testFraction: 0.5 });
    const source = two.find((d) => one.train[0].id === `${d.id}#train`)!;
    expect(one.test!.map((d) => d.id)).toEqual([`${source.id}#test`]);
    expect(one.train[0].text + one.test![0].text).toBe(source.text);
    expect(one.validation.map((d) => d.id)).toEqual([two.find((d) => d !== source)!.id]);
  });

  it('is prepared as its own stream, with its own cache key, the train stream without it', () => {
    const cacheDir = join(root, 'cache-test');
    const plain = prepareData({ source: { kind: 'path', path: books }, tokenizer: 'byte', vocabSize: 257, seqLen: 32, cacheDir });
    const withTest = prepareData({ source: { kind: 'path', path: books }, tokenizer: 'byte', vocabSize: 257, seqLen: 32, cacheDir, testSplit: true });
    expect(plain.test).toBeNull();
    expect(withTest.cacheKey).not.toBe(plain.cacheKey);
    expect(Array.from(withTest.validation)).toEqual(Array.from(plain.validation));
    const split = splitDocuments(loadCorpus({ kind: 'path', path: books }).documents, { testFraction: 1 / 18 });
    const expected: number[] = [];
    for (const doc of split.test!) expected.push(256, ...new TextEncoder().encode(doc.text));
    expect(Array.from(withTest.test!)).toEqual(expected);
    expect(withTest.train.length).toBe(plain.train.length - expected.length);
    expect(withTest.documents.test).toEqual(split.test!.map((d) => d.id));
  });
});
