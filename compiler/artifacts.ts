// What `sdmoec compile -o DIR` writes beyond the normalised config: the IR before and after the
// pass pipeline, every distinct kernel's WGSL, and a manifest of buffers and dispatches (what a
// reviewer needs to see what one training step costs: dispatch count, peak memory, reuse).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipelineKey } from './codegen/kernel.ts';
import type { ExecutionPlan } from './codegen/plan.ts';
import { renderWgsl } from './codegen/render.ts';
import { printGraph } from './ir/text.ts';
import type { CompiledTraining } from './pipeline.ts';

function manifest(plan: ExecutionPlan) {
  const byKind: Record<string, number> = {};
  // Slab slots are views into their slab: counted once, as the slab.
  for (const b of plan.buffers) if (!b.view) byKind[b.kind] = (byKind[b.kind] ?? 0) + b.bytes;
  const byOp: Record<string, number> = {};
  for (const d of plan.dispatches) byOp[d.op] = (byOp[d.op] ?? 0) + 1;
  return {
    dispatches: plan.dispatches.length,
    dispatchesByOp: byOp,
    totalBytes: plan.totalBytes,
    bytesByKind: byKind,
    activationBytesWithoutReuse: plan.unplannedActivationBytes,
    buffers: plan.buffers.map((b) => ({ id: b.id, kind: b.kind, bytes: b.bytes, name: b.name, ...(b.view ? { slab: b.view.of, offset: b.view.offset } : {}) })),
    inputs: plan.inputs,
    outputs: plan.outputs,
    schedule: plan.dispatches.map((d, i) => ({
      index: i,
      op: d.op,
      kernel: d.program.label,
      template: d.program.template,
      workgroups: d.program.dispatch,
      buffers: d.buffers,
    })),
    // grad_accum > 1: schedule[0, updateStart) runs per micro-batch, then `add` (micro-batches
    // 1 … N−1) or `finish` and schedule[updateStart, …) (the last).
    ...(plan.accumulation
      ? {
          accumulation: {
            microBatches: plan.accumulation.microBatches,
            updateStart: plan.accumulation.updateStart,
            add: plan.accumulation.add.map((d) => ({ kernel: d.program.label, buffers: d.buffers })),
            finish: plan.accumulation.finish.map((d) => ({ kernel: d.program.label, buffers: d.buffers })),
          },
        }
      : {}),
  };
}

const allDispatches = (plan: ExecutionPlan) => [...plan.dispatches, ...(plan.accumulation ? [...plan.accumulation.add, ...plan.accumulation.finish] : [])];

export interface ArtifactSummary {
  readonly kernels: number;
  readonly stepDispatches: number;
  readonly evalDispatches: number;
  readonly stepBytes: number;
}

export function writeCompiledArtifacts(dir: string, compiled: CompiledTraining): ArtifactSummary {
  mkdirSync(join(dir, 'kernels'), { recursive: true });
  writeFileSync(join(dir, 'forward.ir'), printGraph(compiled.forward));
  writeFileSync(join(dir, 'step.ir'), printGraph(compiled.step));
  writeFileSync(join(dir, 'eval.ir'), printGraph(compiled.evaluation));
  const seen = new Set<string>();
  for (const d of [...allDispatches(compiled.stepPlan), ...compiled.evalPlan.dispatches, ...(compiled.countPlan?.dispatches ?? [])]) {
    const key = pipelineKey(d.program);
    if (seen.has(key)) continue;
    seen.add(key);
    writeFileSync(join(dir, 'kernels', `${d.program.label}.wgsl`), renderWgsl(d.program));
  }
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ step: manifest(compiled.stepPlan), eval: manifest(compiled.evalPlan), ...(compiled.countPlan ? { counts: manifest(compiled.countPlan) } : {}) }, null, 2));
  return { kernels: seen.size, stepDispatches: compiled.stepPlan.dispatches.length, evalDispatches: compiled.evalPlan.dispatches.length, stepBytes: compiled.stepPlan.totalBytes };
}
