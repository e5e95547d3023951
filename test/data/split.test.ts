// The train/validation split depends on document ids only, never on order, and both sides are non-empty.
import { describe, expect, it } from 'vitest';
import type { Document } from '../../runtime/data/corpus.ts';
import { splitDocuments } from '../../runtime/data/split.ts';

const docs: Document[] = Array.from({ length: 40 }, (_, i) => ({ id: `book-${i}`, text: `text of book ${i}\n` }));
const ids = (list: Document[]): string[] => list.map((d) => d.id).sort();

describe('splitDocuments', () => {
  it('gives the same sides whatever the input order', () => {
    const forward = splitDocuments(docs, { validationFraction: 0.2 });
    const reversed = splitDocuments([...docs].reverse(), { validationFraction: 0.2 });
    expect(ids(reversed.validation)).toEqual(ids(forward.validation));
    expect(ids(reversed.train)).toEqual(ids(forward.train));
    expect(forward.train.length + forward.validation.length).toBe(docs.length);
  });

  it('keeps a document on its side when other documents are added', () => {
    const small = splitDocuments(docs.slice(0, 30), { validationFraction: 0.2 });
    const large = splitDocuments(docs, { validationFraction: 0.2 });
    const largeValidation = new Set(ids(large.validation));
    for (const doc of small.validation) expect(largeValidation.has(doc.id)).toBe(true);
  });

  it('holds out roughly the requested fraction and a salt changes which documents', () => {
    const many: Document[] = Array.from({ length: 2000 }, (_, i) => ({ id: `d${i}`, text: 'x' }));
    const split = splitDocuments(many, { validationFraction: 0.1 });
    expect(split.validation.length).toBeGreaterThan(140);
    expect(split.validation.length).toBeLessThan(260);
    const salted = splitDocuments(many, { validationFraction: 0.1, salt: 'other' });
    expect(ids(salted.validation)).not.toEqual(ids(split.validation));
  });

  it('always leaves at least one document on each side', () => {
    const two = docs.slice(0, 2);
    const tiny = splitDocuments(two, { validationFraction: 0.001 });
    expect(tiny.validation).toHaveLength(1);
    expect(tiny.train).toHaveLength(1);
    const huge = splitDocuments(two, { validationFraction: 0.999 });
    expect(huge.validation).toHaveLength(1);
    expect(huge.train).toHaveLength(1);
  });

  it('splits a single document at a line break, keeping all its text', () => {
    const text = Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n');
    const split = splitDocuments([{ id: 'only.txt', text }], { validationFraction: 0.25 });
    expect(split.train[0].text + split.validation[0].text).toBe(text);
    expect(split.validation[0].text.startsWith('\n')).toBe(true);
    const share = split.validation[0].text.length / text.length;
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.3);
  });
});
