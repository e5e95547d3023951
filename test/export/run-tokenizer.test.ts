// `sdmoec sample` and `sdmoec export` rebuild a run's tokenizer from its config.json
// (runtime/sample/forward.ts runTokenizer): it must be the tokenizer the run trained with — the
// byte tokenizer for `tokenizer byte`, and BPE merges learned on the train split the run used
// (a run whose eval block declares `split test` holds more documents out of training).
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ModelConfig, TrainConfig } from '../../compiler/config/types.ts';
import { loadCorpus } from '../../runtime/data/corpus.ts';
import { prepareData } from '../../runtime/data/prepare.ts';
import { runTokenizer } from '../../runtime/sample/forward.ts';
import { model } from './support.ts';

const root = mkdtempSync(join(tmpdir(), 'sdmoec-runtok-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const books = join(root, 'books');
mkdirSync(books);
for (const doc of loadCorpus({ kind: 'gutenberg' }).documents.slice(0, 8)) writeFileSync(join(books, `${doc.id}.txt`), doc.text.slice(0, 20_000));

const demo: ModelConfig = { ...model('models/demo.moe', 'demo'), vocab: 400 };
const train = (tokenizer: 'bpe' | 'byte'): TrainConfig => ({ data: { kind: 'path', path: books }, tokenizer, seqLen: 16, batch: 2 }) as unknown as TrainConfig;
const text = 'Peter Rabbit ran — naïvely — into the garden.';

describe("a run's tokenizer, rebuilt for sample and export", () => {
  it('is the byte tokenizer for a byte run: one id per UTF-8 byte, as the trainer prepared it', () => {
    const tok = runTokenizer(demo, train('byte'));
    const ids = tok.encode(text);
    expect(ids.length).toBe(Buffer.byteLength(text));
    expect(tok.decode(ids)).toBe(text);
    const trained = prepareData({ source: train('byte').data, tokenizer: 'byte', vocabSize: demo.vocab, seqLen: 16, batch: 2 }).tokenizer;
    expect(ids).toEqual(trained.encode(text));
  });

  it('is BPE learned on the split the run used: split test changes the merges, and it follows the run', () => {
    const plain = runTokenizer(demo, train('bpe'));
    const held = runTokenizer(demo, train('bpe'), () => {}, { testSplit: true });
    expect(plain.encode(text).length).toBeLessThan(Buffer.byteLength(text));
    const trainedHeld = prepareData({ source: train('bpe').data, tokenizer: 'bpe', testSplit: true, vocabSize: demo.vocab, seqLen: 16, batch: 2 }).tokenizer;
    const sample = loadCorpus({ kind: 'gutenberg' }).documents.at(-1)!.text.slice(0, 4000);
    expect(held.encode(sample)).toEqual(trainedHeld.encode(sample));
    expect(plain.encode(sample)).not.toEqual(held.encode(sample));
  });
});
