// Deterministic train/validation(/test) split by document.
// Invariants: a document's side depends only on its id, the fraction and the salt (SHA-256 of the id,
// never file order, locale or machine), both sides are non-empty, and adding a document never moves
// another one unless the at-least-one fallbacks kick in. A single-document corpus is split inside the
// document instead (its tail becomes validation), cut at a line break so no word is torn apart.
// A test split (an eval block's `split test`) is taken from the train side only, the documents whose
// hash falls in [validationFraction, validationFraction + testFraction): validation never changes
// when a test split is asked for, and test documents are never trained on.
import { createHash } from 'node:crypto';
import type { Document } from './corpus.ts';

export interface SplitOptions {
  /** Share of documents (roughly) held out for validation; default 1/18 (one book of the 18). */
  validationFraction?: number;
  /** Changes which documents are held out without changing the fraction. */
  salt?: string;
  /** Also hold out a test split of (roughly) this share, from the train side; default 0 (none). */
  testFraction?: number;
}

export interface DataSplit {
  train: Document[];
  validation: Document[];
  /** Only with testFraction > 0. */
  test?: Document[];
}

export const DEFAULT_VALIDATION_FRACTION = 1 / 18;

/** Uniform value in [0, 1) from the document id, identical on every machine. */
export function documentHashUnit(id: string, salt = ''): number {
  const digest = createHash('sha256').update(`${salt}\u0000${id}`).digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

function splitSingleDocument(doc: Document, fraction: number): DataSplit {
  const target = Math.floor(doc.text.length * (1 - fraction));
  let cut = doc.text.lastIndexOf('\n', target);
  if (cut <= 0) cut = doc.text.indexOf('\n', target);
  if (cut <= 0 || cut >= doc.text.length - 1) cut = target;
  // Keep surrogate pairs intact when falling back to a cut at a raw index.
  const code = doc.text.charCodeAt(cut);
  if (code >= 0xdc00 && code <= 0xdfff) cut += 1;
  return {
    train: [{ id: `${doc.id}#train`, text: doc.text.slice(0, cut) }],
    validation: [{ id: `${doc.id}#validation`, text: doc.text.slice(cut) }],
  };
}

export function splitDocuments(documents: Document[], options: SplitOptions = {}): DataSplit {
  const testFraction = options.testFraction ?? 0;
  if (testFraction > 0) return withTestSplit(splitTrainValidation(documents, options), testFraction, options);
  return splitTrainValidation(documents, options);
}

/** The test split out of the train side: hash in [fraction, fraction + testFraction), at least one
 *  document (the train document of smallest hash), at least one left to train on; a single train
 *  document gives its tail. */
function withTestSplit(split: DataSplit, testFraction: number, options: SplitOptions): DataSplit {
  if (!(testFraction > 0 && testFraction < 1)) throw new RangeError(`testFraction must be in (0, 1), got ${testFraction}`);
  const fraction = options.validationFraction ?? DEFAULT_VALIDATION_FRACTION;
  if (split.train.length === 1) {
    const inner = splitSingleDocument(split.train[0], testFraction);
    return { train: inner.train, validation: split.validation, test: inner.validation.map((d) => ({ ...d, id: d.id.replace(/#validation$/, '#test') })) };
  }
  const scored = split.train.map((doc) => ({ doc, u: documentHashUnit(doc.id, options.salt) }));
  let held = scored.filter((s) => s.u < fraction + testFraction);
  if (held.length === 0) held = [scored.reduce((best, s) => (s.u < best.u ? s : best))];
  else if (held.length === scored.length) {
    const largest = scored.reduce((best, s) => (s.u > best.u ? s : best));
    held = held.filter((s) => s !== largest);
  }
  const heldSet = new Set(held);
  return { train: scored.filter((s) => !heldSet.has(s)).map((s) => s.doc), validation: split.validation, test: held.map((s) => s.doc) };
}

function splitTrainValidation(documents: Document[], options: SplitOptions): DataSplit {
  const fraction = options.validationFraction ?? DEFAULT_VALIDATION_FRACTION;
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`validationFraction must be in (0, 1), got ${fraction}`);
  if (documents.length === 0) throw new RangeError('cannot split an empty corpus');
  if (documents.length === 1) return splitSingleDocument(documents[0], fraction);

  const scored = documents.map((doc) => ({ doc, u: documentHashUnit(doc.id, options.salt) }));
  let held = scored.filter((s) => s.u < fraction);
  if (held.length === 0) {
    // Too few documents for the fraction to pick one: hold out the one with the smallest hash.
    held = [scored.reduce((best, s) => (s.u < best.u ? s : best))];
  } else if (held.length === scored.length) {
    const largest = scored.reduce((best, s) => (s.u > best.u ? s : best));
    held = held.filter((s) => s !== largest);
  }
  const heldSet = new Set(held);
  return {
    train: scored.filter((s) => !heldSet.has(s)).map((s) => s.doc),
    validation: held.map((s) => s.doc),
  };
}
