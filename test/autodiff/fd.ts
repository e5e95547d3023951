// Finite-difference machinery shared by the gradient tests: random feeds for a graph, a scalar
// probe loss Σ(output ⊙ fixed random weights) over chosen outputs, and a central-difference check
// of every `grad.<param>` the autodiff pass produces against the interpreted forward graph.
// Everything runs in float64 through the reference interpreter, so tolerances can be tight.
import { ir } from '../../compiler/ir/build.ts';
import { graph, topoOrder } from '../../compiler/ir/graph.ts';
import { interpretGraph, type Feeds, type Tensor } from '../../compiler/ir/interpret.ts';
import type { Graph, Value } from '../../compiler/ir/types.ts';
import { numel, typeOf } from '../../compiler/ir/types.ts';
import { autodiff } from '../../compiler/passes/autodiff.ts';
import { Rng } from '../../base/rng.ts';

export interface MutableFeeds {
  inputs: Record<string, Tensor>;
  params: Record<string, Float64Array>;
}

export const randn = (rng: Rng, n: number, std = 1): Float64Array => Float64Array.from({ length: n }, () => rng.normal(0, std));

/**
 * loss = Σ_i Σ(outs[i] ⊙ probe_i) with probe_i a graph input; the probes make every output
 * element matter with a distinct weight, so a wrong gradient cannot hide in a symmetric sum.
 */
export function probeLoss(name: string, outs: readonly Value[], extra: Record<string, Value> = {}): Graph {
  let loss: Value | undefined;
  outs.forEach((v, i) => {
    const probe = ir.input(`probe${i}`, 'f32', typeOf(v).shape);
    const n = numel(typeOf(v));
    const term = ir.reduce('sum', ir.reshape(ir.mul(v, probe), [n]), 0);
    loss = loss ? ir.add(loss, term) : term;
  });
  return graph(name, { loss: loss!, ...extra });
}

/** Normal(0, std) values for every f32 input and param of `g` not already in `fixed`. */
export function randomFeeds(g: Graph, rng: Rng, fixed: Partial<MutableFeeds> = {}, std = 1): MutableFeeds {
  const feeds: MutableFeeds = { inputs: { ...fixed.inputs }, params: { ...fixed.params } };
  for (const n of topoOrder(g)) {
    if (n.op === 'param' && !feeds.params[n.attrs.name]) feeds.params[n.attrs.name] = randn(rng, numel(n.types[0]), std);
    if (n.op === 'input' && !feeds.inputs[n.attrs.name]) {
      if (n.attrs.dtype === 'i32') throw new Error(`test must feed i32 input '${n.attrs.name}'`);
      feeds.inputs[n.attrs.name] = randn(rng, numel(n.types[0]), std);
    }
  }
  return feeds;
}

export interface FdOptions {
  /** Entries checked per param; all entries when the param is at most this big. */
  readonly perParam?: number;
  readonly h?: number;
  readonly rtol?: number;
  readonly atol?: number;
  readonly seed?: number;
  /** Called on every perturbed forward result; throw to flag an invalid FD point (e.g. a routing flip). */
  readonly guard?: (outputs: Record<string, Tensor>) => void;
}

export interface FdMismatch {
  readonly param: string;
  readonly index: number;
  readonly analytic: number;
  readonly numeric: number;
}

export interface FdReport {
  readonly checked: number;
  readonly mismatches: FdMismatch[];
  /** Names of the params whose gradients were checked. */
  readonly params: string[];
  /** Largest |analytic − numeric| / (atol + rtol·scale) seen; < 1 means within tolerance. */
  readonly worst: number;
}

/**
 * Half the sample are the entries with the largest analytic gradient (where a wrong rule shows
 * most), the rest uniform (where a rule may wrongly produce zero, e.g. embedding rows of unused ids).
 */
function sampleEntries(analytic: Tensor, count: number, rng: Rng): number[] {
  const all = Array.from(analytic, (_, i) => i);
  const largest = [...all].sort((a, b) => Math.abs(analytic[b]) - Math.abs(analytic[a])).slice(0, Math.ceil(count / 2));
  const rest = rng.shuffle(all.filter((i) => !largest.includes(i))).slice(0, count - largest.length);
  return [...largest, ...rest];
}

/** Compares every grad.<p> of autodiff(forward) with central differences of forward's `loss`. */
export function checkGradients(forward: Graph, feeds: Feeds & MutableFeeds, opts: FdOptions = {}): FdReport {
  const { perParam = Infinity, h = 1e-5, rtol = 1e-4, atol = 1e-7, seed = 7, guard } = opts;
  const grads = interpretGraph(autodiff(forward), feeds);
  const rng = new Rng(seed);
  const mismatches: FdMismatch[] = [];
  const names = Object.keys(grads).filter((k) => k.startsWith('grad.')).map((k) => k.slice(5));
  let checked = 0;
  let worst = 0;
  const lossAt = (): number => {
    const outs = interpretGraph(forward, feeds);
    guard?.(outs);
    return outs.loss[0];
  };
  for (const name of names) {
    const values = feeds.params[name];
    const analytic = grads[`grad.${name}`];
    const entries = values.length <= perParam ? Array.from(values, (_, i) => i) : sampleEntries(analytic, perParam, rng);
    for (const i of entries) {
      const x0 = values[i];
      values[i] = x0 + h;
      const up = lossAt();
      values[i] = x0 - h;
      const down = lossAt();
      values[i] = x0;
      const numeric = (up - down) / (2 * h);
      const err = Math.abs(analytic[i] - numeric) / (atol + rtol * Math.max(Math.abs(analytic[i]), Math.abs(numeric)));
      worst = Math.max(worst, err);
      if (!(err <= 1)) mismatches.push({ param: name, index: i, analytic: analytic[i], numeric });
      checked++;
    }
  }
  return { checked, mismatches, params: names, worst };
}
