// Fuzzing the front end with mutated example files (the mutations of `npm run fuzz`,
// scripts/fuzz/mutate.ts) and mutated --set arguments. Every outcome must be either a valid config that
// survives the print/check round trip, or diagnostics that are all located inside the text —
// never an exception. Seeded, so a failure names a case that reproduces.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostics, Source, type Diagnostic } from '../../grammar/index.ts';
import { checkSource, printConfig } from '../../compiler/config/index.ts';
import { mutateText as mutate, prng } from '../../scripts/fuzz/mutate.ts';

const root = join(import.meta.dirname, '../..');
const corpus = [
  ...readdirSync(join(root, 'models'))
    .filter((f) => f.endsWith('.moe'))
    .map((f) => join(root, 'models', f)),
  join(import.meta.dirname, 'issue-example.moe'),
  join(import.meta.dirname, 'experiment-example.moe'),
].map((path) => readFileSync(path, 'utf8'));

function assertWellFormed(text: string, diagnostics: Diagnostic[], ok: boolean, label: string): void {
  const lines = text.split('\n').length;
  if (!ok) expect(diagnostics.some((d) => d.severity === 'error'), label).toBe(true);
  for (const d of diagnostics) {
    expect(d.loc, `${label}: ${d.message}`).toBeDefined();
    if (d.loc!.source.name === 'fuzz.moe') {
      expect(d.loc!.line, label).toBeGreaterThanOrEqual(1);
      expect(d.loc!.line, label).toBeLessThanOrEqual(lines + 1);
    }
    expect(d.loc!.column, label).toBeGreaterThanOrEqual(1);
  }
  expect(typeof formatDiagnostics(diagnostics)).toBe('string');
}

describe('fuzz', () => {
  it('mutated example files give a config or located diagnostics, never an exception', () => {
    const random = prng(20261123);
    const cases = 3000;
    let accepted = 0;
    let rejected = 0;
    for (let i = 0; i < cases; i++) {
      let text = corpus[i % corpus.length];
      const rounds = random() < 0.7 ? 1 : 2 + Math.floor(random() * 2);
      for (let r = 0; r < rounds; r++) text = mutate(text, random);
      const label = `case ${i}`;
      let result;
      try {
        result = checkSource(new Source('fuzz.moe', text));
      } catch (err) {
        throw new Error(`${label} threw ${(err as Error).stack}\n--- input ---\n${text}`);
      }
      assertWellFormed(text, result.diagnostics, result.config !== null, label);
      if (result.config) {
        accepted++;
        const again = checkSource(new Source('printed.moe', printConfig(result.config)));
        expect(again.config, label).toEqual(result.config);
      } else rejected++;
    }
    // Both outcomes must occur, or the mutations are not exercising both paths (about 1% of
    // mutations are harmless, e.g. swapping two numbers that are both valid).
    expect(accepted).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(cases / 2);
  });

  it('mutated --set arguments give located diagnostics, never an exception', () => {
    const random = prng(7);
    const text = corpus.find((t) => t.includes('model demo'))!;
    const seeds = ['train.optimizer.lr=4e-4', 'model.moe.top_k=1', 'model.spectral=off', 'train.schedule.warmup=5', 'model.attention.heads=2', 'train.data=path("x")'];
    for (let i = 0; i < 600; i++) {
      let arg = seeds[i % seeds.length];
      const at = Math.floor(random() * (arg.length + 1));
      const op = Math.floor(random() * 3);
      const ch = String.fromCharCode(32 + Math.floor(random() * 95));
      arg = op === 0 ? arg.slice(0, at) + arg.slice(at + 1) : op === 1 ? arg.slice(0, at) + ch + arg.slice(at) : arg.slice(0, at) + ch + arg.slice(at + 1);
      let result;
      try {
        result = checkSource(new Source('fuzz.moe', text), { overrides: [arg] });
      } catch (err) {
        throw new Error(`--set ${arg} threw ${(err as Error).stack}`);
      }
      assertWellFormed(text, result.diagnostics, result.config !== null, `--set ${arg}`);
    }
  });
});
