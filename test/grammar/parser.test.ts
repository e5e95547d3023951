// Parser tests, one group per construct of the .moe syntax, plus error recovery (several errors
// from one run) and the guarantee that bad input yields located diagnostics, not exceptions.
import { describe, expect, it } from 'vitest';
import { DiagnosticBag, parseSource, Source, type Entry, type MoeFile, type Value } from '../../grammar/index.ts';

function parse(text: string): { ast: MoeFile; bag: DiagnosticBag } {
  const bag = new DiagnosticBag();
  const ast = parseSource(new Source('t.moe', text), bag);
  return { ast, bag };
}

function entries(text: string): Entry[] {
  const { ast, bag } = parse(`model m { ${text} }`);
  expect(bag.items.map((d) => d.message)).toEqual([]);
  return ast.decls[0].body.items.filter((i): i is Entry => i.kind === 'entry');
}

function valueOf(text: string): Value {
  const [e] = entries(`k ${text}`);
  expect(e.values).toHaveLength(1);
  return e.values[0];
}

describe('declarations', () => {
  it('parses a model with extends, a train and an eval block in source order', () => {
    const { ast, bag } = parse('model a { dim 4 }\nmodel b extends a { }\ntrain b { steps 3 }\neval b { batches 2 }');
    expect(bag.items).toEqual([]);
    expect(ast.decls.map((d) => d.kind)).toEqual(['model', 'model', 'train', 'eval']);
    const b = ast.decls[1];
    expect(b.kind === 'model' && b.base?.name).toBe('a');
    expect(b.kind === 'model' && b.base?.loc.line).toBe(2);
    const t = ast.decls[2];
    expect(t.kind === 'train' && t.model).toBe('b');
  });

  it('parses an experiment block: arms as calls with dotted argument names, sweeps with arms = (…)', () => {
    const { ast, bag } = parse('experiment x {\n  arm a(model.spectral = off, train.optimizer.lr = 4.8e-2)\n  arm b\n  sweep model.spectral.rank(2, 4, arms = (b))\n  seeds 1, 2  steps 400\n}');
    expect(bag.items).toEqual([]);
    const x = ast.decls[0];
    expect(x.kind === 'experiment' && [x.name, x.nameLoc.line, x.nameLoc.column]).toEqual(['x', 1, 12]);
    const items = x.body.items.filter((i): i is Entry => i.kind === 'entry');
    expect(items.map((e) => e.key)).toEqual(['arm', 'arm', 'sweep', 'seeds', 'steps']);
    const arm = items[0].values[0];
    expect(arm.kind === 'call' && arm.args.map((a) => a.name)).toEqual(['model.spectral', 'train.optimizer.lr']);
    const sweep = items[2].values[0];
    expect(sweep.kind === 'call' && sweep.args.map((a) => a.name)).toEqual([null, null, 'arms']);
    expect(items[3].values).toHaveLength(2);
    // `experiment` is reserved: a misspelling at top level gets a suggestion.
    expect(parse('experimnt x { }').bag.items[0].message).toMatch(/did you mean 'experiment'\?/);
  });

  it('locates names at 1-based line and column', () => {
    const { ast } = parse('\n  model   foo { }');
    const m = ast.decls[0];
    expect(m.kind === 'model' && [m.nameLoc.line, m.nameLoc.column, m.nameLoc.length]).toEqual([2, 11, 3]);
  });
});

describe('values', () => {
  it('reads integers, decimals, exponents, signs and digit separators', () => {
    for (const [raw, expected] of [
      ['4096', 4096],
      ['1.5', 1.5],
      ['3e-4', 3e-4],
      ['1E6', 1e6],
      ['-2', -2],
      ['151_936', 151936],
      ['.5', 0.5],
    ] as const) {
      const v = valueOf(raw);
      expect(v.kind === 'number' && [v.value, v.raw]).toEqual([expected, raw]);
    }
  });

  it('reads strings with escapes', () => {
    const v = valueOf('"some/dir \\"x\\""');
    expect(v.kind === 'string' && v.value).toBe('some/dir "x"');
  });

  it('tells booleans (true/false) from switches (on/off)', () => {
    expect(valueOf('true')).toMatchObject({ kind: 'bool', value: true });
    expect(valueOf('false')).toMatchObject({ kind: 'bool', value: false });
    expect(valueOf('on')).toMatchObject({ kind: 'switch', on: true });
    expect(valueOf('off')).toMatchObject({ kind: 'switch', on: false });
  });

  it('reads plain and dotted names', () => {
    expect(valueOf('swiglu')).toMatchObject({ kind: 'name', name: 'swiglu' });
    expect(valueOf('expert.up')).toMatchObject({ kind: 'name', name: 'expert.up' });
  });

  it('reads calls with named, positional and no arguments', () => {
    const v = valueOf('adamw(lr = 3e-4, betas = (0.9, 0.95), 7)');
    expect(v.kind).toBe('call');
    if (v.kind !== 'call') return;
    expect(v.name).toBe('adamw');
    expect(v.args.map((a) => a.name)).toEqual(['lr', 'betas', null]);
    expect(v.args[1].value).toMatchObject({ kind: 'tuple', items: [{ value: 0.9 }, { value: 0.95 }] });
    expect(valueOf('cosine()')).toMatchObject({ kind: 'call', name: 'cosine', args: [] });
  });

  it('reads intervals with and without a unit', () => {
    expect(valueOf('every 16 steps')).toMatchObject({ kind: 'interval', every: { value: 16 }, unit: 'steps' });
    expect(valueOf('every 5')).toMatchObject({ kind: 'interval', every: { value: 5 }, unit: null });
  });

  it('reads comma lists as several values of one entry', () => {
    const [e] = entries('targets expert.gate, expert.up, expert.down');
    expect(e.values.map((v) => v.kind === 'name' && v.name)).toEqual(['expert.gate', 'expert.up', 'expert.down']);
  });
});

describe('entries and blocks', () => {
  it('separates entries on one line by their keys', () => {
    const es = entries('vocab 4096  dim 256  layers 4  activation swiglu  max_seq 256');
    expect(es.map((e) => e.key)).toEqual(['vocab', 'dim', 'layers', 'activation', 'max_seq']);
  });

  it('nests blocks and keeps bare on/off switches', () => {
    const es = entries('moe { experts 8 shared_expert { hidden 4 gated true } }  spectral { off }');
    const moe = es[0].block!;
    expect(moe.items.map((i) => i.kind === 'entry' && i.key)).toEqual(['experts', 'shared_expert']);
    const spectral = es[1].block!;
    expect(spectral.items).toMatchObject([{ kind: 'switch', on: false }]);
  });

  it('accepts eval as a key inside blocks', () => {
    const { ast, bag } = parse('train m { eval every 200 steps }');
    expect(bag.items).toEqual([]);
    expect(ast.decls[0].body.items[0]).toMatchObject({ kind: 'entry', key: 'eval' });
  });

  it('ignores # and // comments', () => {
    expect(entries('# a comment\n dim 4 // another\n layers 2').map((e) => e.key)).toEqual(['dim', 'layers']);
  });
});

describe('errors', () => {
  it('reports several syntax errors in one run, each located', () => {
    const { bag } = parse('model a {\n  dim 4 = 5\n}\nmodel { }\ntrain x { data path("d" }\neval y { k @ }\n');
    const errors = bag.errors;
    expect(errors.length).toBeGreaterThanOrEqual(4);
    expect(errors.every((e) => e.loc && e.loc.line >= 1 && e.loc.column >= 1)).toBe(true);
    expect(new Set(errors.map((e) => e.loc!.line)).size).toBeGreaterThanOrEqual(4);
  });

  it('says what was expected and suggests top-level keywords', () => {
    const { bag } = parse('modle a { }');
    expect(bag.errors[0].message).toContain("expected 'model', 'train', 'eval' or 'experiment'");
    expect(bag.errors[0].message).toContain("did you mean 'model'?");
    const missing = parse('model a { dim 4').bag.errors[0];
    expect(missing.message).toBe("expected '}' but found end of file");
  });

  it('reports unexpected characters with their location', () => {
    const { bag } = parse('model a { dim $4 }');
    expect(bag.errors[0]).toMatchObject({ message: "unexpected character '$'", loc: { line: 1, column: 15 } });
  });
});
