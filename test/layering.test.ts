// Layers import only downwards: base ← grammar ← compiler ← runtime ← cli. Parses every static and
// dynamic import of the five layers and fails on one that reaches a layer above its own (and on
// base/ importing anything of the project). No exception list: a new upward import fails here.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const LAYERS = ['base', 'grammar', 'compiler', 'runtime', 'cli'] as const;
const rank = (layer: string): number => LAYERS.indexOf(layer as (typeof LAYERS)[number]);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Relative specifiers of `import … from '…'`, `export … from '…'` and `import('…')`. */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  const re = /(?:^|[\s;])(?:import|export)\s[^;'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^import\s*['"]([^'"]+)['"]/gm;
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec.startsWith('.')) out.push(spec);
  }
  return out;
}

function upwardImports(): string[] {
  const bad: string[] = [];
  for (const layer of LAYERS) {
    for (const file of sources(join(ROOT, layer))) {
      for (const spec of importsOf(readFileSync(file, 'utf8'))) {
        const target = relative(ROOT, resolve(dirname(file), spec)).split('/')[0];
        const from = relative(ROOT, file);
        if (rank(target) < 0) bad.push(`${from} imports ${spec} (outside the layers)`);
        else if (rank(target) > rank(layer)) bad.push(`${from} imports ${spec} (${layer} → ${target} runs upwards)`);
      }
    }
  }
  return bad;
}

describe('layering', () => {
  it('finds static, re-export and dynamic imports', () => {
    const text = "import { a } from '../x.ts';\nexport type { B } from './y.ts';\nconst m = await import('../../z.ts');\nimport 'node:fs';\n";
    expect(importsOf(text)).toEqual(['../x.ts', './y.ts', '../../z.ts']);
  });

  it('no module imports a layer above its own (base ← grammar ← compiler ← runtime ← cli)', () => {
    expect(upwardImports()).toEqual([]);
  });
});
