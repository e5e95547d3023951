// Batches for training and evaluation from a flat token stream.
// Training: each epoch cuts the stream into non-overlapping windows of seqLen+1 tokens (shifted by a
// per-epoch offset so window boundaries move between epochs) and visits them in a per-epoch shuffled
// order; every token is seen once per epoch. Everything derives from (seed, epoch), so the sampler's
// state is just (epoch, cursor) and restoring it reproduces exactly the batches a continued run sees.
// Validation: fixed windows from the start of the stream, in order, never shuffled.

import type { TokenArray } from './cache.ts';

export interface Batch {
  /** Row-major [batch, seqLen] token ids. */
  inputs: Int32Array;
  /** inputs shifted by one token: targets[r, t] is the token after inputs[r, t]. */
  targets: Int32Array;
}

export interface SamplerOptions {
  seqLen: number;
  batch: number;
  seed: number;
}

export interface SamplerState {
  version: 1;
  seed: number;
  seqLen: number;
  batch: number;
  /** Length of the stream the state belongs to; restoring onto other data is refused. */
  tokenCount: number;
  epoch: number;
  /** Windows of the current epoch already handed out. */
  cursor: number;
}

/** Murmur3's finaliser: a well-mixed 32-bit value from two integers. */
function mix32(a: number, b: number): number {
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32: small, fast, and identical on every platform, which is all a data order needs. */
function makeRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class BatchSampler {
  private readonly tokens: TokenArray;
  private readonly options: SamplerOptions;
  private epoch = 0;
  private cursor = 0;
  private offset = 0;
  private order: Uint32Array = new Uint32Array(0);

  constructor(tokens: TokenArray, options: SamplerOptions) {
    const { seqLen, batch, seed } = options;
    if (!Number.isInteger(seqLen) || seqLen < 1) throw new RangeError(`seqLen must be a positive integer, got ${seqLen}`);
    if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be a positive integer, got ${batch}`);
    if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
    if (tokens.length < seqLen + 1) {
      throw new RangeError(`token stream has ${tokens.length} tokens, fewer than seqLen + 1 = ${seqLen + 1}`);
    }
    this.tokens = tokens;
    this.options = { seqLen, batch, seed };
    this.startEpoch(0);
  }

  private startEpoch(epoch: number): void {
    const { seqLen, seed } = this.options;
    const random = makeRandom(mix32(seed >>> 0, epoch));
    const usable = this.tokens.length - 1;
    const maxOffset = Math.min(seqLen - 1, usable - seqLen);
    this.offset = Math.floor(random() * (maxOffset + 1));
    const windows = Math.floor((usable - this.offset) / seqLen);
    const order = new Uint32Array(windows);
    for (let i = 0; i < windows; i++) order[i] = i;
    for (let i = windows - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    this.epoch = epoch;
    this.cursor = 0;
    this.order = order;
  }

  /** Windows per epoch (the last epoch-dependent offset can shave off one). */
  get windowsPerEpoch(): number {
    return this.order.length;
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  next(): Batch {
    const { seqLen, batch } = this.options;
    const inputs = new Int32Array(batch * seqLen);
    const targets = new Int32Array(batch * seqLen);
    for (let row = 0; row < batch; row++) {
      if (this.cursor >= this.order.length) this.startEpoch(this.epoch + 1);
      const start = this.offset + this.order[this.cursor++] * seqLen;
      const base = row * seqLen;
      for (let t = 0; t < seqLen; t++) {
        inputs[base + t] = this.tokens[start + t];
        targets[base + t] = this.tokens[start + t + 1];
      }
    }
    return { inputs, targets };
  }

  state(): SamplerState {
    return {
      version: 1,
      ...this.options,
      tokenCount: this.tokens.length,
      epoch: this.epoch,
      cursor: this.cursor,
    };
  }

  restore(state: SamplerState): void {
    const mismatch = (['seed', 'seqLen', 'batch', 'tokenCount'] as const).filter(
      (field) => state[field] !== (field === 'tokenCount' ? this.tokens.length : this.options[field]),
    );
    if (state.version !== 1 || mismatch.length > 0) {
      throw new RangeError(
        `sampler state does not match this data (${mismatch.join(', ') || 'version'} differ); ` +
          'resume with the same data, vocab size, seqLen, batch and seed',
      );
    }
    this.startEpoch(state.epoch);
    if (!(state.cursor >= 0 && state.cursor <= this.order.length)) {
      throw new RangeError(`sampler cursor ${state.cursor} is outside epoch of ${this.order.length} windows`);
    }
    this.cursor = state.cursor;
  }
}

export interface ValidationBatch extends Batch {
  /** Rows holding real windows; rows after it are padding (inputs 0, targets -1) and must be ignored. */
  rows: number;
}

export interface ValidationOptions {
  seqLen: number;
  batch: number;
  /** Stop after this many batches (default: the whole stream). */
  maxBatches?: number;
}

export function validationWindowCount(tokenCount: number, seqLen: number): number {
  return Math.max(0, Math.floor((tokenCount - 1) / seqLen));
}

/** Fixed, non-overlapping windows in stream order: the same tokens are scored on every evaluation. */
export function* validationBatches(tokens: TokenArray, options: ValidationOptions): Generator<ValidationBatch> {
  const { seqLen, batch } = options;
  const windows = validationWindowCount(tokens.length, seqLen);
  if (windows === 0) {
    throw new RangeError(`validation stream has ${tokens.length} tokens, fewer than seqLen + 1 = ${seqLen + 1}`);
  }
  const totalBatches = Math.min(Math.ceil(windows / batch), options.maxBatches ?? Infinity);
  for (let b = 0; b < totalBatches; b++) {
    const inputs = new Int32Array(batch * seqLen);
    const targets = new Int32Array(batch * seqLen).fill(-1);
    const rows = Math.min(batch, windows - b * batch);
    for (let row = 0; row < rows; row++) {
      const start = (b * batch + row) * seqLen;
      inputs.set(tokens.subarray(start, start + seqLen), row * seqLen);
      targets.set(tokens.subarray(start + 1, start + seqLen + 1), row * seqLen);
    }
    yield { inputs, targets, rows };
  }
}
