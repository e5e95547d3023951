// Next-token choice from one row of logits, and the generation loop of `sdmoec sample`.
// Semantics (the usual ones, as in Hugging Face's generate): temperature 0 is greedy (argmax, ties
// to the lower id); otherwise logits / temperature, then top-k (keep the k largest), then top-p
// (keep the smallest prefix of the descending distribution whose mass reaches p, at least one
// token), renormalise and draw one uniform from the seeded RNG. One draw per token from one RNG
// stream, so a seed reproduces the text exactly on the same device.
// The context is the last seq_len tokens (the model's max_seq): every new token recomputes the
// whole window (no KV cache; docs/benchmarks.md "Sampling" measures why at these sizes). Positions
// restart at 0 when the window slides, as in training, where every window starts at position 0.
import { UserError } from '../../base/errors.ts';
import { Rng } from '../../base/rng.ts';
import type { Tokenizer } from '../data/bpe.ts';
import { END_OF_TEXT } from '../data/bpe.ts';

export interface SamplingOptions {
  /** 0: greedy. */
  readonly temperature: number;
  /** 0: off. */
  readonly topK: number;
  /** 1: off. */
  readonly topP: number;
}

export function validateSampling(o: SamplingOptions): void {
  if (!(Number.isFinite(o.temperature) && o.temperature >= 0)) throw new UserError(`--temperature must be a number >= 0, got ${o.temperature}`);
  if (!(Number.isInteger(o.topK) && o.topK >= 0)) throw new UserError(`--top-k must be a non-negative integer (0 = off), got ${o.topK}`);
  if (!(o.topP > 0 && o.topP <= 1)) throw new UserError(`--top-p must be in (0, 1], got ${o.topP}`);
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** The probabilities the draw uses (after temperature, top-k and top-p), as (id, p) sorted by p desc. */
export function candidateDistribution(row: ArrayLike<number>, o: SamplingOptions): { ids: number[]; probs: number[] } {
  const order = Array.from({ length: row.length }, (_, i) => i).sort((a, b) => row[b] - row[a] || a - b);
  const kept = o.topK > 0 ? order.slice(0, o.topK) : order;
  const max = row[kept[0]];
  const weights = kept.map((i) => Math.exp((row[i] - max) / o.temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let probs = weights.map((w) => w / total);
  let ids = kept;
  if (o.topP < 1) {
    let mass = 0;
    let n = 0;
    while (n < probs.length && (n === 0 || mass < o.topP)) mass += probs[n++];
    ids = ids.slice(0, n);
    probs = probs.slice(0, n).map((p) => p / mass);
  }
  return { ids, probs };
}

export function chooseToken(row: ArrayLike<number>, o: SamplingOptions, rng: Rng): number {
  if (o.temperature === 0) return argmax(row);
  const { ids, probs } = candidateDistribution(row, o);
  const u = rng.nextDouble();
  let acc = 0;
  for (let i = 0; i < ids.length; i++) {
    acc += probs[i];
    if (u < acc) return ids[i];
  }
  return ids[ids.length - 1];
}

/** What generation needs from a forward: logits [window, vocab] of a window of tokens. */
export interface LogitsSource {
  /** Tokens per call (the model's context window). */
  readonly window: number;
  readonly vocab: number;
  logits(tokens: Int32Array): Promise<Float32Array>;
}

export interface GenerateOptions extends SamplingOptions {
  readonly prompt: string;
  readonly tokens: number;
  readonly seed: number;
  /** Stop at `<|endoftext|>` (default true). */
  readonly stopAtEnd?: boolean;
}

export interface GenerateResult {
  readonly promptIds: number[];
  readonly ids: number[];
  readonly text: string;
  readonly stoppedAtEnd: boolean;
  /** Seconds spent in forwards, and how many there were. */
  readonly seconds: number;
  readonly forwards: number;
}

/**
 * Generates up to `o.tokens` tokens after the prompt, calling `emit` with each token's text as soon
 * as its bytes complete a UTF-8 sequence. The prompt is a document start: `<|endoftext|>` + prompt,
 * as the training streams begin every document.
 */
export async function generate(source: LogitsSource, tokenizer: Tokenizer, o: GenerateOptions, emit: (text: string) => void = () => {}): Promise<GenerateResult> {
  validateSampling(o);
  if (!(Number.isInteger(o.tokens) && o.tokens >= 0)) throw new UserError(`--tokens must be a non-negative integer, got ${o.tokens}`);
  const end = tokenizer.specialTokens.includes(END_OF_TEXT) ? tokenizer.specialId(END_OF_TEXT) : -1;
  const promptIds = [...(end >= 0 ? [end] : []), ...tokenizer.encode(o.prompt)];
  if (promptIds.length === 0) throw new UserError('the prompt is empty and the tokenizer has no <|endoftext|> to start from; give --prompt');
  const rng = new Rng(o.seed).fork('sample');
  const decoder = new TextDecoder('utf-8');
  const context = [...promptIds];
  const ids: number[] = [];
  const window = new Int32Array(source.window);
  let text = '';
  let seconds = 0;
  let stoppedAtEnd = false;
  for (let i = 0; i < o.tokens; i++) {
    const start = Math.max(0, context.length - source.window);
    const n = context.length - start;
    window.fill(0);
    for (let j = 0; j < n; j++) window[j] = context[start + j];
    const t0 = performance.now();
    const logits = await source.logits(window);
    seconds += (performance.now() - t0) / 1000;
    const id = chooseToken(logits.subarray((n - 1) * source.vocab, n * source.vocab), o, rng);
    if (id === end && (o.stopAtEnd ?? true)) {
      stoppedAtEnd = true;
      break;
    }
    ids.push(id);
    context.push(id);
    const piece = decoder.decode(tokenizer.decodeBytes([id]), { stream: true });
    text += piece;
    if (piece) emit(piece);
  }
  const rest = decoder.decode();
  text += rest;
  if (rest) emit(rest);
  return { promptIds, ids, text, stoppedAtEnd, seconds, forwards: ids.length + (stoppedAtEnd ? 1 : 0) };
}
