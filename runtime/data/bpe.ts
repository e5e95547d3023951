// Byte-level BPE: training (incremental pair counts over unique pre-tokenised words) and a tokenizer
// that encodes with a per-word cache and decodes back to the exact string.
// Token ids: 0..255 are raw bytes, 256.. are merges in the order they were learnt, special tokens
// come last. Training is deterministic and seed-free: ties in pair frequency go to the smallest
// (left id, right id). decode(encode(s)) === s for every well-formed string: the pre-tokeniser
// covers every character and merges only ever concatenate bytes. (Lone surrogates are not
// well-formed Unicode; UTF-8 turns them into U+FFFD.)
// Hand-written because no npm package fits: the only maintained BPE trainer is HF `tokenizers` (native
// bindings), while the pure-JS packages (gpt-tokenizer, js-tiktoken) only encode with fixed vocabularies.

/** Bump whenever training or pre-tokenisation changes: cached tokenizers are keyed by it. */
export const BPE_ALGORITHM_VERSION = 1;

/** GPT-2's split: contractions, letter runs, digit runs, punctuation runs, whitespace. */
export const PRETOKENIZE_PATTERN = String.raw`'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;

export const END_OF_TEXT = '<|endoftext|>';

const BYTE_TOKENS = 256;
/** Ids must stay below this so that packed pair keys (left * base + right) stay exact doubles. */
const ID_LIMIT = 1 << 21;

/**
 * Smallest power-of-two base above every id: for vocabularies up to 32768 the packed pair keys stay
 * in V8's small-integer range, so hot Maps keyed by pairs hold unboxed keys. Key order is (left, right).
 */
function pairKeyBase(idCount: number): number {
  let base = 512;
  while (base < idCount) base *= 2;
  return base;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

export function pretokenize(text: string): string[] {
  return text.match(new RegExp(PRETOKENIZE_PATTERN, 'gu')) ?? [];
}

/** Count each distinct pre-token over many texts. */
export function countWords(texts: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  const pattern = new RegExp(PRETOKENIZE_PATTERN, 'gu');
  for (const text of texts) {
    pattern.lastIndex = 0;
    for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
      const word = m[0];
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  return counts;
}

/** Max-heap of (count, pair key) with lazy deletion; ties prefer the smaller key. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.counts.length;
  }

  private above(i: number, j: number): boolean {
    const ci = this.counts[i];
    const cj = this.counts[j];
    return ci > cj || (ci === cj && this.keys[i] < this.keys[j]);
  }

  private swap(i: number, j: number): void {
    const c = this.counts[i];
    this.counts[i] = this.counts[j];
    this.counts[j] = c;
    const k = this.keys[i];
    this.keys[i] = this.keys[j];
    this.keys[j] = k;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.above(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { count: number; key: number } {
    const top = { count: this.counts[0], key: this.keys[0] };
    const lastCount = this.counts.pop()!;
    const lastKey = this.keys.pop()!;
    if (this.counts.length > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      const n = this.counts.length;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < n && this.above(l, best)) best = l;
        if (r < n && this.above(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

export interface TrainBpeOptions {
  /** Number of merges to learn (vocab = 256 + merges + specials). Training stops early if pairs run out. */
  merges: number;
  /** Pairs seen fewer times than this are never merged; default 2 (a single occurrence is noise). */
  minPairCount?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Learn merges from word counts. Each merge only revisits the words that contain the merged pair,
 * and a word's pair counts are updated by the difference between its old and new symbol sequences.
 * Returns the merges as a flat array [left0, right0, left1, right1, ...].
 */
export function trainBpeFromWordCounts(wordCounts: Map<string, number>, options: TrainBpeOptions): Int32Array {
  const targetMerges = options.merges;
  const minPairCount = options.minPairCount ?? 2;
  if (BYTE_TOKENS + targetMerges >= ID_LIMIT) throw new RangeError(`too many merges: ${targetMerges}`);
  const keyBase = pairKeyBase(BYTE_TOKENS + targetMerges);
  const keyOf = (a: number, b: number): number => a * keyBase + b;

  // Sorting the words makes pair-list order, and with it the whole run, independent of Map order.
  const sortedWords = [...wordCounts.keys()].sort();
  const encodedWords = sortedWords.map((word) => utf8.encode(word));
  const wordCount = sortedWords.length;
  // All words live in one flat array (word w at starts[w], lengths[w] symbols), merged in place, so
  // training allocates almost nothing per merge.
  const starts = new Int32Array(wordCount);
  const lengths = new Int32Array(wordCount);
  const counts = new Float64Array(wordCount);
  let totalSymbols = 0;
  for (let w = 0; w < wordCount; w++) {
    starts[w] = totalSymbols;
    lengths[w] = encodedWords[w].length;
    counts[w] = wordCounts.get(sortedWords[w])!;
    totalSymbols += encodedWords[w].length;
  }
  const symbols = new Int32Array(totalSymbols);
  encodedWords.forEach((bytes, w) => symbols.set(bytes, starts[w]));

  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  const listWord = (key: number, w: number): void => {
    const list = pairWords.get(key);
    if (list === undefined) pairWords.set(key, [w]);
    else if (list[list.length - 1] !== w) list.push(w);
  };
  for (let w = 0; w < wordCount; w++) {
    const end = starts[w] + lengths[w];
    for (let i = starts[w]; i + 1 < end; i++) {
      const key = keyOf(symbols[i], symbols[i + 1]);
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + counts[w]);
      listWord(key, w);
    }
  }

  const heap = new PairHeap();
  for (const [key, count] of pairCounts) heap.push(count, key);

  const merges: number[] = [];
  const visitedStamp = new Int32Array(wordCount);
  const delta = new Map<number, number>();
  const reportEvery = Math.max(1, Math.floor(targetMerges / 20));

  while (merges.length / 2 < targetMerges && heap.size > 0) {
    const { count, key } = heap.pop();
    if (pairCounts.get(key) !== count) continue; // stale heap entry
    if (count < minPairCount) break;
    const left = Math.floor(key / keyBase);
    const right = key % keyBase;
    const merged = BYTE_TOKENS + merges.length / 2;
    merges.push(left, right);
    const stamp = merges.length / 2;

    const candidates = pairWords.get(key) ?? [];
    pairWords.delete(key);
    delta.clear();
    for (const w of candidates) {
      if (visitedStamp[w] === stamp) continue;
      visitedStamp[w] = stamp;
      const begin = starts[w];
      const end = begin + lengths[w];
      const weight = counts[w];
      let found = false;
      for (let i = begin; i + 1 < end; i++) {
        if (symbols[i] === left && symbols[i + 1] === right) {
          found = true;
          break;
        }
      }
      if (!found) continue; // pair lists may still name words that lost the pair to an earlier merge
      // Net effect on pair counts = pairs of the new word minus pairs of the old one.
      for (let i = begin; i + 1 < end; i++) {
        const k = keyOf(symbols[i], symbols[i + 1]);
        delta.set(k, (delta.get(k) ?? 0) - weight);
      }
      let write = begin;
      for (let read = begin; read < end; ) {
        if (read + 1 < end && symbols[read] === left && symbols[read + 1] === right) {
          symbols[write++] = merged;
          read += 2;
        } else {
          symbols[write++] = symbols[read++];
        }
      }
      lengths[w] = write - begin;
      for (let i = begin; i + 1 < write; i++) {
        const a = symbols[i];
        const b = symbols[i + 1];
        const k = keyOf(a, b);
        delta.set(k, (delta.get(k) ?? 0) + weight);
        // Pairs without the new token were already in this word, so the word is already listed.
        if (a === merged || b === merged) listWord(k, w);
      }
    }
    for (const [k, d] of delta) {
      if (d === 0) continue;
      const updated = (pairCounts.get(k) ?? 0) + d;
      if (updated <= 0) {
        pairCounts.delete(k);
        pairWords.delete(k);
      } else {
        pairCounts.set(k, updated);
        heap.push(updated, k);
      }
    }
    pairCounts.delete(key);

    if (options.onProgress && (stamp % reportEvery === 0 || stamp === targetMerges)) {
      options.onProgress(stamp, targetMerges);
    }
  }
  if (options.onProgress && merges.length / 2 < targetMerges) options.onProgress(merges.length / 2, targetMerges);
  return Int32Array.from(merges);
}

export interface TrainTokenizerOptions {
  /** Total vocabulary: 256 bytes + merges + special tokens. */
  vocabSize: number;
  specialTokens?: string[];
  minPairCount?: number;
  onProgress?: (done: number, total: number) => void;
}

export function trainTokenizer(texts: Iterable<string>, options: TrainTokenizerOptions): Tokenizer {
  const specialTokens = options.specialTokens ?? [END_OF_TEXT];
  const merges = options.vocabSize - BYTE_TOKENS - specialTokens.length;
  if (merges < 0) {
    throw new RangeError(`vocabSize ${options.vocabSize} is below 256 bytes + ${specialTokens.length} special tokens`);
  }
  const learnt = trainBpeFromWordCounts(countWords(texts), {
    merges,
    minPairCount: options.minPairCount,
    onProgress: options.onProgress,
  });
  return new Tokenizer(learnt, specialTokens);
}

export interface SerializedTokenizer {
  format: 'sdmoec-byte-bpe';
  algorithmVersion: number;
  pattern: string;
  merges: number[];
  specialTokens: string[];
}

/** Encoder/decoder for a learnt merge list. Immutable apart from its private per-word cache. */
export class Tokenizer {
  readonly merges: Int32Array;
  readonly specialTokens: readonly string[];
  /** 256 + merges + specials; every id this tokenizer emits is below it. */
  readonly vocabSize: number;
  /** UTF-8 bytes of each token; special tokens map to their literal text. */
  private readonly tokenBytes: Uint8Array[];
  private readonly mergeRank = new Map<number, number>();
  private readonly keyBase: number;
  private readonly wordCache = new Map<string, number[]>();
  private readonly specialIds = new Map<string, number>();
  /** Shared with callers of tokenByteLengths(); never mutated after it is built. */
  private byteLengthTable: Int32Array | undefined;
  private static readonly WORD_CACHE_LIMIT = 1 << 20;

  constructor(merges: Int32Array, specialTokens: readonly string[] = [END_OF_TEXT]) {
    if (merges.length % 2 !== 0) throw new RangeError('merges must hold (left, right) pairs');
    this.merges = merges;
    this.specialTokens = [...specialTokens];
    const mergeCount = merges.length / 2;
    this.vocabSize = BYTE_TOKENS + mergeCount + specialTokens.length;
    if (this.vocabSize > ID_LIMIT) throw new RangeError(`vocabulary of ${this.vocabSize} exceeds ${ID_LIMIT}`);
    this.keyBase = pairKeyBase(this.vocabSize);
    this.tokenBytes = new Array(this.vocabSize);
    for (let b = 0; b < BYTE_TOKENS; b++) this.tokenBytes[b] = Uint8Array.of(b);
    for (let r = 0; r < mergeCount; r++) {
      const left = merges[2 * r];
      const right = merges[2 * r + 1];
      const id = BYTE_TOKENS + r;
      if (left >= id || right >= id) throw new RangeError(`merge ${r} refers to a later token`);
      const bytes = new Uint8Array(this.tokenBytes[left].length + this.tokenBytes[right].length);
      bytes.set(this.tokenBytes[left], 0);
      bytes.set(this.tokenBytes[right], this.tokenBytes[left].length);
      this.tokenBytes[id] = bytes;
      this.mergeRank.set(left * this.keyBase + right, r);
    }
    specialTokens.forEach((token, i) => {
      const id = BYTE_TOKENS + mergeCount + i;
      this.tokenBytes[id] = utf8.encode(token);
      this.specialIds.set(token, id);
    });
  }

  /** Id of a special token such as `<|endoftext|>`; throws if this tokenizer has no such token. */
  specialId(token: string): number {
    const id = this.specialIds.get(token);
    if (id === undefined) throw new RangeError(`tokenizer has no special token ${token}`);
    return id;
  }

  isSpecial(id: number): boolean {
    return id >= BYTE_TOKENS + this.merges.length / 2;
  }

  private encodeWord(word: string): number[] {
    const cached = this.wordCache.get(word);
    if (cached !== undefined) return cached;
    const symbols = Array.from(utf8.encode(word));
    for (;;) {
      let bestRank = Infinity;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = this.mergeRank.get(symbols[i] * this.keyBase + symbols[i + 1]);
        if (rank !== undefined && rank < bestRank) bestRank = rank;
      }
      if (bestRank === Infinity) break;
      const left = this.merges[2 * bestRank];
      const right = this.merges[2 * bestRank + 1];
      const merged = BYTE_TOKENS + bestRank;
      let write = 0;
      for (let read = 0; read < symbols.length; ) {
        if (read + 1 < symbols.length && symbols[read] === left && symbols[read + 1] === right) {
          symbols[write++] = merged;
          read += 2;
        } else {
          symbols[write++] = symbols[read++];
        }
      }
      symbols.length = write;
    }
    // The cache only bounds memory on huge inputs; clearing it never changes results.
    if (this.wordCache.size >= Tokenizer.WORD_CACHE_LIMIT) this.wordCache.clear();
    this.wordCache.set(word, symbols);
    return symbols;
  }

  /** Encode text as ordinary text: special-token strings inside it are not treated as specials. */
  encode(text: string): number[] {
    const out: number[] = [];
    this.encodeInto(text, (id) => out.push(id));
    return out;
  }

  /** Stream ids to a sink, so large corpora need no intermediate array per document. */
  encodeInto(text: string, emit: (id: number) => void): void {
    if (this.merges.length === 0) {
      // No merges (the byte tokenizer): the ids are the UTF-8 bytes, and pre-tokenising (which
      // covers every character) would only cut the same bytes into words.
      const bytes = utf8.encode(text);
      for (let i = 0; i < bytes.length; i++) emit(bytes[i]);
      return;
    }
    const pattern = new RegExp(PRETOKENIZE_PATTERN, 'gu');
    for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
      const ids = this.encodeWord(m[0]);
      for (let i = 0; i < ids.length; i++) emit(ids[i]);
    }
  }

  /** Raw bytes of a token sequence (special tokens contribute their literal text). */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    let total = 0;
    for (let i = 0; i < ids.length; i++) total += this.bytesOf(ids[i]).length;
    const out = new Uint8Array(total);
    let offset = 0;
    for (let i = 0; i < ids.length; i++) {
      const bytes = this.bytesOf(ids[i]);
      out.set(bytes, offset);
      offset += bytes.length;
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    return utf8Decoder.decode(this.decodeBytes(ids));
  }

  /**
   * UTF-8 byte length of the text a token span stands for. Special tokens count as zero bytes by
   * default: they separate documents and are not part of the corpus text that bits per byte measures.
   */
  byteLength(ids: ArrayLike<number>, options: { countSpecialTokens?: boolean } = {}): number {
    const firstSpecial = BYTE_TOKENS + this.merges.length / 2;
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id >= firstSpecial && !options.countSpecialTokens) continue;
      total += this.bytesOf(id).length;
    }
    return total;
  }

  /** Byte length of every token id (specials as 0), e.g. to upload for on-device bits-per-byte sums. */
  tokenByteLengths(): Int32Array {
    if (this.byteLengthTable === undefined) {
      const lengths = new Int32Array(this.vocabSize);
      const firstSpecial = BYTE_TOKENS + this.merges.length / 2;
      for (let id = 0; id < firstSpecial; id++) lengths[id] = this.tokenBytes[id].length;
      this.byteLengthTable = lengths;
    }
    return this.byteLengthTable;
  }

  private bytesOf(id: number): Uint8Array {
    const bytes = this.tokenBytes[id];
    if (bytes === undefined) throw new RangeError(`token id ${id} is outside the vocabulary (${this.vocabSize})`);
    return bytes;
  }

  toJSON(): SerializedTokenizer {
    return {
      format: 'sdmoec-byte-bpe',
      algorithmVersion: BPE_ALGORITHM_VERSION,
      pattern: PRETOKENIZE_PATTERN,
      merges: Array.from(this.merges),
      specialTokens: [...this.specialTokens],
    };
  }

  static fromJSON(data: SerializedTokenizer): Tokenizer {
    if (data.format !== 'sdmoec-byte-bpe') throw new RangeError(`not an sdmoec tokenizer: ${String(data.format)}`);
    if (data.algorithmVersion !== BPE_ALGORITHM_VERSION || data.pattern !== PRETOKENIZE_PATTERN) {
      throw new RangeError('tokenizer was trained by a different BPE version');
    }
    return new Tokenizer(Int32Array.from(data.merges), data.specialTokens);
  }
}
