// The walk over docs/language.md (issue 10): every documented option of the model, attention,
// norm, moe (and shared_expert), router, spectral, train (and divergence), eval and experiment
// tables is either
//   - `device`: trained here, in one whole training step of a tiny model that sets it, every output
//     compared with the IR interpreter on the device; options that change no shape are also shown
//     to change the interpreted loss (so the lowering reads them rather than ignoring them);
//   - `test`: proven by a named test in another file (the walk checks the file holds that title);
//   - `refused`: refused by `sdmoec check` with a located error (file:line:col, exit 1);
//   - `block`: a nested block whose own keys are walked under its own heading.
// The walk fails when the docs document an option without a probe, or the table names an option
// the docs do not document. The call arguments documented as `name(arg, …)` (optimizer, schedule,
// aux_loss) are walked the same way (ARG_PROBES). Probes made here: the device group with a loss
// sensitivity check per shape-free option, optimizer arguments and clip_grad flipped in the
// compiled step, the schedules against their formulas, eval_batches without an eval block,
// experiment metrics in results.md, and check's refusals. docs/options.md is the table for readers
// (the walk checks it has a row per option).
// Invariant: one device check per group (tiny shapes), so the file stays well under a minute idle.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXPERIMENT_METRICS, type ExperimentMetric, type ModelConfig, type TrainConfig } from '../../compiler/config/types.ts';
import { interpretGraph, initParams } from '../../compiler/ir/interpret.ts';
import { topoOrder } from '../../compiler/ir/graph.ts';
import { lowerModel } from '../../compiler/lower/model.ts';
import { runPasses, TRAINING_PIPELINE } from '../../compiler/passes/registry.ts';
import { Rng } from '../../base/rng.ts';
import { checkTrainingOnDevice } from '../../runtime/graph-check.ts';
import { loadConfig } from '../../compiler/config/index.ts';
import { resultsMarkdown } from '../../runtime/experiment/results.ts';
import { implicitEval } from '../../runtime/train/evaluate.ts';
import { optimizerOptions } from '../../compiler/pipeline.ts';
import { learningRate } from '../../runtime/train/schedule.ts';
import { testExecutor } from '../support/gpu.ts';
import { tinyModel } from '../codegen/models.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCS = readFileSync(join(ROOT, 'docs/language.md'), 'utf8');
const SECTIONS = ['model', 'attention', 'norm', 'moe', 'router', 'spectral', 'train', 'eval', 'experiment'] as const;

/** Documented options: `section.name` for the leading word of every backticked name in the first
 *  cell of every table row under `## section` (keys, and the value rows of the norm and activation
 *  tables), mapped to the row's other cells. */
function documentedOptions(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of SECTIONS) {
    const start = markdown.indexOf(`\n## ${s}\n`);
    expect(start, `docs/language.md has ## ${s}`).toBeGreaterThan(0);
    const end = markdown.indexOf('\n## ', start + 1);
    for (const line of markdown.slice(start, end < 0 ? undefined : end).split('\n')) {
      const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
      if (cells.length < 4 || !cells[1].startsWith('`')) continue;
      for (const m of cells[1].matchAll(/`([a-z_]+)[^`]*`/g)) out.set(`${s}.${m[1]}`, cells.slice(2).join(' | '));
    }
  }
  return out;
}

type Probe =
  | { kind: 'device'; group: keyof typeof GROUPS }
  | { kind: 'test'; file: string; test: string }
  | { kind: 'refused'; case: keyof typeof REFUSALS }
  | { kind: 'block'; section: (typeof SECTIONS)[number] };

const t = (file: string, test: string): Probe => ({ kind: 'test', file, test });
const dev = (group: keyof typeof GROUPS): Probe => ({ kind: 'device', group });
const E2E = 'test/codegen/end-to-end.test.ts';
const EVAL = 'test/cli/eval-block.test.ts';

/** Device groups: a tiny model setting the group's options, one whole training step (backward,
 *  clipping, optimizer) on the device against the interpreter. `sensitive` are the options that
 *  change no shape: flipping each must change the interpreted loss. */
const base = tinyModel();
const GROUPS = {
  // Tied embeddings, a head width other than dim/heads, GQA, another RoPE base and init std, a dense
  // first layer of its own width, two ungated shared experts, unnormalised sigmoid routing with a
  // routed scale, z-loss and no load-balance loss.
  shapes_and_routing: {
    model: {
      ...base,
      name: 'walk_shapes',
      vocab: 48,
      dim: 16,
      layers: 2,
      denseLayers: 1,
      denseHidden: 20,
      tieEmbeddings: true,
      initStd: 0.25,
      attention: { heads: 2, kvHeads: 1, headDim: 4, ropeTheta: 1e6 },
      norm: { kind: 'rmsnorm', eps: 1e-5 },
      moe: {
        ...base.moe,
        experts: 4,
        topK: 2,
        expertHidden: 12,
        shared: { count: 2, hidden: 8, gated: false },
        capacity: { kind: 'dropless' },
        router: { ...base.moe.router, score: 'sigmoid', normalizeTopK: false, routedScale: 2.5, zLoss: 0.002, auxLoss: null },
      },
    } satisfies ModelConfig,
    sensitive: {
      'attention.rope_theta': (m: ModelConfig): ModelConfig => ({ ...m, attention: { ...m.attention, ropeTheta: 10 } }),
      'model.init_std': (m: ModelConfig): ModelConfig => ({ ...m, initStd: 0.05 }),
      'norm.rmsnorm': (m: ModelConfig): ModelConfig => ({ ...m, norm: { ...m.norm, eps: 0.5 } }),
      'router.score': (m: ModelConfig): ModelConfig => ({ ...m, moe: { ...m.moe, router: { ...m.moe.router, score: 'softmax' } } }),
      'router.normalize_top_k': (m: ModelConfig): ModelConfig => ({ ...m, moe: { ...m.moe, router: { ...m.moe.router, normalizeTopK: true } } }),
      'router.routed_scale': (m: ModelConfig): ModelConfig => ({ ...m, moe: { ...m.moe, router: { ...m.moe.router, routedScale: 1 } } }),
      'router.z_loss': (m: ModelConfig): ModelConfig => ({ ...m, moe: { ...m.moe, router: { ...m.moe.router, zLoss: 0.2 } } }),
      'router.aux_loss': (m: ModelConfig): ModelConfig => ({ ...m, moe: { ...m.moe, router: { ...m.moe.router, auxLoss: { coef: 0.5, scope: 'micro_batch' } } } }),
      'shared_expert.gated': (m: ModelConfig): ModelConfig => ({ ...m, moe: { ...m.moe, shared: { ...m.moe.shared!, gated: true } } }),
      'model.tie_embeddings': (m: ModelConfig): ModelConfig => ({ ...m, tieEmbeddings: false }),
    },
  },
} as const;

/** Cases `check` refuses with a located error: a model block and the key the caret must point at. */
const REFUSALS = {
  // Only expert.* matrices are decomposed (docs: spectral, targets).
  shared_target: { model: 'moe { experts 4  top_k 2  expert_hidden 16 }  spectral { targets expert.up, shared.up  rank 2 }', at: 'shared.up' },
  // The gate matrix does not exist for a non-gated activation.
  gate_target_ungated: { model: 'moe { experts 4  top_k 2  expert_hidden 16  activation gelu }  spectral { targets expert.gate  rank 2 }', at: 'expert.gate' },
  // The MoE kernels' limits (docs: router, Limits).
  too_many_experts: { model: 'moe { experts 4096  top_k 2  expert_hidden 16 }', at: '4096' },
  top_k_past_limit: { model: 'moe { experts 128  top_k 65  expert_hidden 16 }', at: '65' },
  too_many_groups: { model: 'moe { experts 1024  top_k 2  expert_hidden 16  router { groups 512 } }', at: '512' },
} as const;

/** option → probe. Every row is one documented option (docs/options.md is this table for readers). */
const PROBES: Record<string, Probe[]> = {
  'model.vocab': [dev('shapes_and_routing')],
  'model.dim': [dev('shapes_and_routing')],
  'model.layers': [dev('shapes_and_routing')],
  'model.max_seq': [t('test/config/semantic.test.ts', 'checks seq_len against max_seq in train and eval')],
  'model.dense_layers': [dev('shapes_and_routing')],
  'model.dense_hidden': [dev('shapes_and_routing')],
  'model.tie_embeddings': [dev('shapes_and_routing'), t('test/autodiff/model.test.ts', 'variant: tied embeddings, a dense first layer, unnormalised sigmoid routing, ungated shared expert')],
  'model.init_std': [dev('shapes_and_routing')],
  'model.attention': [{ kind: 'block', section: 'attention' }],
  'model.norm': [{ kind: 'block', section: 'norm' }],
  'model.moe': [{ kind: 'block', section: 'moe' }],
  'model.spectral': [{ kind: 'block', section: 'spectral' }, t('test/config/semantic.test.ts', 'turns spectral off in one line, as value or bare switch, and back on')],

  'attention.heads': [dev('shapes_and_routing'), t('test/config/semantic.test.ts', 'checks heads against dim and top_k against experts')],
  'attention.kv_heads': [dev('shapes_and_routing')],
  'attention.head_dim': [dev('shapes_and_routing')],
  'attention.rope_theta': [dev('shapes_and_routing')],

  'norm.rmsnorm': [dev('shapes_and_routing'), t(E2E, ': whole training step')],
  'norm.layernorm': [t(E2E, ': whole training step'), t('test/cli/norm-activation.test.ts', ': trains 12 steps, the loss falls')],

  'moe.experts': [dev('shapes_and_routing'), t('test/codegen/routing-scale.test.ts', '256 experts top-8, 8 groups top-4, aux-loss-free bias (DeepSeek-V3 routing)'), { kind: 'refused', case: 'too_many_experts' }],
  'moe.top_k': [dev('shapes_and_routing'), t('test/codegen/routing-scale.test.ts', '64 experts top-12 (the paper-scale DeepSeek-shaped config)'), { kind: 'refused', case: 'top_k_past_limit' }],
  'moe.expert_hidden': [dev('shapes_and_routing')],
  'moe.segments': [t('test/config/semantic.test.ts', 'fine-grained segments multiply experts and top_k and divide the hidden size'), t('test/config/moe-limits.test.ts', 'refuses too many experts at the experts key (or at segments when they multiply past it)')],
  'moe.activation': [t(E2E, ': whole training step')],
  'moe.swiglu': [dev('shapes_and_routing'), t(E2E, 'MoE tiny model, whole training step (backward, clipping, AdamW)')],
  'moe.geglu': [t(E2E, ': whole training step')],
  'moe.gelu': [t(E2E, ': whole training step'), t('test/cli/norm-activation.test.ts', ': trains 12 steps, the loss falls')],
  'moe.relu': [t(E2E, ': whole training step')],
  'moe.silu': [t(E2E, ': whole training step')],
  'moe.capacity': [dev('shapes_and_routing'), t(E2E, 'MoE tiny model with a capacity factor (dropped assignments), whole training step')],
  'moe.shared_expert': [dev('shapes_and_routing'), t(E2E, 'MoE tiny model, whole training step (backward, clipping, AdamW)')],
  'moe.router': [{ kind: 'block', section: 'router' }],
  'moe.count': [dev('shapes_and_routing')],
  'moe.hidden': [dev('shapes_and_routing')],
  'moe.gated': [dev('shapes_and_routing'), t(E2E, 'MoE tiny model, whole training step (backward, clipping, AdamW)')],

  'router.score': [dev('shapes_and_routing'), t('test/codegen/routing-scale.test.ts', '256 experts top-8, 8 groups top-4, aux-loss-free bias (DeepSeek-V3 routing)')],
  'router.normalize_top_k': [dev('shapes_and_routing'), t('test/config/semantic.test.ts', 'sigmoid scores normalise top-k by default, softmax scores do not')],
  'router.aux_loss': [
    dev('shapes_and_routing'),
    t('test/train/grad-accum.test.ts', 'aux_loss scope = global: f_e over the global batch (counting pass), 3 micro-batches'),
    t('test/train/grad-accum.test.ts', 'aux_loss scope = micro_batch differs from global with grad_accum > 1: the mean of per-micro-batch losses'),
  ],
  'router.z_loss': [dev('shapes_and_routing'), t('test/train/grad-accum.test.ts', 'MoE model without balance loss (z-loss only), 3 micro-batches')],
  'router.groups': [t('test/codegen/routing-scale.test.ts', '256 experts top-8, 8 groups top-4, aux-loss-free bias (DeepSeek-V3 routing)'), { kind: 'refused', case: 'too_many_groups' }],
  'router.top_groups': [t('test/codegen/routing-scale.test.ts', '256 experts top-8, 8 groups top-4, aux-loss-free bias (DeepSeek-V3 routing)')],
  'router.routed_scale': [dev('shapes_and_routing'), t('test/codegen/routing-scale.test.ts', '256 experts top-8, 8 groups top-4, aux-loss-free bias (DeepSeek-V3 routing)')],
  'router.aux_free_bias': [
    t('test/codegen/routing-scale.test.ts', '256 experts top-8, 8 groups top-4, aux-loss-free bias (DeepSeek-V3 routing)'),
    t('test/codegen/routing-scale.test.ts', 'the bias moves towards balance, is not trained, and changes the choice but not the weights'),
  ],

  'spectral.targets': [
    t(E2E, 'spectral'),
    t('test/codegen/sd.test.ts', 'matches the interpreter with'),
    { kind: 'refused', case: 'shared_target' },
    { kind: 'refused', case: 'gate_target_ungated' },
  ],
  'spectral.rank': [t('test/codegen/sd.test.ts', 'matches the interpreter with'), t('test/config/semantic.test.ts', 'checks the spectral rank against the smallest decomposed matrix')],
  'spectral.rebase': [t('test/train/sd.test.ts', 'writes a spectral line at every re-basing, log step or not, per SD matrix'), t('test/train/sd.test.ts', 'resumes exactly across a re-basing')],
  'spectral.init': [t('test/sd/init.test.ts', "every proxy W_c + W_u(e) has exactly the dense draw's singular values"), t('test/sd/init.test.ts', 'every unique matrix lies in the double complement')],
  'spectral.residual': [
    t('test/sd/rebase.test.ts', "'fold' keeps every proxy W_c + W_u(e) unchanged and leaves W_c at rank r"),
    t('test/sd/rebase.test.ts', "'keep' leaves W_c and W_u untouched"),
    t('test/sd/rebase.test.ts', "'discard' truncates W_c to its rank-r part and leaves W_u untouched"),
  ],
  'spectral.reproject': [t('test/sd/rebase.test.ts', 'reproject changes each proxy by exactly the reported removed part')],
  'spectral.moments': [t('test/autodiff/sd-update.test.ts', 'moments reset: only W_c and W_u get resetEvery')],
  'spectral.project': [t('test/codegen/sd-update.test.ts', 'keeps W_u in the double complement and W_c moving inside the common space over 60 steps; project gradient leaks')],
  'spectral.common_grad': [t('test/codegen/sd-update.test.ts', 'a whole step matches the interpreter (${layout}, common_grad ${commonGrad}, rank ${rank}')],

  'train.data': [t('test/train/train.test.ts', 'trains: the loss falls and the run reports validation bits per byte'), t('test/data/corpus.test.ts', 'reads every .txt/.md file recursively, sorted by relative path, decoded and normalised')],
  'train.tokenizer': [t(EVAL, 'probes every documented value of split, batches, metrics and tokenizer')],
  'train.seq_len': [t('test/config/semantic.test.ts', 'checks seq_len against max_seq in train and eval'), t(EVAL, 'logs exactly the named metrics, over batches × batch × seq_len tokens')],
  'train.batch': [t('test/train/grad-accum-run.test.ts', "step 1 of grad_accum 2 × batch 4 sees batch 8's sequences: the same cross-entropy")],
  'train.grad_accum': [t('test/train/grad-accum.test.ts', 'plans the micro-batch before the update, with one accumulator per gradient slab'), t('test/train/grad-accum-run.test.ts', 'grad_accum 2 on SD-MoE with global balancing: optimizer steps, re-basing, resume equals the uninterrupted run')],
  'train.steps': [t(EVAL, 'records the tokenizer kind, and learns from the uniform loss ln(vocab)')],
  'train.seed': [t('test/train/train.test.ts', 'follows the blessed fixed-seed loss curve')],
  'train.optimizer': [
    t(E2E, 'MoE tiny model, whole training step (backward, clipping, AdamW)'),
    t('test/codegen/optimizers.test.ts', 'adam is AdamW with weight decay 0 everywhere, and trains'),
    t('test/codegen/optimizers.test.ts', 'sgd(momentum 0.9, weight_decay 0.01): whole training step, slab path'),
    t('test/train/grad-accum-run.test.ts', 'optimizer sgd trains and checkpoints its momentum buffers'),
  ],
  'train.clip_grad': [t(E2E, 'MoE tiny model, whole training step (backward, clipping, AdamW)'), t('test/config/options-walk.test.ts', 'optimizer arguments and clip_grad reach the compiled step: flipping each changes the updated params')],
  'train.schedule': [t('test/config/options-walk.test.ts', 'schedule cosine, linear and constant: warm-up, then the documented decay to min_lr_ratio × lr')],
  'train.eval': [t(EVAL, 'logs exactly the named metrics, over batches × batch × seq_len tokens')],
  'train.eval_batches': [t('test/config/eval-block.test.ts', "refuses the train block's eval_batches beside an eval block, in the file or by --set"), t('test/config/options-walk.test.ts', 'eval_batches without an eval block is the batches of the evaluation during run'), t(EVAL, 'scores as many batches as --batches says, all meaning every window of the (test) split')],
  'train.checkpoint': [t(EVAL, 'records the tokenizer kind, and learns from the uniform loss ln(vocab)'), t('test/train/train.test.ts', 'resumes exactly: interrupted at step 15 and resumed, the curve equals the uninterrupted one')],
  'train.log': [t(EVAL, 'records the tokenizer kind, and learns from the uniform loss ln(vocab)')],
  'train.divergence': [t('test/cli/divergence.test.ts', 'exits 1 at an early step with the reason, the last good checkpoint and how to resume'), t('test/config/experiment.test.ts', 'reads divergence off and rejects out-of-range thresholds')],
  'train.uniform_factor': [t('test/metrics/guard.test.ts', 'fires the uniform-loss rule at step 2')],
  'train.factor': [t('test/metrics/guard.test.ts', 'fires on the demo blow-up: above-uniform at step 3, and the relative rule alone at step 5')],
  'train.patience': [t('test/metrics/guard.test.ts', 'forgives spikes shorter than patience, then fires when one persists')],
  'train.ema': [t('test/metrics/guard.test.ts', 'builds options from the train block and rejects nonsensical ones'), t('test/metrics/guard.test.ts', 'never trips on healthy noisy curves, from step 1, for many seeds')],

  'eval.data': [t(EVAL, 'shows every eval key acting'), t(EVAL, "runs another file's eval block: its data, shape and metrics, scored with the byte tokenizer")],
  'eval.split': [t(EVAL, 'probes every documented value of split, batches, metrics and tokenizer')],
  'eval.batches': [t(EVAL, 'scores as many batches as --batches says, all meaning every window of the (test) split')],
  'eval.batch': [t(EVAL, 'logs exactly the named metrics, over batches × batch × seq_len tokens')],
  'eval.seq_len': [t(EVAL, 'logs exactly the named metrics, over batches × batch × seq_len tokens'), t('test/config/semantic.test.ts', 'checks seq_len against max_seq in train and eval')],
  'eval.metrics': [t(EVAL, 'probes every documented value of split, batches, metrics and tokenizer')],

  'experiment.arm': [t('test/config/experiment.test.ts', "enumerates cells whose overrides, given to --set, produce the cell's settings"), t('test/config/experiment.test.ts', 'locates a typo in an arm and a bad sweep value inside the block')],
  'experiment.sweep': [t('test/experiment/grid.test.ts', 'expands models/sd_experiment.moe into the 45 cells its header states')],
  'experiment.baseline': [t('test/experiment/grid.test.ts', 'pairs each cell with the baseline of the same seed and learning rate')],
  'experiment.seeds': [t('test/config/experiment.test.ts', 'normalises arms, sweeps, seeds and defaults'), t('test/experiment/grid.test.ts', '--only, steps, seeds and checkpointing reach every cell; an unknown arm is a user error')],
  'experiment.steps': [t('test/experiment/grid.test.ts', '--only, steps, seeds and checkpointing reach every cell; an unknown arm is a user error')],
  'experiment.eval_batches': [t('test/experiment/experiment.test.ts', 'each finished cell has a held-out score, a loss curve and the settings it was trained with')],
  'experiment.metrics': [t('test/config/options-walk.test.ts', 'experiment metrics pick what results.md reports: each optional column or diagnostic only when named'), t('test/experiment/experiment.test.ts', 'writes results.json, results.md and a self-contained report.html with every cell')],
};

/** Call arguments documented in the meaning cells (`name(arg, …)`): `key.call.arg` → probe. */
const ARG_PROBES: Record<string, Probe[]> = {
  ...Object.fromEntries(
    ['adamw.lr', 'adamw.betas', 'adamw.eps', 'adamw.weight_decay', 'adam.lr', 'adam.betas', 'adam.eps', 'sgd.lr', 'sgd.momentum', 'sgd.weight_decay'].map((a) => [
      `train.optimizer.${a}`,
      [t('test/config/options-walk.test.ts', 'optimizer arguments and clip_grad reach the compiled step: flipping each changes the updated params')],
    ]),
  ),
  ...Object.fromEntries(
    ['cosine.warmup', 'cosine.min_lr_ratio', 'linear.warmup', 'linear.min_lr_ratio', 'constant.warmup'].map((a) => [
      `train.schedule.${a}`,
      [t('test/config/options-walk.test.ts', 'schedule cosine, linear and constant: warm-up, then the documented decay to min_lr_ratio × lr')],
    ]),
  ),
  // The device group has aux_loss off; its sensitivity check turns it on (coef 0.5) and the loss moves.
  'router.aux_loss.load_balance.coef': [dev('shapes_and_routing'), t(E2E, 'MoE tiny model (gated shared expert, aux losses), forward'), t(E2E, 'MoE tiny model, whole training step (backward, clipping, AdamW)')],
  'router.aux_loss.load_balance.scope': [t('test/train/grad-accum.test.ts', 'aux_loss scope = global: f_e over the global batch (counting pass), 3 micro-batches')],
};

/** One interpreted optimizer step (step 3, so Adam's bias correction depends on the betas) of the tiny model compiled with `train`'s optimizer options: every updated param. */
function interpretedUpdate(train: TrainConfig): Float64Array {
  const m = tinyModel();
  const g = runPasses(lowerModel(m, { batch: 2, seqLen: 8 }), TRAINING_PIPELINE, { optimizer: optimizerOptions(train, m) });
  const rng = new Rng(12).fork('walk-opt');
  const inputs: Record<string, Int32Array | Float64Array> = {};
  for (const node of topoOrder(g)) {
    if (node.op !== 'input' || node.attrs.name.startsWith('optimizer.')) continue;
    const n = node.types[0].shape.reduce((a: number, b: number) => a * b, 1);
    inputs[node.attrs.name] = Int32Array.from({ length: n }, () => rng.nextInt(m.vocab));
  }
  // The trainer feeds lr from the schedule with the optimizer's lr as the peak.
  const lr = learningRate(3, train.steps, train.optimizer.lr, train.schedule);
  // Optimizer state (by role) starts non-zero, as mid-run: SGD's first step from a zero buffer is
  // momentum-free (PyTorch's buf = d), which would hide the momentum.
  const params = initParams(g, 3);
  for (const node of topoOrder(g)) if (node.op === 'param' && (node.attrs.role?.kind === 'momentum' || node.attrs.role?.kind === 'adam')) params[node.attrs.name].fill(0.01);
  const out = interpretGraph(g, { inputs: { ...inputs, 'optimizer.lr': Float64Array.of(lr), 'optimizer.step': Int32Array.of(3) }, params });
  return Float64Array.from(Object.keys(out).filter((k) => k.startsWith('update.')).sort().flatMap((k) => [...(out[k] as Float64Array)]));
}

function sdmoec(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/sdmoec.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The interpreted forward loss of `m` on fixed tokens and params (params by name, so options that
 *  change no shape see the same weights, except init_std, which draws them). */
function interpretedLoss(m: ModelConfig): number {
  const g = lowerModel(m, { batch: 2, seqLen: 8 });
  const rng = new Rng(11).fork('walk');
  const inputs: Record<string, Int32Array | Float64Array> = {};
  for (const node of topoOrder(g)) {
    if (node.op !== 'input') continue;
    const n = node.types[0].shape.reduce((a: number, b: number) => a * b, 1);
    inputs[node.attrs.name] = node.attrs.dtype === 'i32' ? Int32Array.from({ length: n }, () => rng.nextInt(m.vocab)) : Float64Array.from({ length: n }, () => rng.nextFloat());
  }
  return (interpretGraph(g, { inputs, params: initParams(g, 3) }).loss as Float64Array)[0];
}

describe('docs/language.md: every documented option trains, is tested, or is refused by check', () => {
  const documented = documentedOptions(DOCS);

  it('has a probe for every documented option and none for an undocumented one', () => {
    expect(documented.size).toBeGreaterThan(70);
    expect([...documented.keys()].sort()).toEqual(Object.keys(PROBES).sort());
    for (const [option, probes] of Object.entries(PROBES)) expect(probes.length, option).toBeGreaterThan(0);
    // docs/options.md (the readers' copy of this table) has a row for every option.
    const table = readFileSync(join(ROOT, 'docs/options.md'), 'utf8');
    for (const option of Object.keys({ ...PROBES, ...ARG_PROBES })) expect(table, option).toContain(`| \`${option}\` |`);
  });

  it('every pointed-to test exists: the file has a test whose title holds the given text', () => {
    for (const [option, probes] of Object.entries({ ...PROBES, ...ARG_PROBES })) {
      for (const p of probes) {
        if (p.kind === 'block') expect(documented.has(`model.${p.section}`) || documented.has(`moe.${p.section}`), option).toBe(true);
        if (p.kind !== 'test') continue;
        const text = readFileSync(join(ROOT, p.file), 'utf8');
        const titled = text.replace(/\\'/g, "'").split('\n').filter((l) => /\b(it|it\.each\([^)]*\)|describe)\(/.test(l) && l.includes(p.test));
        expect(titled.length, `${option}: ${p.file} has a test titled …${p.test}…`).toBeGreaterThan(0);
      }
    }
  });

  it('every documented value of the enumerated keys is probed (norms, activations, scores, optimizers, schedules, SD choices)', () => {
    // Values named in each key's meaning cell as `value` or `value(`; the probes above cover them
    // through the key's row (a device group or a named test walking the values).
    const values = (option: string): string[] => [...new Set([...documented.get(option)!.split(' | ')[0].matchAll(/`([a-z_]+)(?:`|\()/g)].map((m) => m[1]))].sort();
    expect(values('moe.activation')).toEqual(['geglu', 'gelu', 'relu', 'silu', 'swiglu']);
    for (const a of values('moe.activation')) expect(PROBES[`moe.${a}`], a).toBeDefined();
    expect(values('router.score')).toEqual(['sigmoid', 'softmax']);
    expect(values('spectral.init')).toEqual(['orthogonal_complement', 'truncated_svd']);
    expect(values('spectral.residual')).toEqual(['discard', 'fold', 'keep']);
    expect(values('spectral.moments')).toEqual(['keep', 'reset']);
    expect(values('spectral.project')).toEqual(['gradient', 'update']);
    expect(values('spectral.common_grad')).toEqual(['mean', 'sum']);
    expect(values('train.optimizer')).toEqual(['adam', 'adamw', 'sgd']);
    expect(values('train.schedule')).toEqual(['constant', 'cosine', 'linear']);
    expect(values('train.data')).toEqual(['gutenberg', 'path']);
    expect(values('train.tokenizer')).toEqual(['bpe', 'byte']);
    // The probes named for these keys walk exactly those values: each residual has its own test,
    // the init test and common_grad test iterate both values, the optimizer row names all three.
    expect(PROBES['spectral.residual'].map((p) => (p.kind === 'test' ? p.test.split("'")[1] : '')).sort()).toEqual(values('spectral.residual'));
    expect(readFileSync(join(ROOT, 'test/sd/init.test.ts'), 'utf8')).toContain("['orthogonal_complement', 'truncated_svd']");
    expect(readFileSync(join(ROOT, 'test/codegen/sd-update.test.ts'), 'utf8')).toContain("['sum', 'mean']");
  });

  it('documents exactly the call arguments probed (optimizer, schedule, aux_loss)', () => {
    const args: string[] = [];
    for (const option of ['train.optimizer', 'train.schedule', 'router.aux_loss']) {
      for (const m of documented.get(option)!.split(' | ')[0].matchAll(/`([a-z_]+)\(([^)`]*)\)`/g)) for (const a of m[2].split(',')) args.push(`${option}.${m[1]}.${a.trim()}`);
    }
    expect(args.sort()).toEqual(Object.keys(ARG_PROBES).sort());
  });

  it('optimizer arguments and clip_grad reach the compiled step: flipping each changes the updated params', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sdmoec-optwalk-')), 'opt.moe');
    writeFileSync(file, 'model m { vocab 300  dim 32  layers 1  max_seq 16  moe { experts 4  top_k 2  expert_hidden 16 } }\ntrain m { seq_len 16  steps 100  clip_grad off  schedule constant(warmup = 0) }\n');
    const train = loadConfig(file).config.train!;
    rmSync(join(file, '..'), { recursive: true, force: true });
    const opt = (o: Partial<TrainConfig['optimizer']>, extra: Partial<TrainConfig> = {}): TrainConfig => ({ ...train, ...extra, optimizer: { ...train.optimizer, ...o } });
    const adamw = opt({ kind: 'adamw', lr: 1e-2, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
    const sgd = opt({ kind: 'sgd', lr: 1e-1, momentum: 0.9, weightDecay: 0.01 });
    const differs = (a: TrainConfig, b: TrainConfig, what: string): void => {
      const [x, y] = [interpretedUpdate(a), interpretedUpdate(b)];
      expect(x.length, what).toBe(y.length);
      expect(x.some((v, i) => Math.abs(v - y[i]) > 1e-7 * Math.max(1, Math.abs(v))), `${what} changes the update`).toBe(true);
    };
    differs(adamw, { ...adamw, optimizer: { ...adamw.optimizer, lr: 2e-2 } }, 'adamw lr');
    differs(adamw, { ...adamw, optimizer: { ...adamw.optimizer, betas: [0.5, 0.95] } }, 'adamw beta1');
    differs(adamw, { ...adamw, optimizer: { ...adamw.optimizer, betas: [0.9, 0.5] } }, 'adamw beta2');
    differs(adamw, { ...adamw, optimizer: { ...adamw.optimizer, eps: 1e-1 } }, 'adamw eps');
    differs(adamw, { ...adamw, optimizer: { ...adamw.optimizer, weightDecay: 0 } }, 'adamw weight_decay');
    differs(adamw, { ...adamw, clipGrad: 1e-3 }, 'clip_grad');
    differs(sgd, { ...sgd, optimizer: { ...sgd.optimizer, lr: 2e-1 } }, 'sgd lr');
    differs(sgd, { ...sgd, optimizer: { ...sgd.optimizer, weightDecay: 0.5 } }, 'sgd weight_decay');
    differs(sgd, { ...sgd, optimizer: { ...sgd.optimizer, momentum: 0 } }, 'sgd momentum');
    // adam(lr, betas, eps) is adamw with weight decay 0: the same step.
    const adam = opt({ kind: 'adam', lr: 1e-2, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0 });
    expect([...interpretedUpdate(adam)]).toEqual([...interpretedUpdate({ ...adamw, optimizer: { ...adamw.optimizer, weightDecay: 0 } })]);
    differs(adam, { ...adam, optimizer: { ...adam.optimizer, betas: [0.5, 0.95] } }, 'adam betas');
  });

  it('schedule cosine, linear and constant: warm-up, then the documented decay to min_lr_ratio × lr', () => {
    const peak = 1e-3;
    for (const kind of ['cosine', 'linear', 'constant'] as const) {
      const s = { kind, warmup: 10, minLrRatio: 0.1 };
      // Linear warm-up to the peak over `warmup` steps.
      expect(learningRate(5, 110, peak, s)).toBeCloseTo(peak / 2, 12);
      expect(learningRate(10, 110, peak, s)).toBeCloseTo(peak, 12);
      const mid = learningRate(60, 110, peak, s);
      const end = learningRate(110, 110, peak, s);
      if (kind === 'constant') expect([mid, end]).toEqual([peak, peak]);
      else {
        // Both reach min_lr_ratio × lr at the last step and are half-way at half the decay.
        expect(end).toBeCloseTo(0.1 * peak, 12);
        expect(mid).toBeCloseTo(0.55 * peak, 12);
      }
    }
    // Cosine and linear differ in between: a quarter into the decay, cos gives 0.5(1 + cos(π/4)).
    expect(learningRate(35, 110, peak, { kind: 'cosine', warmup: 10, minLrRatio: 0 })).toBeCloseTo(peak * 0.5 * (1 + Math.SQRT1_2), 12);
    expect(learningRate(35, 110, peak, { kind: 'linear', warmup: 10, minLrRatio: 0 })).toBeCloseTo(peak * 0.75, 12);
  });

  for (const [name, group] of Object.entries(GROUPS)) {
    it(`device group ${name}: a whole training step matches the interpreter for 2 steps`, async () => {
      const g = runPasses(lowerModel(group.model, { batch: 2, seqLen: 8 }), TRAINING_PIPELINE);
      const r = await checkTrainingOnDevice(await testExecutor(), g, { seed: 41, intBound: group.model.vocab, tolerance: { atol: 1e-4, rtol: 1e-3 }, steps: 2, lr: 1e-2 });
      expect(r.ok, r.report).toBe(true);
      // The tied head really is the embedding: no separate lm_head param.
      const params = topoOrder(g).filter((n) => n.op === 'param').map((n) => n.attrs.name as string);
      expect(params).not.toContain('lm_head');
      expect(params.some((p) => p.includes('shared'))).toBe(true);
    }, 300_000);

    it(`device group ${name}: every option that changes no shape changes the interpreted loss`, () => {
      const ref = interpretedLoss(group.model);
      expect(Number.isFinite(ref)).toBe(true);
      for (const [option, flip] of Object.entries(group.sensitive)) {
        expect(PROBES[option] ?? PROBES[`moe.${option.split('.')[1]}`], option).toBeDefined();
        const other = interpretedLoss(flip(group.model));
        expect(Math.abs(other - ref), `${option} changes the loss`).toBeGreaterThan(1e-6);
      }
    });
  }

  it('eval_batches without an eval block is the batches of the evaluation during run', () => {
    const work = mkdtempSync(join(tmpdir(), 'sdmoec-optwalk-'));
    try {
      const file = join(work, 'eb.moe');
      writeFileSync(file, 'model m { vocab 300  dim 32  layers 1  max_seq 16  moe { experts 4  top_k 2  expert_hidden 16 } }\ntrain m { seq_len 16  batch 3  eval_batches 5 }\n');
      const { config } = loadConfig(file);
      // The trainer evaluates with implicitEval(train) when the file has no eval block.
      expect(config.eval).toBeNull();
      expect(implicitEval(config.train!)).toMatchObject({ batches: 5, batch: 3, seqLen: 16, split: 'validation' });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('experiment metrics pick what results.md reports: each optional column or diagnostic only when named', () => {
    const exp = loadConfig(join(ROOT, 'test/config/experiment-example.moe')).config.experiment!;
    const md = (metrics: ExperimentMetric[]): string => resultsMarkdown({ exp: { ...exp, metrics }, file: 'x.moe', groups: [], results: [], totalCells: 0 });
    // The summary table's header (the per-cell table below it always lists loss and tokens/s).
    const header = (text: string): string => text.split('\n').find((l) => l.startsWith('| arm / setting | bits/byte'))!;
    const columns: Record<string, string> = { loss: '| held-out loss |', perplexity: '| perplexity |', load_imbalance: '| load imbalance |', tokens_per_s: '| tokens/s |' };
    const documentedMetrics = [...documented.get('experiment.metrics')!.split(' | ')[0].matchAll(/`([a-z_]+)`/g)].map((m) => m[1]).filter((m) => m !== 'metrics');
    expect(documentedMetrics.sort()).toEqual([...EXPERIMENT_METRICS].sort());
    for (const m of documentedMetrics) {
      const named = md([m as ExperimentMetric]);
      const others = md(documentedMetrics.filter((o) => o !== m) as ExperimentMetric[]);
      // bits/byte is always reported (the held-out score the paired differences are taken on).
      if (m === 'bits_per_byte') expect(named).toContain('| bits/byte (seed spread) |');
      else if (m in columns) expect([header(named).includes(columns[m]), header(others).includes(columns[m])], m).toEqual([true, false]);
      // Diagnostics are read from the cells' eval lines by name; with no cell finished, a named one is reported missing.
      else expect([named.includes(`Not logged by any finished cell: ${m}`), others.includes(m)], m).toEqual([true, false]);
    }
  });

  it('check refuses each documented refusal with a located error and exit 1', () => {
    const work = mkdtempSync(join(tmpdir(), 'sdmoec-optwalk-'));
    try {
      // One `check` of every file (it checks each and fails if any fails): one spawn, exit 1.
      const files = Object.entries(REFUSALS).map(([name, c]) => {
        const body = `model m {\n  vocab 300  dim 32  layers 1  max_seq 16\n  ${c.model}\n}\n`;
        const file = join(work, `${name}.moe`);
        writeFileSync(file, body);
        return { name, file, col: body.split('\n')[2].indexOf(c.at) + 1 };
      });
      const r = sdmoec('check', ...files.map((f) => f.file));
      expect(r.code, r.stdout + r.stderr).toBe(1);
      for (const f of files) expect(r.stderr + r.stdout, f.name).toContain(`${f.file}:3:${f.col}: error:`);
      expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 120_000);
});
