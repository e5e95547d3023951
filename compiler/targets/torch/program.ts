// The torch target's program object: everything `templates/torch/*.py.hbs` print, decided here
// from the normalised config and the forward IR, so the templates hold no logic beyond Handlebars'
// built-in blocks. Parameters (names, shapes, init, roles) are read from the same forward graph the
// WebGPU engine lowers (compiler/lower/model.ts), by typed role, so the PyTorch module has exactly
// the project's parameter names and checkpoints move both ways; optimizer settings come from the
// same `optimizerOptions` the optimizer pass uses (weight decay on rank ≥ 2 params only, as there).
// Invariant: every value a template prints is already a Python literal (numbers via pyNumber,
// strings via JSON, booleans True/False), so rendering can never produce invalid Python.
import type { ModelConfig, TrainConfig } from '../../config/types.ts';
import { topoOrder } from '../../ir/graph.ts';
import type { ParamRole } from '../../ir/types.ts';
import { lowerModel } from '../../lower/model.ts';
import { optimizerOptions } from '../../pipeline.ts';

/** A finite number as a Python float or int literal (JS and Python agree on `1e-8`, `0.001`, `10000`). */
export function pyNumber(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`torch target: cannot print non-finite number ${x}`);
  return String(x);
}
const pyBool = (b: boolean): string => (b ? 'True' : 'False');
const pyString = (s: string): string => JSON.stringify(s);

export type TorchParamKind = 'dense' | 'experts' | 'sd_common' | 'sd_unique' | 'sd_basis';

export interface TorchParam {
  readonly name: string;
  readonly nameLiteral: string;
  /** Python tuple body, e.g. `4, 64, 128,`. */
  readonly shape: string;
  readonly initLiteral: string;
  readonly std: string;
  /** AdamW's decoupled weight decay applies (matrices only, as in compiler/passes/optimizer.ts). */
  readonly decay: string;
  readonly kind: TorchParamKind;
  readonly kindLiteral: string;
  /** The SD matrix this param belongs to (`None` for others). */
  readonly targetLiteral: string;
}

export interface TorchSdMatrix {
  readonly targetLiteral: string;
  readonly commonLiteral: string;
  readonly uniqueLiteral: string;
  readonly ukLiteral: string;
  readonly vkLiteral: string;
  readonly rows: number;
  readonly cols: number;
  readonly std: string;
}

export interface TorchProgram {
  readonly source: string;
  readonly model: {
    readonly name: string;
    readonly nameLiteral: string;
    readonly vocab: number;
    readonly dim: number;
    readonly layers: number;
    readonly denseLayers: number;
    readonly denseHidden: number;
    readonly heads: number;
    readonly kvHeads: number;
    readonly headDim: number;
    readonly ropeTheta: string;
    readonly normEps: string;
    readonly experts: number;
    readonly topK: number;
    readonly expertHidden: number;
    readonly scoreLiteral: string;
    readonly normalizeTopK: string;
    readonly routedScale: string;
    readonly capacityFactor: string;
    readonly sharedHidden: number;
    readonly hasShared: boolean;
    readonly sharedGated: boolean;
    readonly loadBalanceCoef: string;
    readonly loadBalanceGlobal: string;
    readonly hasLoadBalance: boolean;
    readonly zLossCoef: string;
    readonly hasZLoss: boolean;
    readonly initStd: string;
    readonly tieEmbeddings: boolean;
  };
  readonly spectral: {
    readonly summary: string;
    readonly rank: number;
    readonly rebaseEvery: number;
    readonly initLiteral: string;
    readonly residualLiteral: string;
    readonly reproject: string;
    readonly momentsReset: string;
    readonly projectUpdate: string;
    readonly meanCommon: string;
    /** The same two choices as booleans, for the templates' {{#if}} (a Python literal 'False' is truthy). */
    readonly isProjectUpdate: boolean;
    readonly isMeanCommon: boolean;
  } | null;
  /** `project update`: the AdamW step of W_c / W_u is projected before it is applied. */
  readonly sdProjectUpdate: boolean;
  readonly params: readonly TorchParam[];
  readonly sdMatrices: readonly TorchSdMatrix[];
  readonly train: {
    readonly configHashLiteral: string;
    readonly seqLen: number;
    readonly batch: number;
    readonly steps: number;
    readonly seed: number;
    readonly lr: string;
    readonly beta1: string;
    readonly beta2: string;
    readonly eps: string;
    readonly weightDecay: string;
    readonly clipGrad: string;
    readonly scheduleLiteral: string;
    readonly warmup: number;
    readonly minLrRatio: string;
    readonly evalEvery: number;
    readonly evalBatches: number;
    readonly checkpointEvery: number;
    readonly logEvery: number;
    readonly resetEvery: number;
  };
}

export class TorchTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TorchTargetError';
  }
}

function kindOf(role: ParamRole | undefined): TorchParamKind {
  if (role?.kind === 'experts') return 'experts';
  if (role?.kind === 'sd') return role.part === 'common' ? 'sd_common' : role.part === 'unique' ? 'sd_unique' : 'sd_basis';
  return 'dense';
}

/**
 * The program object of a model and its train block. Refuses (TorchTargetError) what the training
 * engine refuses: the forward graph's lowering (unsupported model features, as LoweringError), sgd
 * and grad_accum > 1, so both targets train the same set of models.
 */
export function torchProgram(model: ModelConfig, train: TrainConfig, opts: { source: string; configHash: string }): TorchProgram {
  // What the WebGPU engine trains but model.py / train.py do not implement yet: refused by name,
  // never emitted as a package that would silently train something else.
  const missing: string[] = [];
  if (model.norm.kind !== 'rmsnorm') missing.push(`norm ${model.norm.kind}`);
  if (model.moe.activation !== 'swiglu') missing.push(`activation ${model.moe.activation}`);
  if (model.moe.router.groups > 1) missing.push('group-limited routing (router groups)');
  if (model.moe.router.auxFreeBias) missing.push('aux_free_bias');
  if (train.optimizer.kind === 'sgd') missing.push('optimizer sgd');
  if (train.gradAccum !== 1) missing.push(`grad_accum ${train.gradAccum}`);
  if (missing.length > 0) throw new TorchTargetError(`the torch target does not implement ${missing.join(', ')} yet (the WebGPU engine does: sdmoec run)`);
  const forward = lowerModel(model, { batch: train.batch, seqLen: train.seqLen });
  const opt = optimizerOptions(train, model);
  const params: TorchParam[] = [];
  const sd = new Map<string, Map<string, { name: string; shape: readonly number[]; std: number }>>();
  for (const node of topoOrder(forward)) {
    if (node.op !== 'param') continue;
    const { name, shape, init, role } = node.attrs;
    const kind = kindOf(role);
    const std = init.kind === 'normal' ? init.std : 0;
    params.push({
      name,
      nameLiteral: pyString(name),
      shape: shape.map((d) => `${d},`).join(' '),
      initLiteral: pyString(init.kind),
      std: pyNumber(std),
      // SD bases are never trained; everything else follows the optimizer pass's rule.
      decay: pyBool(kind !== 'sd_basis' && (shape.length >= 2 || opt.decayVectors) && opt.weightDecay > 0),
      kind,
      kindLiteral: pyString(kind),
      targetLiteral: role?.kind === 'sd' ? pyString(role.target) : 'None',
    });
    if (role?.kind === 'sd') sd.set(role.target, (sd.get(role.target) ?? new Map()).set(role.part, { name, shape, std }));
  }
  const sdMatrices: TorchSdMatrix[] = [...sd].map(([target, parts]) => {
    const get = (part: string) => {
      const p = parts.get(part);
      if (!p) throw new TorchTargetError(`SD matrix ${target} lacks its ${part} param`);
      return p;
    };
    const common = get('common');
    return {
      targetLiteral: pyString(target),
      commonLiteral: pyString(common.name),
      uniqueLiteral: pyString(get('unique').name),
      ukLiteral: pyString(get('basis_u').name),
      vkLiteral: pyString(get('basis_v').name),
      rows: common.shape[0],
      cols: common.shape[1],
      std: pyNumber(common.std),
    };
  });
  const moe = model.moe;
  const s = model.spectral;
  return {
    source: opts.source,
    model: {
      name: model.name,
      nameLiteral: pyString(model.name),
      vocab: model.vocab,
      dim: model.dim,
      layers: model.layers,
      denseLayers: model.denseLayers,
      denseHidden: model.denseHidden,
      heads: model.attention.heads,
      kvHeads: model.attention.kvHeads,
      headDim: model.attention.headDim,
      ropeTheta: pyNumber(model.attention.ropeTheta),
      normEps: pyNumber(model.norm.eps),
      experts: moe.experts,
      topK: moe.topK,
      expertHidden: moe.expertHidden,
      scoreLiteral: pyString(moe.router.score),
      normalizeTopK: pyBool(moe.router.normalizeTopK),
      routedScale: pyNumber(moe.router.routedScale),
      capacityFactor: pyNumber(moe.capacity.kind === 'factor' ? moe.capacity.factor : 0),
      sharedHidden: moe.shared ? moe.shared.count * moe.shared.hidden : 0,
      hasShared: moe.shared !== null,
      sharedGated: moe.shared?.gated ?? false,
      loadBalanceCoef: pyNumber(moe.router.auxLoss?.coef ?? 0),
      loadBalanceGlobal: pyBool(moe.router.auxLoss?.scope === 'global'),
      hasLoadBalance: moe.router.auxLoss !== null,
      zLossCoef: pyNumber(moe.router.zLoss),
      hasZLoss: moe.router.zLoss > 0,
      initStd: pyNumber(model.initStd),
      tieEmbeddings: model.tieEmbeddings,
    },
    spectral: s
      ? {
          summary: `rank ${s.rank}, re-based every ${s.rebaseEvery} steps, init ${s.init}, residual ${s.residual}${s.reproject ? ', reproject' : ''}, moments ${s.moments}, project ${s.project}, common_grad ${s.commonGrad}`,
          rank: s.rank,
          rebaseEvery: s.rebaseEvery,
          initLiteral: pyString(s.init),
          residualLiteral: pyString(s.residual),
          reproject: pyBool(s.reproject),
          momentsReset: pyBool(s.moments === 'reset'),
          projectUpdate: pyBool(s.project === 'update'),
          meanCommon: pyBool(s.commonGrad === 'mean'),
          isProjectUpdate: s.project === 'update',
          isMeanCommon: s.commonGrad === 'mean',
        }
      : null,
    sdProjectUpdate: s?.project === 'update',
    params,
    sdMatrices,
    train: {
      configHashLiteral: pyString(opts.configHash),
      seqLen: train.seqLen,
      batch: train.batch,
      steps: train.steps,
      seed: train.seed,
      lr: pyNumber(train.optimizer.lr),
      beta1: pyNumber(opt.beta1),
      beta2: pyNumber(opt.beta2),
      eps: pyNumber(opt.eps),
      weightDecay: pyNumber(opt.weightDecay),
      clipGrad: pyNumber(opt.clipGrad),
      scheduleLiteral: pyString(train.schedule.kind),
      warmup: train.schedule.warmup,
      minLrRatio: pyNumber(train.schedule.minLrRatio),
      evalEvery: train.evalEvery ?? 0,
      evalBatches: train.evalBatches,
      checkpointEvery: train.checkpointEvery ?? 0,
      logEvery: train.logEvery,
      resetEvery: opt.spectral?.resetEvery ?? 0,
    },
  };
}
