// Byte-level BPE: exact round trips, determinism, and the incremental trainer against a naive one.
import { describe, expect, it } from 'vitest';
import { countWords, END_OF_TEXT, pretokenize, Tokenizer, trainBpeFromWordCounts, trainTokenizer } from '../../runtime/data/bpe.ts';
import { loadCorpus } from '../../runtime/data/corpus.ts';

/** Deterministic pseudo-random source so failures reproduce. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function randomUnicode(random: () => number, length: number): string {
  const pools = [
    [0x20, 0x7e], // ASCII
    [0x09, 0x0d], // tabs and line breaks
    [0xa0, 0x24f], // Latin supplements
    [0x370, 0x3ff], // Greek
    [0x4e00, 0x4fff], // CJK
    [0x1f300, 0x1f6ff], // emoji (astral, surrogate pairs)
    [0x0300, 0x036f], // combining marks
  ];
  let out = '';
  for (let i = 0; i < length; i++) {
    const [lo, hi] = pools[Math.floor(random() * pools.length)];
    out += String.fromCodePoint(lo + Math.floor(random() * (hi - lo + 1)));
  }
  return out;
}

const gutenberg = loadCorpus({ kind: 'gutenberg' });
const sampleText = gutenberg.documents
  .filter((d) => d.id !== 'shakespeare-caesar')
  .map((d) => d.text.slice(0, 20_000))
  .join('\n');
const small = trainTokenizer([sampleText], { vocabSize: 256 + 300 + 1 });

/** Textbook BPE: recount every pair of every word for each merge. Slow, obviously right. */
function naiveMerges(wordCounts: Map<string, number>, merges: number, minPairCount: number): number[] {
  const words = [...wordCounts].map(([w, c]) => ({ symbols: Array.from(new TextEncoder().encode(w)), count: c }));
  const learnt: number[] = [];
  for (let m = 0; m < merges; m++) {
    const pairs = new Map<string, number>();
    for (const { symbols, count } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]},${symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + count);
      }
    }
    let best: [number, number] | undefined;
    let bestCount = 0;
    for (const [key, count] of pairs) {
      const [a, b] = key.split(',').map(Number) as [number, number];
      if (count > bestCount || (count === bestCount && best && (a < best[0] || (a === best[0] && b < best[1])))) {
        best = [a, b];
        bestCount = count;
      }
    }
    if (!best || bestCount < minPairCount) break;
    const merged = 256 + m;
    learnt.push(best[0], best[1]);
    for (const word of words) {
      const next: number[] = [];
      for (let i = 0; i < word.symbols.length; ) {
        if (word.symbols[i] === best[0] && word.symbols[i + 1] === best[1]) {
          next.push(merged);
          i += 2;
        } else next.push(word.symbols[i++]);
      }
      word.symbols = next;
    }
  }
  return learnt;
}

describe('pre-tokenisation', () => {
  it('covers every character, so words concatenate back to the text', () => {
    const random = lcg(7);
    for (let i = 0; i < 50; i++) {
      const text = randomUnicode(random, 200);
      expect(pretokenize(text).join('')).toBe(text);
    }
  });
});

describe('BPE training', () => {
  it('learns the same merges as a naive recount-everything trainer', () => {
    const counts = countWords([gutenberg.documents[0].text.slice(0, 30_000), 'aaaa aaa aa ' + randomUnicode(lcg(3), 300)]);
    const fast = trainBpeFromWordCounts(counts, { merges: 150 });
    expect(Array.from(fast)).toEqual(naiveMerges(counts, 150, 2));
    expect(fast.length).toBe(300);
  });

  it('is reproducible and independent of word insertion order', () => {
    const counts = countWords([sampleText.slice(0, 50_000)]);
    const reversed = new Map([...counts].reverse());
    const first = trainBpeFromWordCounts(counts, { merges: 200 });
    const again = trainBpeFromWordCounts(counts, { merges: 200 });
    const fromReversed = trainBpeFromWordCounts(reversed, { merges: 200 });
    expect(Array.from(again)).toEqual(Array.from(first));
    expect(Array.from(fromReversed)).toEqual(Array.from(first));
  });

  it('stops early when no pair repeats, and reports progress up to the end', () => {
    const seen: number[] = [];
    const merges = trainBpeFromWordCounts(new Map([['abcabc', 1], ['xyz', 1]]), {
      merges: 50,
      onProgress: (done) => seen.push(done),
    });
    // "abcabc": ab and bc both occur twice, ab wins the tie; then (ab)c twice; then (abc)(abc) once only.
    expect(Array.from(merges)).toEqual([0x61, 0x62, 256, 0x63]);
    expect(seen[seen.length - 1]).toBe(merges.length / 2);
  });

  it('sizes the vocabulary as bytes + merges + special tokens', () => {
    expect(small.vocabSize).toBe(256 + 300 + 1);
    expect(small.specialId(END_OF_TEXT)).toBe(556);
    expect(small.isSpecial(556)).toBe(true);
    expect(small.isSpecial(555)).toBe(false);
  });
});

describe('encode and decode', () => {
  it('round-trips random Unicode strings exactly', () => {
    const random = lcg(11);
    for (let i = 0; i < 200; i++) {
      const text = randomUnicode(random, 1 + Math.floor(random() * 120));
      const ids = small.encode(text);
      expect(small.decode(ids)).toBe(text);
      for (const id of ids) expect(id).toBeLessThan(small.vocabSize);
    }
  });

  it('round-trips samples of every book, including the Latin-1 one, and compresses them', () => {
    for (const doc of gutenberg.documents) {
      const middle = Math.floor(doc.text.length / 2);
      const sample = doc.text.slice(middle, middle + 10_000);
      const ids = small.encode(sample);
      expect(small.decode(ids), doc.id).toBe(sample);
      expect(ids.length).toBeLessThan(Buffer.byteLength(sample));
    }
  });

  it('encodes special-token text as ordinary text', () => {
    const ids = small.encode(`a${END_OF_TEXT}b`);
    expect(ids).not.toContain(small.specialId(END_OF_TEXT));
    expect(small.decode(ids)).toBe(`a${END_OF_TEXT}b`);
    expect(small.decode([small.specialId(END_OF_TEXT)])).toBe(END_OF_TEXT);
  });

  it('counts bytes per token with separators as zero', () => {
    const text = 'naïve café 🎉';
    const ids = small.encode(text);
    expect(small.byteLength(ids)).toBe(Buffer.byteLength(text));
    const withSeparator = [small.specialId(END_OF_TEXT), ...ids];
    expect(small.byteLength(withSeparator)).toBe(Buffer.byteLength(text));
    expect(small.byteLength(withSeparator, { countSpecialTokens: true })).toBe(Buffer.byteLength(END_OF_TEXT + text));
  });

  it('survives JSON serialisation unchanged', () => {
    const restored = Tokenizer.fromJSON(JSON.parse(JSON.stringify(small.toJSON())));
    expect(Array.from(restored.merges)).toEqual(Array.from(small.merges));
    expect(restored.encode(sampleText.slice(0, 5000))).toEqual(small.encode(sampleText.slice(0, 5000)));
  });
});
