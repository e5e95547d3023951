// Test-side golden assertions: fail with a unified diff, bless only with UPDATE_GOLDENS=1.
import { expect } from 'vitest';
import { compareGolden } from '../../compiler/codegen/golden.ts';
import { renderWgsl } from '../../compiler/codegen/render.ts';
import type { KernelProgram } from '../../compiler/codegen/kernel.ts';

export const BLESS = process.env.UPDATE_GOLDENS === '1';

export function expectGolden(path: string, generated: string): void {
  const r = compareGolden(path, generated, { bless: BLESS });
  if (r.status === 'missing') expect.fail(`golden file ${path} is missing; run with UPDATE_GOLDENS=1 to bless it`);
  if (r.status === 'differs') expect.fail(`generated text differs from ${path} (UPDATE_GOLDENS=1 re-blesses):\n${r.diff}`);
  expect(r.status === 'same' || r.status === 'blessed').toBe(true);
}

/** Golden WGSL for a program, stored as <dir>/<label>.wgsl. */
export function expectGoldenWgsl(dir: string, program: KernelProgram): void {
  expectGolden(`${dir}/${program.label}.wgsl`, renderWgsl(program));
}
