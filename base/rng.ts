// Seeded PRNG with serialisable state: xoshiro128** (Blackman & Vigna) over four 32-bit words.
// Used for parameter init, data sampling and tests, so the stream must be identical on every
// machine: all arithmetic is 32-bit integer (Math.imul, >>>), and normal() uses Box–Muller with
// V8's own (platform-independent) log/cos/sqrt. The state, including the cached second
// Box–Muller value, round-trips through JSON, so a restored generator continues the exact stream.
// fork(label) derives a child stream from the generator's *key* (its seed lineage) and the label
// only, not from how many numbers the parent has drawn: rng.fork('init') is the same stream
// whether it is taken before or after any sampling.

export interface RngState {
  algorithm: 'xoshiro128**';
  /** Seed lineage: two 32-bit words from which fork() derives children. */
  key: [number, number];
  /** The four xoshiro128** state words (unsigned 32-bit). */
  s: [number, number, number, number];
  /** The second value of the last Box–Muller pair, not yet returned. */
  spareNormal: number | null;
}

const GOLDEN = 0x9e3779b9;

/** A 32-bit integer finaliser with full avalanche (the "lowbias32" constants). */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** FNV-1a over the UTF-8 bytes, then mixed; labels are short so speed does not matter. */
function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(text)) h = Math.imul(h ^ b, 0x01000193);
  return mix32(h >>> 0);
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function stateFromKey(k0: number, k1: number): [number, number, number, number] {
  const s: [number, number, number, number] = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) {
    s[i] = (mix32((k0 + Math.imul(i + 1, GOLDEN)) >>> 0) ^ mix32((k1 ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0)) >>> 0;
  }
  // xoshiro's only forbidden state; the mix makes it practically unreachable, but be exact.
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1;
  return s;
}

function keyFromSeed(seed: number | string): [number, number] {
  if (typeof seed === 'string') return [hashString(seed), hashString(`\u0000${seed}`)];
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new Error(`rng seed must be a non-negative safe integer or a string, got ${seed}`);
  }
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  return [mix32((lo ^ 0x6a09e667) >>> 0), mix32((hi + GOLDEN) >>> 0)];
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private readonly key: [number, number];
  private spare: number | null = null;

  constructor(seed: number | string) {
    this.key = keyFromSeed(seed);
    [this.s0, this.s1, this.s2, this.s3] = stateFromKey(this.key[0], this.key[1]);
  }

  /** Next unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 24 random bits, so the value is exact in float32 too. */
  nextFloat(): number {
    return (this.nextU32() >>> 8) * 2 ** -24;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextDouble(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 2 ** 26 + lo) * 2 ** -53;
  }

  /** Uniform integer in [0, n), unbiased (rejection of the short top range). */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) throw new Error(`nextInt bound must be an integer in [1, 2^32], got ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Standard normal sample (Box–Muller; the pair's second value is cached in the state). */
  normal(mean = 0, std = 1): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return mean + std * z;
    }
    const u1 = 1 - this.nextDouble(); // (0, 1]: log stays finite
    const u2 = this.nextDouble();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spare = r * Math.sin(theta);
    return mean + std * r * Math.cos(theta);
  }

  /** Fill with N(mean, std²) samples (parameter init). */
  fillNormal(out: Float32Array, mean = 0, std = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal(mean, std);
    return out;
  }

  /** Fill with uniform samples in [lo, hi). */
  fillUniform(out: Float32Array, lo = 0, hi = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * this.nextFloat();
    return out;
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** An independent stream determined by this generator's lineage and `label` alone. */
  fork(label: string): Rng {
    const h = hashString(label);
    const k0 = mix32((this.key[0] ^ h) >>> 0);
    const k1 = mix32((this.key[1] + mix32((h ^ 0x5bd1e995) >>> 0) + 1) >>> 0);
    return Rng.fromKey(k0, k1);
  }

  state(): RngState {
    return {
      algorithm: 'xoshiro128**',
      key: [this.key[0], this.key[1]],
      s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0],
      spareNormal: this.spare,
    };
  }

  static fromState(state: RngState): Rng {
    const u32 = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 2 ** 32;
    if (
      state?.algorithm !== 'xoshiro128**' || !Array.isArray(state.s) || state.s.length !== 4 || !state.s.every(u32) ||
      !Array.isArray(state.key) || state.key.length !== 2 || !state.key.every(u32) ||
      (state.s[0] | state.s[1] | state.s[2] | state.s[3]) === 0 ||
      !(state.spareNormal === null || typeof state.spareNormal === 'number')
    ) {
      throw new Error('invalid RNG state (expected an xoshiro128** state saved by Rng.state())');
    }
    const rng = Rng.fromKey(state.key[0], state.key[1]);
    [rng.s0, rng.s1, rng.s2, rng.s3] = state.s;
    rng.spare = state.spareNormal;
    return rng;
  }

  private static fromKey(k0: number, k1: number): Rng {
    const rng = new Rng(0);
    rng.key[0] = k0;
    rng.key[1] = k1;
    [rng.s0, rng.s1, rng.s2, rng.s3] = stateFromKey(k0, k1);
    return rng;
  }
}
