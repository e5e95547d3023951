// Bits per byte: a tokenizer-independent score, so models with different vocabularies compare.
// Invariant: the byte count is the exact UTF-8 length of the text the scored target tokens stand for
// (per-token byte lengths summed, which equals the decoded span's length even when the span starts or
// ends inside a multi-byte character); document separators count as zero bytes.
import type { Tokenizer } from './bpe.ts';

/** bpb = total_nats / ln 2 / total_bytes. */
export function bitsPerByte(totalNats: number, totalBytes: number): number {
  if (!(totalBytes > 0)) throw new RangeError(`bits per byte needs a positive byte count, got ${totalBytes}`);
  return totalNats / Math.LN2 / totalBytes;
}

/** Bytes covered by scored targets; negative ids (padding in validation batches) are skipped. */
export function targetByteCount(tokenizer: Tokenizer, targets: ArrayLike<number>): number {
  let bytes = 0;
  const lengths = tokenizer.tokenByteLengths();
  for (let i = 0; i < targets.length; i++) {
    const id = targets[i];
    if (id >= 0) bytes += lengths[id];
  }
  return bytes;
}

/** bpb of a span of target tokens whose summed cross-entropy (natural log) is `totalNats`. */
export function spanBitsPerByte(tokenizer: Tokenizer, targets: ArrayLike<number>, totalNats: number): number {
  return bitsPerByte(totalNats, targetByteCount(tokenizer, targets));
}
