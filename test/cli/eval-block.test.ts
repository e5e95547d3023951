// The eval block and `tokenizer byte` as a user meets them (spawned CLI, a tiny model on lavapipe):
// - `sdmoec run` with `tokenizer byte` starts at ln(vocab) and learns (loss falls by > 1 nat in 16
//   steps), stops and resumes from config.json alone (the tokenizer kind comes from the record);
// - its eval lines hold exactly the metrics the eval block names, over `batches × batch × seq_len`
//   tokens (the eval block's shape, not the train block's), on the test split it held out;
// - `sdmoec eval` runs the recorded eval block: the same loss as the run's last eval line on the
//   same batches; `--batches 2 / 4 / all` score 64 / 128 / every window of the split;
// - `sdmoec eval CKPT FILE` runs FILE's eval block (another corpus, other metrics; bits per byte is
//   loss / ln 2 since every byte token is one byte: the byte tokenizer scores it) and refuses an
//   eval block about another model.
// Then the walk over docs/language.md: every documented eval key, metric and tokenizer value is
// shown to act here (or, were one refused, refused by `check` with a location).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readMetrics, type EvalMetrics, type TrainMetrics } from '../../runtime/metrics/jsonl.ts';
import { loadCorpus } from '../../runtime/data/corpus.ts';
import { prepareData } from '../../runtime/data/prepare.ts';
import { validationWindowCount } from '../../runtime/data/batches.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function sdmoec(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/sdmoec.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
function json(r: { code: number; stdout: string; stderr: string }): Record<string, unknown> {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const MODEL = `model tb {
  vocab 260  dim 32  layers 1  max_seq 32
  attention { heads 2 }
  moe { experts 4  top_k 2  expert_hidden 32 }
}
model other { vocab 260  dim 16  layers 1  max_seq 32  attention { heads 2 }  moe { experts 4  top_k 2  expert_hidden 32 } }
train tb {
  data path("corpus")  tokenizer byte  seq_len 32  batch 4  steps 16  seed 7
  optimizer adamw(lr = 1e-2)  schedule constant(warmup = 0)  eval every 8 steps  checkpoint every 8 steps  log every 1 steps
}
`;
const EVAL = 'eval tb { split test  batches 2  batch 2  seq_len 16  metrics perplexity, expert_load, router_entropy }\n';
/** Metric fields each metric adds to an eval line / `sdmoec eval --json`. */
const FIELDS: Record<string, string[]> = {
  loss: ['loss'],
  bits_per_byte: ['bits_per_byte'],
  perplexity: ['perplexity'],
  expert_load: ['expert_load', 'expert_load_tokens', 'eval_load_imbalance'],
  router_entropy: ['router_entropy'],
  expert_overlap: ['expert_overlap', 'expert_overlap_on', 'diagnostics'],
};
const ALL_FIELDS = Object.values(FIELDS).flat();
const metricKeys = (o: Record<string, unknown>): string[] => Object.keys(o).filter((k) => ALL_FIELDS.includes(k)).sort();
const fieldsOf = (...metrics: string[]): string[] => metrics.flatMap((m) => FIELDS[m]).sort();

let work: string;
let file: string;
let out: string;
let trainLines: TrainMetrics[];
let evalLines: EvalMetrics[];
let resumed: ReturnType<typeof sdmoec>;
const evals: Record<string, Record<string, unknown>> = {};
let testTokens: number;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sdmoec-evalblock-'));
  file = join(work, 'tb.moe');
  writeFileSync(file, MODEL + EVAL);
  // 18 short books: every split is small enough to score whole in a test.
  const corpus = join(work, 'corpus');
  mkdirSync(corpus);
  for (const doc of loadCorpus({ kind: 'gutenberg' }).documents) writeFileSync(join(corpus, `${doc.id}.txt`), doc.text.slice(30_000, 34_000));
  out = join(work, 'run');
  const first = sdmoec('run', file, '--out', out, '--stop-after', '8');
  expect(first.code, first.stderr).toBe(0);
  // Resumed from the run directory alone: the model, the byte tokenizer and the eval block all
  // come from its config.json.
  resumed = sdmoec('run', '--resume', out);
  expect(resumed.code, resumed.stderr).toBe(0);
  const lines = readMetrics(join(out, 'metrics.jsonl'));
  trainLines = lines.filter((e): e is TrainMetrics => e.type === 'train');
  evalLines = lines.filter((e): e is EvalMetrics => e.type === 'eval');
  for (const b of ['2', '4', 'all']) evals[b] = json(sdmoec('eval', out, '--json', '--batches', b));
  testTokens = prepareData({ source: { kind: 'path', path: corpus }, tokenizer: 'byte', vocabSize: 260, seqLen: 16, testSplit: true, useCache: false }).test!.length;

  // Another corpus (each book longer than the 128 scored bytes) and other metrics, for `eval CKPT FILE`.
  const books = join(work, 'books');
  mkdirSync(books);
  for (const doc of loadCorpus({ kind: 'gutenberg' }).documents.slice(2, 6)) writeFileSync(join(books, `${doc.id}.txt`), doc.text.slice(20_000, 26_000));
  const file2 = join(work, 'other-data.moe');
  writeFileSync(file2, MODEL + 'eval tb { data path("books")  batches 1  batch 4  seq_len 32  metrics loss, bits_per_byte, expert_overlap }\n');
  evals.file2 = json(sdmoec('eval', out, file2, '--json'));
}, 3_600_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('tokenizer byte', () => {
  it('records the tokenizer kind, and learns from the uniform loss ln(vocab)', () => {
    const record = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { train: { tokenizer: string }; eval: { batches: number; split: string } };
    expect(record.train.tokenizer).toBe('byte');
    expect([record.eval.batches, record.eval.split]).toEqual([2, 'test']);
    expect(resumed.stdout).toMatch(/resumed from .*step-000008 at step 8/);
    expect(trainLines.map((l) => l.step)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(Math.abs(trainLines[0].loss - Math.log(260))).toBeLessThan(0.15);
    const tail = trainLines.slice(-4).reduce((a, l) => a + l.loss, 0) / 4;
    expect(tail).toBeLessThan(trainLines[0].loss - 1);
  });
});

describe('the eval block during sdmoec run', () => {
  it('logs exactly the named metrics, over batches × batch × seq_len tokens', () => {
    expect(evalLines.map((e) => e.step)).toEqual([8, 16]);
    for (const e of evalLines) {
      expect(metricKeys(e)).toEqual(fieldsOf('perplexity', 'expert_load', 'router_entropy'));
      expect(e.tokens).toBe(2 * 2 * 16);
      expect(e.perplexity as number).toBeGreaterThan(1);
      const load = e.expert_load as number[][];
      expect(load).toHaveLength(1);
      expect(load[0]).toHaveLength(4);
      expect(load[0].reduce((a, b) => a + b)).toBeCloseTo(1, 9);
      expect(e.expert_load_tokens).toBe(64);
      const [h] = e.router_entropy as number[];
      expect(h).toBeGreaterThan(0);
      expect(h).toBeLessThanOrEqual(Math.log(4) + 1e-9);
    }
  });
});

describe('sdmoec eval', () => {
  it('runs the recorded eval block: the run\'s last eval on the same batches', () => {
    const last = evalLines[evalLines.length - 1];
    expect(evals['2'].step).toBe(16);
    expect(evals['2'].perplexity as number).toBeCloseTo(last.perplexity as number, 3);
    expect(evals['2'].router_entropy as number[]).toEqual((last.router_entropy as number[]).map((x) => expect.closeTo(x, 5)));
    expect(evals['2'].expert_load).toEqual(last.expert_load);
    expect(metricKeys(evals['2'])).toEqual(fieldsOf('perplexity', 'expert_load', 'router_entropy'));
  });

  it('scores as many batches as --batches says, all meaning every window of the (test) split', () => {
    expect(String(evals.all.data)).toMatch(/^test split of .*corpus/);
    expect([evals['2'].batches, evals['2'].tokens]).toEqual([2, 64]);
    expect([evals['4'].batches, evals['4'].tokens]).toEqual([4, 128]);
    const windows = validationWindowCount(testTokens, 16);
    expect(evals.all.tokens).toBe(windows * 16);
    expect(evals.all.batches).toBe(Math.ceil(windows / 2));
    expect(evals.all.perplexity).not.toBe(evals['4'].perplexity);
  });

  it('runs another file\'s eval block: its data, shape and metrics, scored with the byte tokenizer', () => {
    const r = evals.file2;
    expect(String(r.data)).toMatch(/^validation split of .*books/);
    expect(metricKeys(r)).toEqual(fieldsOf('loss', 'bits_per_byte', 'expert_overlap'));
    expect([r.batches, r.tokens]).toEqual([1, 128]);
    // One byte per scored token: bits per byte is the loss in bits.
    expect(r.bits_per_byte as number).toBeCloseTo((r.loss as number) / Math.LN2, 9);
  });

  it('refuses an eval block about another model than the checkpoint\'s', () => {
    const file3 = join(work, 'other-model.moe');
    writeFileSync(file3, MODEL.replace(/train tb \{[^}]*\}/, '') + 'eval other { }\n');
    const r = sdmoec('eval', out, file3);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/evaluates model other, which is not the model of .*step-000016 \(tb/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
  });
});

/** The rows of a markdown table under a heading: first cell's backticked names → the row's text. */
function documentedRows(markdown: string, heading: string): Map<string, string> {
  const start = markdown.indexOf(`\n${heading}\n`);
  expect(start, heading).toBeGreaterThan(0);
  const section = markdown.slice(start + heading.length + 2, markdown.indexOf('\n## ', start + 1));
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    if (cells.length < 4 || !cells[1].startsWith('`')) continue;
    for (const m of cells[1].matchAll(/`([a-z_]+)`/g)) rows.set(m[1], cells.slice(2).join(' | '));
  }
  return rows;
}
const names = (text: string): string[] => [...text.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]);

describe('docs/language.md: every documented eval and tokenizer option acts or is refused', () => {
  const docs = readFileSync(join(ROOT, 'docs/language.md'), 'utf8');
  const evalRows = documentedRows(docs, '## eval');
  const trainRows = documentedRows(docs, '## train');

  /** A probe per documented option: what shows it acting (an option check refuses would probe
   *  `sdmoec check` for its located error; none of these is refused today). */
  const keyProbes: Record<string, () => void> = {
    data: () => expect(evals.file2.data).not.toBe(evals['2'].data),
    split: () => undefined, // its values are probed one by one below
    batches: () => expect([evals['2'].tokens, evals['4'].tokens]).toEqual([64, 128]),
    // The run trains 4 × 32; its evaluations scored 2 × 16 per batch.
    batch: () => expect(evalLines[0].tokens).toBe(2 * 2 * 16),
    seq_len: () => expect(evals.file2.tokens).toBe(1 * 4 * 32),
    metrics: () => expect(metricKeys(evals.file2)).not.toEqual(metricKeys(evals['2'])),
  };
  const valueProbes: Record<string, Record<string, () => void>> = {
    split: {
      validation: () => expect([evals.file2.split, String(evals.file2.data)]).toEqual(['validation', expect.stringMatching(/^validation split/)]),
      // The run held the test split out of training: its train stream is shorter by exactly it.
      test: () => {
        const source = { kind: 'path', path: join(work, 'corpus') } as const;
        const plain = prepareData({ source, tokenizer: 'byte', vocabSize: 260, seqLen: 16, useCache: false });
        const held = prepareData({ source, tokenizer: 'byte', vocabSize: 260, seqLen: 16, testSplit: true, useCache: false });
        expect(held.train.length).toBe(plain.train.length - testTokens);
        expect(evals.all.tokens).toBe(validationWindowCount(testTokens, 16) * 16);
        expect(evals.all.split).toBe('test');
      },
    },
    batches: { all: () => expect(evals.all.batches).toBe(Math.ceil(validationWindowCount(testTokens, 16) / 2)) },
    metrics: Object.fromEntries(
      Object.keys(FIELDS).map((m) => [
        m,
        () => {
          const named = [evalLines[0], evals['2'], evals.file2].filter((o) => FIELDS[m].every((f) => f in o));
          const unnamed = [evalLines[0], evals['2'], evals.file2].filter((o) => FIELDS[m].every((f) => !(f in o)));
          expect(named.length, `${m} appears where named`).toBeGreaterThan(0);
          expect(unnamed.length, `${m} is absent where not named`).toBeGreaterThan(0);
        },
      ]),
    ),
    tokenizer: {
      byte: () => expect(evals.file2.bits_per_byte as number).toBeCloseTo((evals.file2.loss as number) / Math.LN2, 9),
      // BPE tokens stand for more than one byte each, so the same text is fewer tokens.
      bpe: () => {
        const bpe = prepareData({ source: { kind: 'path', path: join(work, 'books') }, tokenizer: 'bpe', vocabSize: 400, seqLen: 16, useCache: false });
        expect(bpe.tokenizerKind).toBe('bpe');
        expect(bpe.validation.length).toBeLessThan(bpe.bytes.validation * 0.9);
      },
    },
  };

  it('has a probe for every documented eval key and nothing undocumented', () => {
    expect([...evalRows.keys()].sort()).toEqual(Object.keys(keyProbes).sort());
  });

  it('shows every eval key acting', () => {
    for (const [key, probe] of Object.entries(keyProbes)) {
      expect(key).toBeTruthy();
      probe();
    }
  });

  it('probes every documented value of split, batches, metrics and tokenizer', () => {
    const documented: Record<string, string[]> = {
      split: names(evalRows.get('split')!.split(' | ')[0]),
      batches: names(evalRows.get('batches')!.split(' | ')[0]),
      metrics: names(evalRows.get('metrics')!.split(' | ')[0]),
      tokenizer: names(trainRows.get('tokenizer')!.split(' | ')[0]),
    };
    expect(documented.metrics).toHaveLength(6);
    for (let [key, values] of Object.entries(documented)) {
      values = [...new Set(values)];
      expect(values.sort(), key).toEqual(Object.keys(valueProbes[key]).sort());
      for (const v of values) valueProbes[key][v]();
    }
  });
});
