// Runs a whole IR graph on the device and in the CPU reference interpreter on the same seeded
// inputs and params, and compares every output: the end-to-end oracle for the compiler (lowering,
// passes, planning, kernels). Params are rounded to f32 before the interpreter sees them, so both
// sides start from identical values; integer outputs must match exactly.
import { planGraph } from '../compiler/codegen/plan.ts';
import { inPlaceInputs, optimizerOperands } from '../compiler/codegen/slabs.ts';
import { initParams, interpretGraph, type Tensor } from '../compiler/ir/interpret.ts';
import { topoOrder } from '../compiler/ir/graph.ts';
import type { Graph } from '../compiler/ir/types.ts';
import { numel } from '../compiler/ir/types.ts';
import type { KernelExecutor } from './executor.ts';
import { compareOutputs, type Mismatch, type Tolerance } from './kernel-check.ts';
import { Rng } from '../base/rng.ts';
import { StepExecutor } from './step-executor.ts';

export interface GraphCheckOptions {
  readonly seed: number;
  readonly tolerance: Tolerance;
  /** Exclusive upper bound of every i32 input (token ids). */
  readonly intBound: number;
  /** Fixed values for some inputs (e.g. `optimizer.hyper`). */
  readonly fixedInputs?: Readonly<Record<string, Float32Array | Int32Array>>;
  /** Outputs not to compare (e.g. ones that depend on discontinuous choices). */
  readonly skip?: readonly string[];
  /** Values for some params instead of their init (e.g. orthonormal SD-MoE bases). */
  readonly fixedParams?: Readonly<Record<string, Float32Array>>;
  /** Plan as if for an adapter with these limits (e.g. a small binding size to force split slabs) or
   *  kind (cpuAdapter false: the GPU layouts and the fusions' unfused lowerings, run on this device). */
  readonly planLimits?: { readonly maxStorageBufferBindingSize?: number; readonly cpuAdapter?: boolean };
}

export interface GraphCheckResult {
  readonly ok: boolean;
  readonly mismatches: Mismatch[];
  readonly maxAbsErr: number;
  readonly dispatches: number;
  readonly report: string;
}

export async function checkGraphOnDevice(exec: KernelExecutor, g: Graph, opts: GraphCheckOptions): Promise<GraphCheckResult> {
  const plan = planGraph(g, { ...exec.ctx.caps, ...opts.planLimits });
  const step = new StepExecutor(exec, plan);
  await step.init(opts.seed);
  const rng = new Rng(opts.seed).fork('graph-check');
  const params64 = initParams(g, opts.seed);
  const params: Record<string, Float64Array> = {};
  for (const [name, v] of Object.entries(params64)) {
    const f32 = opts.fixedParams?.[name] ?? Float32Array.from(v);
    step.writeParam(name, f32);
    params[name] = Float64Array.from(f32);
  }
  const inputs: Record<string, Tensor> = {};
  for (const node of topoOrder(g)) {
    if (node.op !== 'input') continue;
    const name = node.attrs.name;
    const n = Math.max(1, numel(node.types[0]));
    const fixed = opts.fixedInputs?.[name];
    let data: Float32Array | Int32Array;
    if (fixed) data = fixed;
    else if (node.attrs.dtype === 'i32') data = Int32Array.from({ length: n }, () => rng.nextInt(opts.intBound));
    else data = Float32Array.from({ length: n }, () => rng.nextFloat() * 2 - 1);
    step.writeInput(name, data);
    inputs[name] = data instanceof Int32Array ? data : Float64Array.from(data);
  }
  step.run();
  const names = Object.keys(g.outputs).filter((k) => !opts.skip?.includes(k));
  const actual = await step.readOutputs(names);
  const reference = interpretGraph(g, { inputs, params });
  const expected: Record<string, Float32Array | Int32Array> = {};
  for (const k of names) expected[k] = reference[k] instanceof Int32Array ? (reference[k] as Int32Array) : Float32Array.from(reference[k]);
  const { maxAbsErr, mismatches } = compareOutputs(actual, expected, opts.tolerance);
  step.destroy();
  const report =
    mismatches.length === 0
      ? `${g.name}: ${names.length} outputs match the interpreter (max abs err ${maxAbsErr.toExponential(2)}, ${plan.dispatches.length} dispatches)`
      : `${g.name}: MISMATCH vs interpreter\n` + mismatches.map((m) => `  ${m.binding}[${m.index}] = ${m.actual}, interpreter ${m.expected} (${m.count} elements out of tolerance)`).join('\n');
  return { ok: mismatches.length === 0, mismatches, maxAbsErr, dispatches: plan.dispatches.length, report };
}

export interface TrainingCheckOptions extends Omit<GraphCheckOptions, 'fixedInputs'> {
  /** Optimizer steps to run (the step input counts 1, 2, …). */
  readonly steps: number;
  /** Learning rate fed to `optimizer.lr`. */
  readonly lr: number;
}

/**
 * Several training steps of a step graph (optimizer appended) on the device and in the interpreter,
 * each side carrying its own params forward: the device updates its buffers in place, the
 * interpreter's next params are its outputs that the device writes over a param (inPlaceInputs). Every output of every
 * step is compared, so a state that only the device carries (e.g. a selection bias updated in
 * place) must evolve exactly as the IR says.
 */
export async function checkTrainingOnDevice(exec: KernelExecutor, g: Graph, opts: TrainingCheckOptions): Promise<GraphCheckResult> {
  const plan = planGraph(g, { ...exec.ctx.caps, ...opts.planLimits });
  const step = new StepExecutor(exec, plan);
  await step.init(opts.seed);
  const rng = new Rng(opts.seed).fork('training-check');
  let params: Record<string, Float64Array> = {};
  for (const [name, v] of Object.entries(initParams(g, opts.seed))) {
    const f32 = opts.fixedParams?.[name] ?? Float32Array.from(v);
    step.writeParam(name, f32);
    params[name] = Float64Array.from(f32);
  }
  const data: Record<string, Tensor> = {};
  // the optimizer's hyperparameter inputs (learning rate, step) are fed below, not drawn at random
  const hyper = new Set(topoOrder(g).flatMap((n) => optimizerOperands(n)?.hyper.map((v) => v.node) ?? []));
  for (const node of topoOrder(g)) {
    if (node.op !== 'input' || hyper.has(node)) continue;
    const n = Math.max(1, numel(node.types[0]));
    const d = node.attrs.dtype === 'i32' ? Int32Array.from({ length: n }, () => rng.nextInt(opts.intBound)) : Float32Array.from({ length: n }, () => rng.nextFloat() * 2 - 1);
    step.writeInput(node.attrs.name, d);
    data[node.attrs.name] = d instanceof Int32Array ? d : Float64Array.from(d);
  }
  const names = Object.keys(g.outputs).filter((k) => !opts.skip?.includes(k));
  const mismatches: Mismatch[] = [];
  let maxAbsErr = 0;
  const lines: string[] = [];
  for (let s = 1; s <= opts.steps; s++) {
    const lr = Float32Array.of(opts.lr);
    const stepNo = Int32Array.of(s);
    step.writeInput('optimizer.lr', lr);
    step.writeInput('optimizer.step', stepNo);
    step.run();
    const actual = await step.readOutputs(names);
    const reference = interpretGraph(g, { inputs: { ...data, 'optimizer.lr': Float64Array.from(lr), 'optimizer.step': stepNo }, params });
    const expected: Record<string, Float32Array | Int32Array> = {};
    for (const k of names) expected[k] = reference[k] instanceof Int32Array ? (reference[k] as Int32Array) : Float32Array.from(reference[k]);
    const r = compareOutputs(actual, expected, opts.tolerance);
    maxAbsErr = Math.max(maxAbsErr, r.maxAbsErr);
    for (const m of r.mismatches) {
      mismatches.push(m);
      lines.push(`  step ${s}: ${m.binding}[${m.index}] = ${m.actual}, interpreter ${m.expected} (${m.count} elements out of tolerance)`);
    }
    // Each output that the device writes over a param's buffer (compiler/codegen/slabs.ts#inPlaceInputs)
    // is that param's next value here too.
    const next: Record<string, Float64Array> = { ...params };
    for (const [k, v] of Object.entries(g.outputs)) {
      const target = inPlaceInputs(v.node)[v.index]?.node;
      if (target?.op === 'param' && target.attrs.name in params) next[target.attrs.name] = Float64Array.from(reference[k]);
    }
    params = next;
  }
  step.destroy();
  const report =
    mismatches.length === 0
      ? `${g.name}: ${opts.steps} steps × ${names.length} outputs match the interpreter (max abs err ${maxAbsErr.toExponential(2)}, ${plan.dispatches.length} dispatches per step)`
      : `${g.name}: MISMATCH vs interpreter\n` + lines.join('\n');
  return { ok: mismatches.length === 0, mismatches, maxAbsErr, dispatches: plan.dispatches.length, report };
}
