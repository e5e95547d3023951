// Pass `optimizer`: appends the optimizer step to a differentiated graph. Every output with role
// { kind: 'grad', param: p } (autodiff names them `grad.<p>`) is consumed: the global gradient norm
// is computed in-graph and turned into a clip scale, then one `adamw` node per param produces
// `update.<p>` and the new moments `state.<p>.adam_m/adam_v`. The runtime writes those outputs back
// into the param and state buffers (in place). Learning rate and step arrive through the
// `optimizer.lr` / `optimizer.step` inputs, so the schedule never changes the program. `grad_norm` (an output too) holds [clip scale, norm].
// `kind: 'sgd'`: one `sgd` node per param instead (torch.optim.SGD: L2 weight decay, momentum
// buffer `state.<p>.momentum`, no step input: SGD has no bias correction); everything else,
// clipping and SD-MoE's step mode and projection included, is the same.
// SD-MoE (params found by role): with `project gradient` the projection is already part of
// p's gradient (sd_split_grad). With `project update` W_c and W_u get their raw gradients, so clipping
// and the moments see those; their adamw nodes write the step Δ instead of applying it, and one
// `sd_project_update` per decoupled matrix adds W_c += Δ_c − D(Δ_c), W_u(i) += D(Δ_u(i)).
// `moments reset` (the trainer zeroes W_c's and W_u's moments after every `resetEvery`-th step)
// gives exactly those params' adamw nodes `resetEvery`, so bias correction restarts with them.
// Aux-loss-free balancing (DeepSeek-V3): every router that reads a selection bias (a param with
// role `router_bias`, not trained) gets one `router_bias_update` from that step's own choice,
// written back as `update.<bias>` in place on the device; nothing is read back.
import { ir, out } from '../ir/build.ts';
import { graph, outputsWithRole, topoOrder } from '../ir/graph.ts';
import { IrError } from '../ir/infer.ts';
import type { Graph, Node, ParamRole, Value } from '../ir/types.ts';
import { routerOperands, typeOf } from '../ir/types.ts';
import { paramsOf } from './autodiff.ts';

export interface OptimizerOptions {
  /** 'adamw' (default; `adam` is AdamW with weight decay 0) or 'sgd'. */
  readonly kind?: 'adamw' | 'sgd';
  /** SGD only: the momentum μ (0: plain SGD). */
  readonly momentum?: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Global-norm clip threshold; 0 disables clipping. */
  readonly clipGrad: number;
  /** Apply weight decay to rank-1 params (norm gains) too. Off by default, as in most LM recipes. */
  readonly decayVectors: boolean;
  /** SD-MoE: where the projection happens, and the moment-reset period of W_c/W_u (0: never). */
  readonly spectral?: { readonly project: 'gradient' | 'update'; readonly resetEvery: number };
}

type SdRole = Extract<ParamRole, { kind: 'sd' }>;

export const DEFAULT_OPTIMIZER: OptimizerOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clipGrad: 1, decayVectors: false };

export function optimizer(g: Graph, opts: OptimizerOptions = DEFAULT_OPTIMIZER): Graph {
  const params = paramsOf(g);
  const grads = outputsWithRole(g, 'grad');
  if (grads.length === 0) throw new IrError('optimizer: graph has no gradient outputs (run autodiff first)');
  const consumed = new Set(grads.map(([k]) => k));
  const outputs: Record<string, Value> = {};
  for (const [k, v] of Object.entries(g.outputs)) if (!consumed.has(k)) outputs[k] = v;

  const clip = ir.gradNorm(grads.map(([, , v]) => v), opts.clipGrad);
  outputs.grad_norm = clip;
  const lr = ir.input('optimizer.lr', 'f32', []);
  const step = ir.input('optimizer.step', 'i32', []);
  const sgd = opts.kind === 'sgd';

  const sdRole = (p: Value): SdRole | undefined => {
    const n: Node = p.node;
    return n.op === 'param' && n.attrs.role?.kind === 'sd' ? n.attrs.role : undefined;
  };
  const projectUpdate = opts.spectral?.project === 'update';
  // SD target → its four params (W_c, W_u, U_k, V_k by role part).
  const sdParts = new Map<string, Map<SdRole['part'], Value>>();
  for (const p of params.values()) {
    const role = sdRole(p);
    if (role) sdParts.set(role.target, (sdParts.get(role.target) ?? new Map()).set(role.part, p));
  }
  const steps = new Map<string, Value>();

  for (const [k, { param: name }, grad] of grads) {
    const p = params.get(name);
    if (!p) throw new IrError(`optimizer: ${k} is the gradient of '${name}', which is no param of the graph`);
    const shape = typeOf(p).shape;
    const decay = shape.length >= 2 || opts.decayVectors ? opts.weightDecay : 0;
    const role = sdRole(p);
    const decoupled = role && (role.part === 'common' || role.part === 'unique');
    const resetEvery = decoupled ? opts.spectral?.resetEvery ?? 0 : 0;
    const stepOnly = decoupled && projectUpdate;
    // The gradient rule (expert_weight's `project` attr) and these options must agree, or W_u
    // would be projected twice or not at all.
    if (role?.part === 'unique' && (grad.node.op === 'sd_split_grad') === projectUpdate) {
      throw new IrError(`optimizer: ${name} has a ${projectUpdate ? 'projected' : 'raw'} gradient but the options say project ${projectUpdate ? 'update' : 'gradient'}`);
    }
    let p2: Value;
    const state: Record<string, Value> = {};
    if (sgd) {
      // The trainer zeroes the momentum buffers of `moments reset` itself; SGD has no bias
      // correction to restart, so resetEvery has no counterpart here.
      const buf = ir.param(`${name}.momentum`, shape, { kind: 'zeros' }, 'optimizer_state', { kind: 'momentum', of: name });
      const [stepped, buf2] = ir.sgd(p, grad, buf, lr, clip, { momentum: opts.momentum ?? 0, weightDecay: decay, ...(stepOnly ? { output: 'step' as const } : {}) });
      p2 = stepped;
      state[`state.${name}.momentum`] = buf2;
    } else {
      const m = ir.param(`${name}.adam_m`, shape, { kind: 'zeros' }, 'optimizer_state', { kind: 'adam', moment: 'm', of: name });
      const v = ir.param(`${name}.adam_v`, shape, { kind: 'zeros' }, 'optimizer_state', { kind: 'adam', moment: 'v', of: name });
      const attrs = { beta1: opts.beta1, beta2: opts.beta2, eps: opts.eps, weightDecay: decay, ...(resetEvery > 0 ? { resetEvery } : {}), ...(stepOnly ? { output: 'step' as const } : {}) };
      const [stepped, m2, v2] = ir.adamw(p, grad, m, v, lr, step, clip, attrs);
      p2 = stepped;
      state[`state.${name}.adam_m`] = m2;
      state[`state.${name}.adam_v`] = v2;
    }
    if (stepOnly) steps.set(name, p2);
    else outputs[`update.${name}`] = p2;
    Object.assign(outputs, state);
  }

  for (const node of topoOrder(g)) {
    if (node.op !== 'router') continue;
    const biasValue = routerOperands(node.attrs, node.inputs).bias;
    if (!biasValue) continue;
    const bias = biasValue.node;
    const role = bias.op === 'param' ? bias.attrs.role : undefined;
    if (bias.op !== 'param' || role?.kind !== 'router_bias') throw new IrError('optimizer: a router selection bias must be a param with role router_bias');
    outputs[`update.${bias.attrs.name}`] = ir.routerBiasUpdate(biasValue, out(node, 0), role.rate);
  }

  if (projectUpdate) {
    for (const [target, parts] of sdParts) {
      const [wc, wu, uk, vk] = (['common', 'unique', 'basis_u', 'basis_v'] as const).map((part) => parts.get(part));
      if (!wc || !wu || !uk || !vk) throw new IrError(`optimizer: SD matrix ${target} lacks one of W_c, W_u, U_k, V_k`);
      const [wcName, wuName] = [wc, wu].map((x) => (x.node.op === 'param' ? x.node.attrs.name : ''));
      const [dc, du] = [steps.get(wcName), steps.get(wuName)];
      if (!dc || !du) throw new IrError(`optimizer: SD matrix ${target} needs gradients of both W_c and W_u for project update`);
      const [wc2, wu2] = ir.sdProjectUpdate(wc, wu, dc, du, uk, vk, { experts: typeOf(wu).shape[0], rank: typeOf(uk).shape[1] });
      outputs[`update.${wcName}`] = wc2;
      outputs[`update.${wuName}`] = wu2;
    }
  }
  return graph(g.name, outputs);
}
