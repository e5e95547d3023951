// The test machinery itself: a deliberately broken template must be caught by the golden check
// (with a readable diff), by the numeric check against the CPU oracle, and by WGSL compilation
// errors that name the kernel. Broken templates are registered in memory under unique names
// (defineTemplate), so the test never writes into templates/.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compareGolden } from '../../compiler/codegen/golden.ts';
import { pipelineKey } from '../../compiler/codegen/kernel.ts';
import { defineTemplate, renderWgsl } from '../../compiler/codegen/render.ts';
import { elementwiseCase } from '../../compiler/kernels/elementwise.ts';
import { GpuError } from '../../runtime/device.ts';
import { checkKernel } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';

const TEMPLATES = fileURLToPath(new URL('../../templates/', import.meta.url));
const GOLDEN = fileURLToPath(new URL('../kernels/golden/elementwise/', import.meta.url));

function brokenTemplate(tag: string, mutate: (src: string) => string): string {
  const name = `zz_broken_${tag}_${process.pid}`;
  const src = readFileSync(`${TEMPLATES}elementwise.wgsl.hbs`, 'utf8');
  const mutated = mutate(src);
  expect(mutated).not.toBe(src);
  defineTemplate(name, mutated);
  return name;
}

describe('kernel test harness', () => {
  const good = elementwiseCase({ op: 'add', aShape: [7, 129], bShape: [7, 129] });

  it('a broken template fails the golden comparison with a readable diff', () => {
    const template = brokenTemplate('golden', (s) => s.replace('let x = a[ia];', 'let x = a[ia] * 1.001f;'));
    const wgsl = renderWgsl({ ...good.program, template });
    const result = compareGolden(`${GOLDEN}${good.program.label}.wgsl`, wgsl, { bless: false });
    expect(result.status).toBe('differs');
    expect(result.diff).toMatch(/^-\s+let x = a\[ia\];$/m);
    expect(result.diff).toMatch(/^\+\s+let x = a\[ia\] \* 1\.001f;$/m);
  });

  it('a broken template fails the numeric check against the CPU oracle', async () => {
    const template = brokenTemplate('numeric', (s) => s.replace('let x = a[ia];', 'let x = a[ia] * 1.001f;'));
    const exec = await testExecutor();
    const ok = await checkKernel(exec, good, 3);
    expect(ok.ok, ok.report).toBe(true);
    const broken = await checkKernel(exec, { ...good, program: { ...good.program, template } }, 3);
    expect(broken.ok).toBe(false);
    expect(broken.report).toMatch(/MISMATCH vs CPU oracle/);
    expect(broken.mismatches[0].count).toBeGreaterThan(0);
  });

  it('a template that does not compile raises an error naming the kernel', async () => {
    const template = brokenTemplate('syntax', (s) => s.replace('out[i] = {{expr}};', 'out[i] = {{expr}}'));
    const exec = await testExecutor();
    const err = await exec.pipeline({ ...good.program, template }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuError);
    expect((err as GpuError).kind).toBe('compilation');
    expect((err as GpuError).message).toContain(good.program.label);
  });

  it('a missing template parameter is an error, not an empty string in the shader', () => {
    const template = brokenTemplate('param', (s) => s.replace('{{n}}u', '{{elementCount}}u'));
    expect(() => renderWgsl({ ...good.program, template })).toThrow(/elementCount/);
  });

  it('pipeline keys depend on template and params only', () => {
    const other = elementwiseCase({ op: 'add', aShape: [7, 130], bShape: [7, 130] }).program;
    expect(pipelineKey(good.program)).toBe(pipelineKey({ ...good.program, label: 'renamed' }));
    expect(pipelineKey(good.program)).not.toBe(pipelineKey(other));
    expect(pipelineKey(good.program)).not.toBe(pipelineKey({ ...good.program, template: 'other' }));
  });
});
