// What a run records about its evaluation and what that allows later, without a device: changing
// the eval block on resume is harmless except switching `split test` (it holds documents out of
// training); a checkpoint can be evaluated on its own data's test split only if the run held it out.
import { describe, expect, it } from 'vitest';
import { Source } from '../../grammar/index.ts';
import { checkSource, type EvalConfig, type ModelConfig, type TrainConfig } from '../../compiler/config/index.ts';
import { diffRunConfig } from '../../runtime/train/run-config.ts';
import { implicitEval, testSplitProblem } from '../../runtime/train/evaluate.ts';

function resolved(evalBody: string | null, overrides: string[] = []): { model: ModelConfig; train: TrainConfig; eval: EvalConfig | null } {
  const text = `model m { vocab 512  dim 32  layers 1  moe { experts 4  top_k 2  expert_hidden 32 } }\ntrain m { steps 10 }\n${evalBody === null ? '' : `eval m { ${evalBody} }`}`;
  const c = checkSource(new Source('t.moe', text), { overrides }).config!;
  return { model: c.models[0], train: c.train!, eval: c.eval };
}

describe('the recorded eval block', () => {
  it('may change on resume, except split test on or off', () => {
    const base = resolved('batches 2');
    const harmless = diffRunConfig(base, resolved('batches 4  metrics loss, router_entropy  seq_len 16'));
    expect(harmless.map((c) => c.path).sort()).toEqual(['eval.batches', 'eval.metrics', 'eval.seqLen']);
    expect(harmless.every((c) => c.harmless)).toBe(true);
    expect(diffRunConfig({ model: base.model, train: base.train }, base).every((c) => c.harmless)).toBe(true); // a record older than eval blocks
    for (const [from, to] of [[base, resolved('batches 2  split test')], [resolved('split test'), resolved(null)]] as const) {
      const changes = diffRunConfig(from, to);
      expect(changes.length).toBeGreaterThan(0);
      expect(changes.every((c) => !c.harmless)).toBe(true);
    }
  });

  it('allows the test split of the run\'s own data only when the run held it out', () => {
    const plain = resolved('batches 2');
    const withTest = resolved('split test');
    expect(testSplitProblem(plain.eval, plain.train, withTest.eval!)).toMatch(/held out no test split/);
    expect(testSplitProblem(null, plain.train, withTest.eval!)).toMatch(/held out no test split/);
    expect(testSplitProblem(withTest.eval, withTest.train, withTest.eval!)).toBeNull();
    expect(testSplitProblem(withTest.eval, withTest.train, plain.eval!)).toBeNull();
    expect(testSplitProblem(plain.eval, plain.train, { ...withTest.eval!, data: { kind: 'path', path: '/elsewhere' } })).toBeNull();
    expect(testSplitProblem(null, plain.train, implicitEval(plain.train, 'all'))).toBeNull();
  });
});
