// Runs a kernel and its CPU oracle on the same seeded random inputs and compares every output
// with a stated tolerance: |gpu - cpu| <= atol + rtol * |cpu|, elementwise. Used by the test suite
// and by `sdmoec test` so users can check their own models' kernels.
import type { HostArray, KernelCase, KernelProgram, Tolerance } from '../compiler/codegen/kernel.ts';
export type { KernelCase, Tolerance } from '../compiler/codegen/kernel.ts';
import { ARRAY_FOR, type KernelExecutor } from './executor.ts';
import { Rng } from '../base/rng.ts';

export interface Mismatch {
  binding: string;
  index: number;
  actual: number;
  expected: number;
  maxAbsErr: number;
  count: number;
}

export interface CheckResult {
  ok: boolean;
  label: string;
  maxAbsErr: number;
  mismatches: Mismatch[];
  /** One paragraph a human can act on. */
  report: string;
}

export function randomInputs(p: KernelProgram, seed: number): Record<string, HostArray> {
  const rng = new Rng(seed);
  const inputs: Record<string, HostArray> = {};
  for (const b of p.bindings) {
    if (b.access === 'write') continue;
    const arr = new ARRAY_FOR[b.type](b.length);
    const fill = b.fill ?? { kind: 'float', lo: -1, hi: 1 };
    for (let i = 0; i < arr.length; i++) {
      const x = fill.lo + (fill.hi - fill.lo) * rng.nextFloat();
      arr[i] = fill.kind === 'int' ? Math.floor(x) : x;
    }
    inputs[b.name] = arr;
  }
  return inputs;
}

export function compareOutputs(
  actual: Readonly<Record<string, HostArray>>,
  expected: Readonly<Record<string, HostArray>>,
  tol: Tolerance,
): { maxAbsErr: number; mismatches: Mismatch[] } {
  let maxAbsErr = 0;
  const mismatches: Mismatch[] = [];
  for (const [name, exp] of Object.entries(expected)) {
    const act = actual[name];
    if (!act) throw new Error(`kernel did not produce output '${name}'`);
    if (act.length !== exp.length) throw new Error(`output '${name}' has ${act.length} elements, oracle ${exp.length}`);
    let worst: Mismatch | undefined;
    let bad = 0;
    for (let i = 0; i < exp.length; i++) {
      const err = Math.abs(act[i] - exp[i]);
      const isBad = !(err <= tol.atol + tol.rtol * Math.abs(exp[i])); // NaN counts as bad
      if (Number.isFinite(err)) maxAbsErr = Math.max(maxAbsErr, err);
      if (isBad) {
        bad++;
        if (!worst || !(err <= worst.maxAbsErr)) worst = { binding: name, index: i, actual: act[i], expected: exp[i], maxAbsErr: err, count: 0 };
      }
    }
    if (worst) mismatches.push({ ...worst, count: bad });
  }
  return { maxAbsErr, mismatches };
}

export async function checkKernel(exec: KernelExecutor, kc: KernelCase, seed = 1): Promise<CheckResult> {
  const inputs = kc.makeInputs ? kc.makeInputs(seed) : randomInputs(kc.program, seed);
  const expected = kc.oracle(inputs);
  const actual = await exec.run(kc.program, inputs);
  const { maxAbsErr, mismatches } = compareOutputs(actual, expected, kc.tolerance);
  const tol = `atol ${kc.tolerance.atol}, rtol ${kc.tolerance.rtol}`;
  const report =
    mismatches.length === 0
      ? `${kc.program.label}: ok (max abs err ${maxAbsErr.toExponential(2)}, ${tol})`
      : `${kc.program.label}: MISMATCH vs CPU oracle (${tol})\n` +
        mismatches
          .map((m) => `  ${m.binding}[${m.index}] = ${m.actual}, oracle ${m.expected} (|err| ${m.maxAbsErr.toExponential(2)}; ${m.count} elements out of tolerance)`)
          .join('\n');
  return { ok: mismatches.length === 0, label: kc.program.label, maxAbsErr, mismatches, report };
}
