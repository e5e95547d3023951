// Public surface of the data layer: corpus → split → tokenizer (byte-level BPE or bytes) → token streams → batches, plus
// bits per byte. Import from here rather than from the individual files.
export { loadCorpus, decodeTextBytes, normaliseText } from './corpus.ts';
export type { Corpus, CorpusSource, Document, TextEncoding } from './corpus.ts';
export { splitDocuments, documentHashUnit, DEFAULT_VALIDATION_FRACTION } from './split.ts';
export type { DataSplit, SplitOptions } from './split.ts';
export { Tokenizer, trainTokenizer, trainBpeFromWordCounts, countWords, pretokenize, END_OF_TEXT, BPE_ALGORITHM_VERSION } from './bpe.ts';
export type { SerializedTokenizer, TrainTokenizerOptions } from './bpe.ts';
export { defaultCacheDir, writeFileAtomic } from './cache.ts';
export type { TokenArray } from './cache.ts';
export { BatchSampler, validationBatches, validationWindowCount } from './batches.ts';
export type { Batch, SamplerOptions, SamplerState, ValidationBatch, ValidationOptions } from './batches.ts';
export { bitsPerByte, targetByteCount, spanBitsPerByte } from './bits-per-byte.ts';
export { prepareData, prepareHeldOut, encodeDocuments, byteTokenizer } from './prepare.ts';
export type { DataProgressEvent, HeldOutOptions, PrepareDataOptions, PreparedData, TokenizerKind } from './prepare.ts';
