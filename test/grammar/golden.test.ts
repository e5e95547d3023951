// Diagnostics golden files: each golden/NAME.moe is checked and its formatted diagnostics compared
// byte for byte with golden/NAME.expected. Lines `# set: key=value` at the top of an input become
// --set overrides. Run with UPDATE_GOLDENS=1 to (re)write the expected files after a deliberate change.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostics, Source } from '../../grammar/index.ts';
import { checkSource } from '../../compiler/config/index.ts';

const dir = join(import.meta.dirname, 'golden');
const update = process.env.UPDATE_GOLDENS === '1';
const inputs = readdirSync(dir).filter((f) => f.endsWith('.moe')).sort();

describe('diagnostic goldens', () => {
  it('has golden inputs', () => {
    expect(inputs.length).toBeGreaterThanOrEqual(8);
  });

  for (const input of inputs) {
    it(input, () => {
      const path = join(dir, input);
      const text = readFileSync(path, 'utf8');
      const overrides = [...text.matchAll(/^# set: (\S+)$/gm)].map((m) => m[1]);
      // A relative, forward-slash name keeps the output identical on every machine.
      const name = relative(join(import.meta.dirname, '../..'), path).split('\\').join('/');
      const result = checkSource(new Source(name, text), { overrides });
      const actual = formatDiagnostics(result.diagnostics) || 'ok\n';
      for (const d of result.diagnostics) expect(d.loc, d.message).toBeDefined();
      const expectedPath = path.replace(/\.moe$/, '.expected');
      if (update) {
        writeFileSync(expectedPath, actual);
        return;
      }
      expect(existsSync(expectedPath), `${expectedPath} missing: run with UPDATE_GOLDENS=1`).toBe(true);
      expect(actual).toBe(readFileSync(expectedPath, 'utf8'));
    });
  }
});
