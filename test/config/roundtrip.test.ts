// Round trip of every example: check → print (canonical .moe) → check gives the same normalised
// config; and `sdmoec check --print` on the CLI prints exactly that canonical text.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Source } from '../../grammar/index.ts';
import { checkFile, checkSource, printConfig } from '../../compiler/config/index.ts';

const root = join(import.meta.dirname, '../..');
const examples = [
  ...readdirSync(join(root, 'models'))
    .filter((f) => f.endsWith('.moe'))
    .map((f) => `models/${f}`),
  'test/config/issue-example.moe',
  'test/config/experiment-example.moe',
];

describe('round trip through the canonical printer', () => {
  it('covers the tiny, demo and paper-scale examples', () => {
    expect(examples).toEqual(expect.arrayContaining(['models/demo.moe', 'models/qwen_tiny.moe', 'models/deepseek_tiny.moe']));
    expect(examples.length).toBeGreaterThanOrEqual(6);
  });

  for (const file of examples) {
    it(file, () => {
      const first = checkFile(join(root, file));
      expect(first.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      const printed = printConfig(first.config!);
      const second = checkSource(new Source(`${file} (printed)`, printed));
      expect(second.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([]);
      expect(second.config).toEqual(first.config);
      // Printing is a fixed point: the canonical text of the canonical text is itself.
      expect(printConfig(second.config!)).toBe(printed);
    });
  }

  it('matches `sdmoec check --print` on the CLI for every example', () => {
    const out = execFileSync(process.execPath, [join(root, 'bin/sdmoec.js'), 'check', '--print', ...examples], {
      cwd: root,
      encoding: 'utf8',
    });
    const expected = examples.map((f) => `# ${f}\n` + printConfig(checkFile(join(root, f)).config!)).join('');
    expect(out).toBe(expected);
    // The CLI's output is itself valid .moe per file.
    for (const chunk of out.split(/^# .*$/m).filter((c) => c.trim())) {
      expect(checkSource(new Source('cli-print', chunk)).config).not.toBeNull();
    }
  });
});
