// On-disk cache for trained tokenizers and encoded token streams.
// Invariants: entries are addressed by a content key (never by time or path), written atomically
// (unique temp file in the same folder, then rename) so a crash or a concurrent writer never leaves a
// torn file; an unreadable or inconsistent entry is treated as a miss, never as an error.
// Token streams are stored as raw little-endian arrays; the key includes the host endianness.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** `$SDMOEC_CACHE_DIR`, else `.cache/sdmoec` under the current project folder. */
export function defaultCacheDir(): string {
  const fromEnv = process.env.SDMOEC_CACHE_DIR;
  return fromEnv && fromEnv.length > 0 ? resolve(fromEnv) : resolve('.cache', 'sdmoec');
}

export function hashKey(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    writeFileSync(temp, data);
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

function readOrUndefined(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

export function tokenizerCachePath(cacheDir: string, key: string): string {
  return join(cacheDir, 'tokenizers', `${key}.json`);
}

export function readCachedJson<T>(path: string): T | undefined {
  const raw = readOrUndefined(path);
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw.toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

export type TokenArray = Uint16Array | Uint32Array;

export function tokenArrayFor(vocabSize: number, length: number): TokenArray {
  return vocabSize <= 0x10000 ? new Uint16Array(length) : new Uint32Array(length);
}

export function streamCacheKey(tokenizerKey: string, role: string): string {
  return hashKey({ tokenizerKey, role, endianness: endianness(), streamFormat: 1 });
}

export function streamCachePath(cacheDir: string, key: string): string {
  return join(cacheDir, 'streams', `${key}.bin`);
}

interface StreamHeader {
  length: number;
  bytesPerToken: 2 | 4;
}

/** Stream file: a JSON header line, then the raw token array aligned to 8 bytes. */
export function writeTokenStream(path: string, tokens: TokenArray): void {
  const header: StreamHeader = { length: tokens.length, bytesPerToken: tokens.BYTES_PER_ELEMENT as 2 | 4 };
  let headerText = JSON.stringify(header) + '\n';
  headerText += ' '.repeat((8 - (Buffer.byteLength(headerText) % 8)) % 8);
  const headerBytes = Buffer.from(headerText, 'utf8');
  const body = new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength);
  writeFileAtomic(path, Buffer.concat([headerBytes, body]));
}

export function readTokenStream(path: string, vocabSize: number): TokenArray | undefined {
  const raw = readOrUndefined(path);
  if (raw === undefined) return undefined;
  const newline = raw.indexOf(0x0a);
  if (newline < 0) return undefined;
  let header: StreamHeader;
  try {
    header = JSON.parse(raw.subarray(0, newline).toString('utf8')) as StreamHeader;
  } catch {
    return undefined;
  }
  const bodyStart = newline + 1 + ((8 - ((newline + 1) % 8)) % 8);
  const expected = tokenArrayFor(vocabSize, 0).BYTES_PER_ELEMENT;
  if (header.bytesPerToken !== expected || raw.length - bodyStart !== header.length * expected) return undefined;
  const tokens = tokenArrayFor(vocabSize, header.length);
  // Copy instead of viewing: the Buffer may sit at an unaligned offset of a shared pool.
  new Uint8Array(tokens.buffer).set(raw.subarray(bodyStart));
  for (let i = 0; i < tokens.length; i++) if (tokens[i] >= vocabSize) return undefined;
  return tokens;
}
