// The eval block and the tokenizer in `check`: defaults (the whole split, the default metrics),
// `batches N | all`, `split validation | test`, and each refusal located where the user wrote it: a train
// block's `eval_batches` beside an eval block, an eval block about another model than the trained
// one, a vocabulary below the tokenizers' 257 ids. `train.model=` carries an eval block about the
// trained model along; `check --print` round-trips a file with an eval block.
import { describe, expect, it } from 'vitest';
import { Source } from '../../grammar/index.ts';
import { checkSource, printConfig, type NormalisedConfig } from '../../compiler/config/index.ts';

const base = 'vocab 1024  dim 64  layers 2  max_seq 64  moe { experts 4  top_k 2  expert_hidden 128 }';
const file = (evalBody: string, trainBody = 'batch 4  seq_len 32'): string => `model a { ${base} }\nmodel b extends a { dim 32 }\ntrain a { ${trainBody} }\neval a { ${evalBody} }\n`;

function check(text: string, overrides: string[] = []): NormalisedConfig {
  const r = checkSource(new Source('t.moe', text), { overrides });
  expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([]);
  return r.config!;
}

/** Errors as `line:col message`, so each test says where the error points. */
function located(text: string, overrides: string[] = []): string[] {
  const r = checkSource(new Source('t.moe', text), { overrides });
  expect(r.config).toBeNull();
  return r.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.loc?.source.name === 't.moe' ? '' : 'set:'}${d.loc?.line}:${d.loc?.column} ${d.message}`);
}

describe('eval block', () => {
  it('defaults to the whole split, the train block\'s shape and the default metrics', () => {
    const c = check(file(''));
    expect(c.eval).toEqual({ model: 'a', data: { kind: 'gutenberg' }, split: 'validation', batches: 'all', batch: 4, seqLen: 32, metrics: ['loss', 'bits_per_byte', 'perplexity', 'expert_overlap'] });
  });

  it('inherits the train block\'s data, a path included', () => {
    expect(check(file('', 'data path("books")')).eval!.data).toEqual({ kind: 'path', path: 'books' });
  });

  it('takes batches N or all, its own shape and data, and any metrics', () => {
    const c = check(file('data path("x")  batches 3  batch 2  seq_len 16  metrics router_entropy, expert_load'));
    expect(c.eval).toMatchObject({ data: { kind: 'path', path: 'x' }, batches: 3, batch: 2, seqLen: 16, metrics: ['router_entropy', 'expert_load'] });
    expect(check(file('batches 3'), ['eval.batches=all']).eval!.batches).toBe('all');
    expect(located(file('batches 0'))).toEqual(["4:18 'batches' must be a positive integer or 'all', found '0'"]);
    expect(located(file('batches some'))).toEqual(["4:18 'batches' must be a positive integer or 'all', found 'some'"]);
    expect(located(file('metrics loss, expert_lod'))[0]).toMatch(/^4:24 .*expert_lod.*did you mean 'expert_load'/);
  });

  it('takes split validation or test, and nothing else, where it is written', () => {
    expect(check(file('split test')).eval!.split).toBe('test');
    expect(check(file(''), ['eval.split=test']).eval!.split).toBe('test');
    expect(located(file('split holdout'))[0]).toMatch(/^4:16 .*holdout/);
  });

  it('refuses the train block\'s eval_batches beside an eval block, in the file or by --set', () => {
    expect(located(file('', 'eval_batches 2'))).toEqual([
      "3:24 'eval_batches' has no effect in a file with an eval block: that block's 'batches' sets the batches of every evaluation, in training too",
    ]);
    expect(located(file(''), ['train.eval_batches=2'])[0]).toMatch(/^set:1:20 'eval_batches' has no effect/);
    // Without an eval block it is the in-training count, as before.
    expect(check(`model a { ${base} }\ntrain a { eval_batches 2 }`).train!.evalBatches).toBe(2);
  });

  it('evaluates the trained model: another one is refused at its name; train.model= carries it along', () => {
    expect(located(`model a { ${base} }\nmodel b extends a { dim 32 }\ntrain a { }\neval b { }\n`)).toEqual([
      '4:6 the eval block evaluates model b, but the train block trains a: evaluations during training and of its checkpoints are of a (name it here, or set eval.model)',
    ]);
    const moved = check(file(''), ['train.model=b']);
    expect([moved.train!.model, moved.eval!.model]).toEqual(['b', 'b']);
    expect(located(file(''), ['train.model=b', 'eval.model=a'])[0]).toMatch(/evaluates model a, but the train block trains b/);
    // An eval-only file may name any model.
    expect(check(`model a { ${base} }\nmodel b extends a { dim 32 }\neval b { batches 2 }`).eval!.model).toBe('b');
  });

  it('round-trips through check --print (eval_batches is left out beside an eval block)', () => {
    const first = check(file('batches 5  metrics loss, router_entropy'));
    const printed = printConfig(first);
    expect(printed).not.toMatch(/eval_batches/);
    expect(printed).toMatch(/batches 5 {2}batch 4 {2}seq_len 32/);
    expect(check(printed)).toEqual(first);
    const all = check(file(''));
    expect(check(printConfig(all))).toEqual(all);
  });
});

describe('tokenizer vocabulary floor', () => {
  it('refuses a model vocab below 257 for either tokenizer, at the tokenizer', () => {
    const small = 'vocab 256  dim 64  layers 2  moe { experts 4  top_k 2  expert_hidden 128 }';
    expect(located(`model a { ${small} }\ntrain a { tokenizer byte }`)).toEqual(['2:21 the byte tokenizer emits 257 token ids (256 bytes + <|endoftext|>), model a has vocab 256']);
    expect(located(`model a { ${small} }\ntrain a { }`)).toEqual(['2:7 the BPE tokenizer needs at least 257 token ids (256 bytes + <|endoftext|>), model a has vocab 256']);
    expect(check(`model a { ${small.replace('256', '257')} }\ntrain a { tokenizer byte }`).train!.tokenizer).toBe('byte');
  });
});
