// Pass `optimizer`: appends the AdamW step to a differentiated graph. Every `grad.<p>` output is
// consumed: the global gradient norm is computed in-graph and turned into a clip scale, then one
// `adamw` node per param produces `update.<p>` and the new moments `state.<p>.adam_m/adam_v`. The
// runtime writes those outputs back into the param and state buffers (in place). Learning rate and
// step arrive through the `optimizer.lr` / `optimizer.step` inputs, so the schedule never changes
// the program. `grad_norm` (an output too) holds [clip scale, norm].
// Gradient transforms (SD-MoE's projection) are already part of `grad.<p>` at this point.
import { ir } from '../ir/build.ts';
import { graph } from '../ir/graph.ts';
import { IrError } from '../ir/infer.ts';
import type { Graph, Value } from '../ir/types.ts';
import { typeOf } from '../ir/types.ts';
import { paramsOf } from './autodiff.ts';

export interface OptimizerOptions {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Global-norm clip threshold; 0 disables clipping. */
  readonly clipGrad: number;
  /** Apply weight decay to rank-1 params (norm gains) too. Off by default, as in most LM recipes. */
  readonly decayVectors: boolean;
}

export const DEFAULT_OPTIMIZER: OptimizerOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clipGrad: 1, decayVectors: false };

export function optimizer(g: Graph, opts: OptimizerOptions = DEFAULT_OPTIMIZER): Graph {
  const params = paramsOf(g);
  const gradNames = Object.keys(g.outputs).filter((k) => k.startsWith('grad.'));
  if (gradNames.length === 0) throw new IrError('optimizer: graph has no grad.* outputs (run autodiff first)');
  const outputs: Record<string, Value> = {};
  for (const [k, v] of Object.entries(g.outputs)) if (!k.startsWith('grad.')) outputs[k] = v;

  const clip = ir.gradNorm(gradNames.map((k) => g.outputs[k]), opts.clipGrad);
  outputs.grad_norm = clip;
  const lr = ir.input('optimizer.lr', 'f32', []);
  const step = ir.input('optimizer.step', 'i32', []);

  for (const k of gradNames) {
    const name = k.slice('grad.'.length);
    const p = params.get(name);
    if (!p) throw new IrError(`optimizer: ${k} has no param '${name}'`);
    const shape = typeOf(p).shape;
    const m = ir.param(`${name}.adam_m`, shape, { kind: 'zeros' }, 'optimizer_state', { kind: 'adam', moment: 'm', of: name });
    const v = ir.param(`${name}.adam_v`, shape, { kind: 'zeros' }, 'optimizer_state', { kind: 'adam', moment: 'v', of: name });
    const decay = shape.length >= 2 || opts.decayVectors ? opts.weightDecay : 0;
    const [p2, m2, v2] = ir.adamw(p, g.outputs[k], m, v, lr, step, clip, { beta1: opts.beta1, beta2: opts.beta2, eps: opts.eps, weightDecay: decay });
    outputs[`update.${name}`] = p2;
    outputs[`state.${name}.adam_m`] = m2;
    outputs[`state.${name}.adam_v`] = v2;
  }
  return graph(g.name, outputs);
}
