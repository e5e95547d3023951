// prepareData end to end: cache hits return the identical tokenizer and streams, keys separate
// settings, streams decode back to the documents, and the full default corpus prepares correctly.
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../base/errors.ts';
import { END_OF_TEXT } from '../../runtime/data/bpe.ts';
import { defaultCacheDir } from '../../runtime/data/cache.ts';
import { loadCorpus } from '../../runtime/data/corpus.ts';
import { prepareData } from '../../runtime/data/prepare.ts';
import type { DataProgressEvent } from '../../runtime/data/prepare.ts';
import { splitDocuments } from '../../runtime/data/split.ts';

const root = mkdtempSync(join(tmpdir(), 'sdmoec-prepare-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const books = join(root, 'books');
mkdirSync(books);
const gutenberg = loadCorpus({ kind: 'gutenberg' });
// Small slices of real books keep BPE training in the milliseconds.
for (const doc of gutenberg.documents.slice(0, 8)) writeFileSync(join(books, `${doc.id}.txt`), doc.text.slice(0, 15_000));

const base = { source: { kind: 'path', path: books } as const, vocabSize: 512, seqLen: 32 };

function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name);
}

describe('prepareData', () => {
  it('hits the cache the second time with the identical tokenizer and streams', () => {
    const cacheDir = join(root, 'cache-hit');
    const events: DataProgressEvent[] = [];
    const first = prepareData({ ...base, cacheDir, onProgress: (e) => events.push(e) });
    const second = prepareData({ ...base, cacheDir });
    expect(first.fromCache).toEqual({ tokenizer: false, train: false, validation: false });
    expect(second.fromCache).toEqual({ tokenizer: true, train: true, validation: true });
    expect(second.cacheKey).toBe(first.cacheKey);
    expect(Array.from(second.tokenizer.merges)).toEqual(Array.from(first.tokenizer.merges));
    expect(second.train).toEqual(first.train);
    expect(second.validation).toEqual(first.validation);
    expect(allFiles(cacheDir).some((name) => name.endsWith('.tmp'))).toBe(false);
    const merges = events.filter((e) => e.phase === 'tokenizer' && e.total !== undefined);
    expect(merges[merges.length - 1].done).toBe(512 - 256 - 1);
  });

  it('keys the cache on vocab size, split settings and corpus content', () => {
    const cacheDir = join(root, 'cache-keys');
    const reference = prepareData({ ...base, cacheDir });
    const otherVocab = prepareData({ ...base, vocabSize: 600, cacheDir });
    const otherSplit = prepareData({ ...base, validationFraction: 0.3, cacheDir });
    expect(new Set([reference.cacheKey, otherVocab.cacheKey, otherSplit.cacheKey]).size).toBe(3);
    expect(otherVocab.fromCache.tokenizer).toBe(false);
    expect(otherVocab.tokenizer.vocabSize).toBe(600);

    const edited = join(root, 'edited');
    mkdirSync(edited);
    for (const name of readdirSync(books)) writeFileSync(join(edited, name), 'changed. ' + name);
    const editedCorpus = prepareData({ ...base, seqLen: 4, source: { kind: 'path', path: edited }, cacheDir });
    expect(editedCorpus.cacheKey).not.toBe(reference.cacheKey);
  });

  it('builds streams that decode back to the split documents, each after a separator', () => {
    const prepared = prepareData({ ...base, useCache: false });
    const corpus = loadCorpus(base.source);
    const split = splitDocuments(corpus.documents);
    expect(prepared.documents.validation).toEqual(split.validation.map((d) => d.id));
    const join = (docs: { text: string }[]): string => docs.map((d) => END_OF_TEXT + d.text).join('');
    expect(prepared.tokenizer.decode(prepared.train)).toBe(join(split.train));
    expect(prepared.tokenizer.decode(prepared.validation)).toBe(join(split.validation));
    expect(prepared.tokenizer.byteLength(prepared.validation)).toBe(prepared.bytes.validation);
  });

  it('splits a single user file inside the document', () => {
    const file = join(root, 'single.txt');
    writeFileSync(file, gutenberg.documents[1].text.slice(0, 20_000));
    const prepared = prepareData({ ...base, source: { kind: 'path', path: file }, useCache: false });
    expect(prepared.documents).toEqual({ train: ['single.txt#train'], validation: ['single.txt#validation'] });
    expect(prepared.bytes.train + prepared.bytes.validation).toBe(Buffer.byteLength(gutenberg.documents[1].text.slice(0, 20_000)));
  });

  it('reports impossible settings as user errors', () => {
    expect(() => prepareData({ ...base, vocabSize: 100, useCache: false })).toThrow(UserError);
    expect(() => prepareData({ ...base, seqLen: 1_000_000, useCache: false })).toThrow(/fewer than sequence length/);
    expect(() => prepareData({ ...base, source: { kind: 'path', path: join(root, 'nope') } })).toThrow(UserError);
  });

  it('puts the cache under .cache/sdmoec unless SDMOEC_CACHE_DIR says otherwise', () => {
    const saved = process.env.SDMOEC_CACHE_DIR;
    try {
      delete process.env.SDMOEC_CACHE_DIR;
      expect(defaultCacheDir()).toBe(resolve('.cache', 'sdmoec'));
      process.env.SDMOEC_CACHE_DIR = join(root, 'env-cache');
      expect(defaultCacheDir()).toBe(join(root, 'env-cache'));
    } finally {
      if (saved === undefined) delete process.env.SDMOEC_CACHE_DIR;
      else process.env.SDMOEC_CACHE_DIR = saved;
    }
  });

  it('prepares the full default corpus: one held-out book, round-trip streams', () => {
    const prepared = prepareData({ source: { kind: 'gutenberg' }, vocabSize: 1024, seqLen: 256, useCache: false });
    expect(prepared.documents.train.length + prepared.documents.validation.length).toBe(18);
    expect(prepared.documents.validation.length).toBeGreaterThanOrEqual(1);
    expect(prepared.tokenizer.vocabSize).toBe(1024);
    expect(prepared.tokenizer.byteLength(prepared.train)).toBe(prepared.bytes.train);
    expect(prepared.tokenizer.byteLength(prepared.validation)).toBe(prepared.bytes.validation);
    // Fewer tokens than bytes: the merges compress real text.
    expect(prepared.train.length).toBeLessThan(prepared.bytes.train / 2);
  });
});
