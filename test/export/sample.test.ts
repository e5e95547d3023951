// `sdmoec sample`: the choice rules (greedy = argmax, top-k / top-p cut the distribution, seeded
// draws), generation on the device (same seed → same tokens; temperature 0 reproduces the argmax
// of the compiler's forward evaluated by the IR interpreter, an independent CPU oracle), and the
// CLI (streamed text, same seed → same text, located errors).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../base/rng.ts';
import type { ModelConfig } from '../../compiler/config/types.ts';
import { interpretGraph } from '../../compiler/ir/interpret.ts';
import { Tokenizer, trainTokenizer } from '../../runtime/data/bpe.ts';
import { LogitsRunner, logitsGraph } from '../../runtime/sample/forward.ts';
import { argmax, candidateDistribution, chooseToken, generate } from '../../runtime/sample/sampler.ts';
import { model, randomParams, ROOT } from './support.ts';

describe('token choice', () => {
  const row = Float32Array.from([0.1, 2.0, -1, 1.9, 0.5]);

  it('temperature 0 is argmax, ties to the lower id', () => {
    expect(chooseToken(row, { temperature: 0, topK: 0, topP: 1 }, new Rng(1))).toBe(1);
    expect(argmax([1, 3, 3, 2])).toBe(1);
  });

  it('top-k and top-p keep the most likely tokens, renormalised', () => {
    const k2 = candidateDistribution(row, { temperature: 1, topK: 2, topP: 1 });
    expect(k2.ids).toEqual([1, 3]);
    const e = [Math.exp(row[1]), Math.exp(row[3])];
    expect(k2.probs[0]).toBeCloseTo(e[0] / (e[0] + e[1]), 12);
    const full = candidateDistribution(row, { temperature: 1, topK: 0, topP: 1 });
    // the smallest prefix whose mass reaches 0.6: p(1) alone is below it, p(1) + p(3) is above
    expect(full.probs[0]).toBeLessThan(0.6);
    expect(full.probs[0] + full.probs[1]).toBeGreaterThan(0.6);
    expect(candidateDistribution(row, { temperature: 1, topK: 0, topP: 0.6 }).ids).toEqual([1, 3]);
  });

  it('draws follow the distribution (chi-square over 20,000 seeded draws)', () => {
    const o = { temperature: 0.7, topK: 0, topP: 1 };
    const { ids, probs } = candidateDistribution(row, o);
    const rng = new Rng(5);
    const counts = new Map<number, number>();
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const id = chooseToken(row, o, rng);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    let chi = 0;
    ids.forEach((id, i) => (chi += ((counts.get(id) ?? 0) - n * probs[i]) ** 2 / (n * probs[i])));
    expect(chi).toBeLessThan(20); // 4 degrees of freedom: p < 0.001 above 18.5
  });
});

describe('generation on the device', () => {
  let tokenizer: Tokenizer;
  let m: ModelConfig;
  let runner: LogitsRunner;
  let params: ReturnType<typeof randomParams>;
  const window = 12;
  beforeAll(async () => {
    tokenizer = trainTokenizer(['the cat sat on the mat; the dog sat on the log. ' + 'a rabbit ran far and fast. '.repeat(3)], { vocabSize: 300 });
    const tiny = model('test/train/fixtures/tiny.moe', 'tiny');
    m = { ...tiny, vocab: tokenizer.vocabSize };
    params = randomParams(m, 11);
    runner = await LogitsRunner.open(m, { batch: 1, seqLen: window }, params, 'tiny');
  });
  afterAll(() => runner.destroy());
  const source = (): { window: number; vocab: number; logits: (t: Int32Array) => Promise<Float32Array> } => ({ window, vocab: m.vocab, logits: (t) => runner.logits(t) });

  it('the same seed gives the same tokens, another seed others', async () => {
    const o = { prompt: 'the cat', tokens: 20, temperature: 1.5, topK: 0, topP: 1, seed: 3, stopAtEnd: false };
    const a = await generate(source(), tokenizer, o);
    const b = await generate(source(), tokenizer, o);
    const c = await generate(source(), tokenizer, { ...o, seed: 4 });
    expect(a.ids).toHaveLength(20);
    expect(b.ids).toEqual(a.ids);
    expect(c.ids).not.toEqual(a.ids);
    expect(a.text).toBe(tokenizer.decode(a.ids));
  });

  it('temperature 0 picks the argmax of the forward evaluated by the IR interpreter, also past the window', async () => {
    const r = await generate(source(), tokenizer, { prompt: 'the dog', tokens: 16, temperature: 0, topK: 0, topP: 1, seed: 0, stopAtEnd: false });
    const context = [...r.promptIds, ...r.ids];
    expect(context.length).toBeGreaterThan(window);
    const g = logitsGraph(m, { batch: 1, seqLen: window });
    const feedsParams = Object.fromEntries([...params].map(([k, v]) => [k, Float64Array.from(v.data)]));
    for (let i = 0; i < r.ids.length; i++) {
      const end = r.promptIds.length + i; // tokens before the i-th generated one
      const start = Math.max(0, end - window);
      const tokens = new Int32Array(window);
      tokens.set(context.slice(start, end));
      const logits = interpretGraph(g, { inputs: { tokens }, params: feedsParams }).logits;
      const n = end - start;
      expect(r.ids[i]).toBe(argmax(logits.subarray((n - 1) * m.vocab, n * m.vocab)));
    }
  });
});

describe('sdmoec sample (CLI)', () => {
  let work: string;
  const sdmoec = (...args: string[]): { code: number; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/sdmoec.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'sdmoec-sample-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('streams text from a trained run; the same seed gives the same text', () => {
    const out = join(work, 'run');
    const run = sdmoec('run', join(ROOT, 'test/train/fixtures/tiny.moe'), '--out', out, '--set', 'train.steps=2', '--set', 'train.eval=off', '--set', 'train.schedule.warmup=1');
    expect(run.code, run.stderr).toBe(0);
    const a = sdmoec('sample', out, '--prompt', 'Once upon', '--tokens', '12', '--seed', '9', '--no-stop');
    expect(a.code, a.stderr).toBe(0);
    expect(a.stderr).toMatch(/12 tokens from .*step-000002.*tokens\/s/);
    expect(a.stdout.length).toBeGreaterThan(1);
    const b = sdmoec('sample', out, '--prompt', 'Once upon', '--tokens', '12', '--seed', '9', '--no-stop');
    expect(b.stdout).toBe(a.stdout);
  });

  it('sdmoec export writes the HF directory of the same run; a bad format or architecture is a user error', () => {
    const dir = join(work, 'hf');
    const r = sdmoec('export', join(work, 'run'), '-o', dir, '--max-shard-size', '100KB');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/as Qwen2-MoE: \d+ tensors/);
    const files = readdirSync(dir);
    expect(files).toEqual(expect.arrayContaining(['config.json', 'generation_config.json', 'tokenizer.json', 'model.safetensors.index.json']));
    expect(files.filter((x) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(x)).length).toBeGreaterThan(1);
    const f = sdmoec('export', join(work, 'run'), '-o', dir, '--format', 'onnx');
    expect(f.code).toBe(1);
    expect(f.stderr).toMatch(/--format onnx: the only export format is hf/);
    const a = sdmoec('export', join(work, 'run'), '-o', dir, '--architecture', 'llama');
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/--architecture llama: unknown; export writes mixtral, qwen2_moe/);
  });

  it('reports bad flags and a missing checkpoint as user errors (exit 1, no stack)', () => {
    const t = sdmoec('sample', join(work, 'run'), '--temperature', '-1');
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/--temperature must be a number >= 0, got -1/);
    const p = sdmoec('sample', join(work, 'run'), '--top-p', '0');
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/--top-p must be in \(0, 1\]/);
    const n = sdmoec('sample', join(work, 'nowhere'));
    expect(n.code).toBe(1);
    expect(n.stderr).toMatch(/nowhere/);
    expect(n.stderr).not.toMatch(/\n\s+at /);
  });
});
