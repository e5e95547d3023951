// Golden files: generated text (WGSL, IR) compared byte for byte with a blessed copy on disk.
// Blessing is always explicit (UPDATE_GOLDENS=1 in the test suite, `--bless` in `sdmoec test`),
// so a refactor that changes generated code fails loudly with a readable unified diff.
import { createTwoFilesPatch } from 'diff';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type GoldenStatus = 'same' | 'blessed' | 'missing' | 'differs';

export interface GoldenResult {
  status: GoldenStatus;
  path: string;
  /** Unified diff (blessed → generated) when status is 'differs'. */
  diff?: string;
}

function writeAtomically(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

export function compareGolden(path: string, generated: string, opts: { bless: boolean }): GoldenResult {
  const blessed = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  if (blessed === generated) return { status: 'same', path };
  if (opts.bless) {
    writeAtomically(path, generated);
    return { status: 'blessed', path };
  }
  if (blessed === undefined) return { status: 'missing', path };
  return { status: 'differs', path, diff: createTwoFilesPatch(`${path} (blessed)`, `${path} (generated)`, blessed, generated, '', '', { context: 3 }) };
}
