// Corpora a user can get wrong, each refused with a message naming the file and the problem
// (a UserError: exit 1, no stack): random bytes, a binary file in a folder of text, an empty
// corpus, a corpus smaller than one batch, and a file that cannot be read (a dangling link).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../base/errors.ts';
import { Rng } from '../../base/rng.ts';
import { prepareData } from '../../runtime/data/prepare.ts';

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sdmoec-corpus-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const prepare = (path: string, extra: { batch?: number; seqLen?: number } = {}) =>
  prepareData({ source: { kind: 'path', path }, vocabSize: 300, seqLen: extra.seqLen ?? 16, batch: extra.batch, useCache: false });

function expectUserError(run: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(UserError);
  expect((caught as Error).message).toMatch(pattern);
}

const prose = (words: number): string => Array.from({ length: words }, (_, i) => ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'slept'][i % 8]).join(' ') + '.\n';

describe('corpus errors', () => {
  it('refuses random bytes instead of training on them as Latin-1', () => {
    const bytes = new Uint8Array(4096);
    const rng = new Rng(5);
    for (let i = 0; i < bytes.length; i++) bytes[i] = rng.nextInt(256);
    const file = join(work, 'random.txt');
    writeFileSync(file, bytes);
    expectUserError(() => prepare(file), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not a text file`));
  });

  it('names the binary file inside a folder of text', () => {
    const dir = join(work, 'mixed');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.txt'), prose(4000));
    writeFileSync(join(dir, 'b.txt'), Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00, 0x01]));
    expectUserError(() => prepare(dir), /b\.txt: not a text file \(a NUL byte at offset 4\)/);
  });

  it('accepts Latin-1 text (accents are not control bytes)', () => {
    const file = join(work, 'latin1.txt');
    writeFileSync(file, Buffer.from(prose(3000).replace(/cat/g, 'caf\u00e9'), 'latin1'));
    expect(prepare(file).train.length).toBeGreaterThan(100);
  });

  it('refuses an empty corpus', () => {
    const file = join(work, 'empty.txt');
    writeFileSync(file, '\n\n  \n');
    expectUserError(() => prepare(file), /contains only empty text files/);
  });

  it('refuses a corpus smaller than one batch', () => {
    const file = join(work, 'small.txt');
    writeFileSync(file, prose(300));
    expectUserError(() => prepare(file, { batch: 64, seqLen: 32 }), /fewer than one batch of 64 × 32 tokens/);
  });

  it('reports a file it cannot read instead of a stack', () => {
    const dir = join(work, 'dangling');
    mkdirSync(dir);
    writeFileSync(join(dir, 'ok.txt'), prose(4000));
    symlinkSync(join(dir, 'gone.txt'), join(dir, 'link.txt'));
    expectUserError(() => prepare(dir), /cannot read .*link\.txt: it is a link to a file that does not exist/);
  });
});
