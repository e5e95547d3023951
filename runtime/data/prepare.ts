// One call from a corpus source to what training needs: tokenizer, train and validation token streams.
// Two tokenizer kinds: `bpe` (byte-level BPE trained on the train split up to the model's vocab)
// and `byte` (the 256 bytes + the special tokens, nothing learnt: the same Tokenizer with no merges,
// so ids, decoding and bits per byte work identically).
// Invariants: the tokenizer only ever sees the train split; cache keys cover the tokenizer kind, the
// corpus content (not its location), split settings, vocab size (BPE), special tokens and algorithm
// version, so a stale entry can never be reused; streams put `<|endoftext|>` before every document
// (when the tokenizer has it) so the model always knows where a document starts.
import { createHash } from 'node:crypto';
import { UserError } from '../../base/errors.ts';
import { BPE_ALGORITHM_VERSION, END_OF_TEXT, PRETOKENIZE_PATTERN, Tokenizer, trainTokenizer } from './bpe.ts';
import type { SerializedTokenizer } from './bpe.ts';
import {
  defaultCacheDir,
  hashKey,
  readCachedJson,
  readTokenStream,
  streamCacheKey,
  streamCachePath,
  tokenArrayFor,
  tokenizerCachePath,
  writeFileAtomic,
  writeTokenStream,
} from './cache.ts';
import type { TokenArray } from './cache.ts';
import { loadCorpus } from './corpus.ts';
import type { CorpusSource, Document } from './corpus.ts';
import { DEFAULT_VALIDATION_FRACTION, splitDocuments } from './split.ts';

export interface DataProgressEvent {
  phase: 'load' | 'split' | 'tokenizer' | 'encode';
  message: string;
  /** For phases with a measurable amount of work (BPE merges, documents encoded). */
  done?: number;
  total?: number;
}

export type TokenizerKind = 'bpe' | 'byte';

export interface PrepareDataOptions {
  source: CorpusSource;
  /** Default 'bpe'. */
  tokenizer?: TokenizerKind;
  /** Model vocabulary; the tokenizer gets 256 bytes + merges + special tokens = vocabSize (or fewer on tiny corpora). */
  vocabSize: number;
  /** Both streams must hold at least one window of seqLen + 1 tokens. */
  seqLen: number;
  /** Sequences per training batch: the train stream must hold that many windows (default 1). */
  batch?: number;
  validationFraction?: number;
  splitSalt?: string;
  /** Hold out a test split too (as large as validation, taken from the train side: splitDocuments). */
  testSplit?: boolean;
  specialTokens?: string[];
  /** Pairs rarer than this are never merged (default 2). */
  minPairCount?: number;
  /** Defaults to $SDMOEC_CACHE_DIR or ./.cache/sdmoec. */
  cacheDir?: string;
  /** false skips reading and writing the cache (tests, benchmarks). */
  useCache?: boolean;
  onProgress?: (event: DataProgressEvent) => void;
}

export interface PreparedData {
  tokenizer: Tokenizer;
  tokenizerKind: TokenizerKind;
  train: TokenArray;
  validation: TokenArray;
  /** Only with `testSplit`. */
  test: TokenArray | null;
  corpusIdentity: string;
  documents: { train: string[]; validation: string[]; test?: string[] };
  /** UTF-8 bytes of each split's text (separators excluded). */
  bytes: { train: number; validation: number; test?: number };
  cacheKey: string;
  fromCache: { tokenizer: boolean; train: boolean; validation: boolean };
}

interface TokenizerCacheEntry {
  key: string;
  corpusIdentity: string;
  trainDocuments: string[];
  tokenizer: SerializedTokenizer;
}

function contentHash(documents: Document[]): string {
  const hash = createHash('sha256');
  for (const doc of documents) {
    // Length prefixes keep (id, text) boundaries unambiguous.
    hash.update(`${doc.id.length}:${doc.id}${doc.text.length}:`);
    hash.update(doc.text);
  }
  return hash.digest('hex');
}

/** Encode documents into one stream, each preceded by the separator id when there is one. */
export function encodeDocuments(tokenizer: Tokenizer, documents: Document[], onDocument?: (done: number) => void): TokenArray {
  const separator = tokenizer.specialTokens.includes(END_OF_TEXT) ? tokenizer.specialId(END_OF_TEXT) : -1;
  let buffer = new Uint32Array(1 << 16);
  let length = 0;
  const emit = (id: number): void => {
    if (length === buffer.length) {
      const grown = new Uint32Array(buffer.length * 2);
      grown.set(buffer);
      buffer = grown;
    }
    buffer[length++] = id;
  };
  documents.forEach((doc, i) => {
    if (separator >= 0) emit(separator);
    tokenizer.encodeInto(doc.text, emit);
    onDocument?.(i + 1);
  });
  const tokens = tokenArrayFor(tokenizer.vocabSize, length);
  tokens.set(buffer.subarray(0, length));
  return tokens;
}

/** The byte-level tokenizer: ids 0..255 are the bytes, the special tokens follow. */
export function byteTokenizer(specialTokens: readonly string[] = [END_OF_TEXT]): Tokenizer {
  return new Tokenizer(new Int32Array(0), specialTokens);
}

function checkOptions(options: PrepareDataOptions, specialTokens: string[]): void {
  const { vocabSize, seqLen } = options;
  const minimum = 256 + specialTokens.length;
  if (!Number.isInteger(vocabSize) || vocabSize < minimum || vocabSize > 1 << 21) {
    throw new UserError(`vocab size must be an integer from ${minimum} (256 bytes + special tokens) to ${1 << 21}, got ${vocabSize}`);
  }
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new UserError(`sequence length must be a positive integer, got ${seqLen}`);
  const fraction = options.validationFraction ?? DEFAULT_VALIDATION_FRACTION;
  if (!(fraction > 0 && fraction < 1)) throw new UserError(`validation fraction must be between 0 and 1, got ${fraction}`);
}

export function prepareData(options: PrepareDataOptions): PreparedData {
  const specialTokens = options.specialTokens ?? [END_OF_TEXT];
  checkOptions(options, specialTokens);
  const progress = options.onProgress ?? (() => {});
  const useCache = options.useCache ?? true;
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const validationFraction = options.validationFraction ?? DEFAULT_VALIDATION_FRACTION;

  const corpus = loadCorpus(options.source);
  const totalBytes = corpus.documents.reduce((sum, d) => sum + Buffer.byteLength(d.text), 0);
  progress({ phase: 'load', message: `corpus ${corpus.identity}: ${corpus.documents.length} documents, ${totalBytes} bytes` });

  const split = splitDocuments(corpus.documents, { validationFraction, salt: options.splitSalt, ...(options.testSplit ? { testFraction: validationFraction } : {}) });
  const bytesOf = (docs: Document[]): number => docs.reduce((sum, d) => sum + Buffer.byteLength(d.text), 0);
  const bytes = { train: bytesOf(split.train), validation: bytesOf(split.validation), ...(split.test ? { test: bytesOf(split.test) } : {}) };
  progress({
    phase: 'split',
    message:
      `split: ${split.train.length} train documents (${bytes.train} bytes), ${split.validation.length} validation (${split.validation.map((d) => d.id).join(', ')}; ${bytes.validation} bytes)` +
      (split.test ? `, ${split.test.length} test (${split.test.map((d) => d.id).join(', ')}; ${bytes.test} bytes)` : ''),
  });

  const kind = options.tokenizer ?? 'bpe';
  // The byte tokenizer's key leaves out the vocab size (it does not depend on it) and names its
  // kind; BPE keys are unchanged from before there were two kinds.
  const content = contentHash(corpus.documents);
  const splitSalt = options.splitSalt ?? '';
  // A test split changes the train documents (and so the BPE merges); keys without one are as before.
  const testKey = options.testSplit ? { testSplit: true } : {};
  const cacheKey =
    kind === 'byte'
      ? hashKey({ tokenizer: 'byte', content, validationFraction, splitSalt, specialTokens, ...testKey })
      : hashKey({
          algorithm: BPE_ALGORITHM_VERSION,
          pattern: PRETOKENIZE_PATTERN,
          content,
          validationFraction,
          splitSalt,
          vocabSize: options.vocabSize,
          specialTokens,
          minPairCount: options.minPairCount ?? 2,
          ...testKey,
        });

  const tokenizerPath = tokenizerCachePath(cacheDir, cacheKey);
  let tokenizer: Tokenizer | undefined;
  if (kind === 'byte') {
    tokenizer = byteTokenizer(specialTokens);
    progress({ phase: 'tokenizer', message: `tokenizer: bytes, ${tokenizer.vocabSize} tokens (256 bytes + ${specialTokens.length} special)` });
  } else if (useCache) {
    const entry = readCachedJson<TokenizerCacheEntry>(tokenizerPath);
    if (entry?.key === cacheKey) {
      try {
        tokenizer = Tokenizer.fromJSON(entry.tokenizer);
      } catch {
        tokenizer = undefined; // written by another version: retrain and overwrite
      }
    }
  }
  const tokenizerFromCache = tokenizer !== undefined && kind === 'bpe';
  if (tokenizer !== undefined) {
    if (kind === 'bpe') progress({ phase: 'tokenizer', message: `tokenizer: ${tokenizer.vocabSize} tokens from cache ${tokenizerPath}` });
  } else {
    const merges = options.vocabSize - 256 - specialTokens.length;
    progress({ phase: 'tokenizer', message: `tokenizer: training byte-level BPE, ${merges} merges`, done: 0, total: merges });
    const started = performance.now();
    tokenizer = trainTokenizer(
      split.train.map((d) => d.text),
      {
        vocabSize: options.vocabSize,
        specialTokens,
        minPairCount: options.minPairCount,
        onProgress: (done, total) =>
          progress({ phase: 'tokenizer', message: `tokenizer: ${done}/${total} merges`, done, total }),
      },
    );
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const short = tokenizer.vocabSize < options.vocabSize ? ` (corpus too small for more than ${tokenizer.vocabSize})` : '';
    progress({ phase: 'tokenizer', message: `tokenizer: ${tokenizer.vocabSize} tokens trained in ${seconds} s${short}` });
    if (useCache) {
      const entry: TokenizerCacheEntry = {
        key: cacheKey,
        corpusIdentity: corpus.identity,
        trainDocuments: split.train.map((d) => d.id),
        tokenizer: tokenizer.toJSON(),
      };
      writeFileAtomic(tokenizerPath, JSON.stringify(entry));
    }
  }

  const trained: Tokenizer = tokenizer;
  const streamFor = (role: 'train' | 'validation' | 'test', docs: Document[]): { tokens: TokenArray; cached: boolean } => {
    const path = streamCachePath(cacheDir, streamCacheKey(cacheKey, role));
    const cached = useCache ? readTokenStream(path, trained.vocabSize) : undefined;
    if (cached !== undefined) {
      progress({ phase: 'encode', message: `${role} stream: ${cached.length} tokens from cache` });
      return { tokens: cached, cached: true };
    }
    const started = performance.now();
    const tokens = encodeDocuments(trained, docs, (done) =>
      progress({ phase: 'encode', message: `${role} stream: ${done}/${docs.length} documents`, done, total: docs.length }),
    );
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    progress({ phase: 'encode', message: `${role} stream: ${tokens.length} tokens encoded in ${seconds} s` });
    if (useCache) writeTokenStream(path, tokens);
    return { tokens, cached: false };
  };
  const train = streamFor('train', split.train);
  const validation = streamFor('validation', split.validation);
  const test = split.test ? streamFor('test', split.test) : null;

  // One training batch needs `batch` distinct windows; a smaller corpus would repeat the same
  // tokens within a batch and train on noise.
  const batch = options.batch ?? 1;
  if (batch > 1 && train.tokens.length < batch * options.seqLen + 1) {
    throw new UserError(
      `the train split has ${train.tokens.length} tokens, fewer than one batch of ${batch} × ${options.seqLen} tokens (+1); ` +
        'add text, or lower the batch size or sequence length',
    );
  }
  for (const [role, stream] of [['train', train.tokens], ['validation', validation.tokens]] as const) {
    if (stream.length < options.seqLen + 1) {
      throw new UserError(
        `the ${role} split has ${stream.length} tokens, fewer than sequence length + 1 = ${options.seqLen + 1}; ` +
          'add text, lower the sequence length or change the validation fraction',
      );
    }
  }

  return {
    tokenizer: trained,
    tokenizerKind: kind,
    train: train.tokens,
    validation: validation.tokens,
    test: test?.tokens ?? null,
    corpusIdentity: corpus.identity,
    documents: { train: split.train.map((d) => d.id), validation: split.validation.map((d) => d.id), ...(split.test ? { test: split.test.map((d) => d.id) } : {}) },
    bytes,
    cacheKey,
    fromCache: { tokenizer: tokenizerFromCache, train: train.cached, validation: validation.cached },
  };
}

export interface HeldOutOptions {
  source: CorpusSource;
  /** The run's tokenizer (trained on the run's own train split) and its cache key. */
  tokenizer: Tokenizer;
  tokenizerKey: string;
  /** The stream must hold at least one window of seqLen + 1 tokens. */
  seqLen: number;
  /** Which held-out split (default validation); test as a run with a test split holds it out. */
  split?: 'validation' | 'test';
  validationFraction?: number;
  splitSalt?: string;
  cacheDir?: string;
  useCache?: boolean;
  onProgress?: (event: DataProgressEvent) => void;
}

/** A held-out split of another corpus, encoded with a run's tokenizer: what an eval block with
 *  its own `data` scores. The corpus is split exactly as a run on it would split it. */
export function prepareHeldOut(options: HeldOutOptions): { tokens: TokenArray; bytes: number; documents: string[]; corpusIdentity: string } {
  const progress = options.onProgress ?? (() => {});
  const useCache = options.useCache ?? true;
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const validationFraction = options.validationFraction ?? DEFAULT_VALIDATION_FRACTION;
  const corpus = loadCorpus(options.source);
  const role = options.split ?? 'validation';
  const split = splitDocuments(corpus.documents, { validationFraction, salt: options.splitSalt, ...(role === 'test' ? { testFraction: validationFraction } : {}) });
  const docs = role === 'test' ? split.test! : split.validation;
  const bytes = docs.reduce((sum, d) => sum + Buffer.byteLength(d.text), 0);
  const key = hashKey({ heldOut: 1, tokenizerKey: options.tokenizerKey, content: contentHash(corpus.documents), validationFraction, splitSalt: options.splitSalt ?? '' });
  const path = streamCachePath(cacheDir, streamCacheKey(key, role));
  let tokens = useCache ? readTokenStream(path, options.tokenizer.vocabSize) : undefined;
  if (tokens === undefined) {
    tokens = encodeDocuments(options.tokenizer, docs);
    if (useCache) writeTokenStream(path, tokens);
  }
  progress({ phase: 'encode', message: `eval data ${corpus.identity}: ${role} split ${docs.map((d) => d.id).join(', ')}, ${tokens.length} tokens, ${bytes} bytes` });
  if (tokens.length < options.seqLen + 1) {
    throw new UserError(`the eval data's ${role} split has ${tokens.length} tokens, fewer than sequence length + 1 = ${options.seqLen + 1}; add text or lower the eval block's seq_len`);
  }
  return { tokens, bytes, documents: docs.map((d) => d.id), corpusIdentity: corpus.identity };
}
