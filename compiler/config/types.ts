// The normalised configuration: what every later stage (IR, kernels, runtime) consumes. All
// defaults are applied and all values validated, so consumers never look at the .moe syntax.
// Field names are camelCase versions of the .moe keys; docs/language.md documents each default.

export type Activation = 'swiglu' | 'geglu' | 'gelu' | 'relu' | 'silu';
/** Activations with a gate projection (three matrices per FFN instead of two). */
export const GATED_ACTIVATIONS: readonly Activation[] = ['swiglu', 'geglu'];

export interface AttentionConfig {
  heads: number;
  kvHeads: number;
  headDim: number;
  ropeTheta: number;
}

export interface NormConfig {
  kind: 'rmsnorm' | 'layernorm';
  eps: number;
}

export interface SharedExpertConfig {
  /** Number of always-on shared experts (DeepSeekMoE uses 2). */
  count: number;
  /** Hidden size of each shared expert. */
  hidden: number;
  /** Qwen-style sigmoid gate `sigmoid(w·x)` scaling the shared output. */
  gated: boolean;
}

export type CapacityConfig = { kind: 'dropless' } | { kind: 'factor'; factor: number };

export interface RouterConfig {
  score: 'softmax' | 'sigmoid';
  normalizeTopK: boolean;
  /** Load-balance auxiliary loss; null when off. */
  auxLoss: { coef: number; scope: 'micro_batch' | 'global' } | null;
  /** Router z-loss coefficient; 0 when off. */
  zLoss: number;
  /** Group-limited routing (DeepSeek-V3): experts split into `groups`, tokens pick `topGroups`. */
  groups: number;
  topGroups: number;
  /** Multiplier on routed-expert outputs (DeepSeek-V3 routed_scaling_factor). */
  routedScale: number;
  /** Auxiliary-loss-free balancing bias (DeepSeek-V3); null when off. */
  auxFreeBias: { rate: number } | null;
}

export interface MoeConfig {
  /** Routed experts per MoE layer (after fine-grained segmentation). */
  experts: number;
  topK: number;
  expertHidden: number;
  activation: Activation;
  shared: SharedExpertConfig | null;
  capacity: CapacityConfig;
  router: RouterConfig;
}

/** Matrices SD-MoE may decompose: `<group>.<matrix>`. */
export type SpectralTarget =
  | 'expert.gate'
  | 'expert.up'
  | 'expert.down'
  | 'shared.gate'
  | 'shared.up'
  | 'shared.down'
  | 'dense.gate'
  | 'dense.up'
  | 'dense.down';
export const SPECTRAL_TARGETS: readonly SpectralTarget[] = [
  'expert.gate',
  'expert.up',
  'expert.down',
  'shared.gate',
  'shared.up',
  'shared.down',
  'dense.gate',
  'dense.up',
  'dense.down',
];

/** SD-MoE settings. The paper leaves several choices open (digest §5); each is an option here. */
export interface SpectralConfig {
  targets: SpectralTarget[];
  /** Rank k of the common subspace (paper: 8). */
  rank: number;
  /** Re-basing interval in steps (paper: 16). */
  rebaseEvery: number;
  /** orthogonal_complement = Algorithm 1 of the paper; truncated_svd = W_c from the SVD, W_u from an
   *  independent standard init projected onto the double complement. */
  init: 'orthogonal_complement' | 'truncated_svd';
  /** What re-basing does with W_c − [W_c]_k: keep it in W_c (only the basis is refreshed), fold it
   *  into every W_u (each proxy's function unchanged), or discard it. */
  residual: 'keep' | 'fold' | 'discard';
  /** Re-project every W_u onto the new double complement after re-basing. */
  reproject: boolean;
  /** Adam moments of W_c and W_u at re-basing: keep them or reset them to zero. */
  moments: 'keep' | 'reset';
  /** Project the raw gradient before the optimizer, or the optimizer's update after it. */
  project: 'gradient' | 'update';
  /** Aggregation of per-expert common gradients into W_c's gradient. */
  commonGrad: 'sum' | 'mean';
}

export interface ModelConfig {
  name: string;
  vocab: number;
  dim: number;
  layers: number;
  maxSeq: number;
  /** The first `denseLayers` layers use a dense FFN instead of MoE (DeepSeekMoE: 1). */
  denseLayers: number;
  denseHidden: number;
  tieEmbeddings: boolean;
  initStd: number;
  attention: AttentionConfig;
  norm: NormConfig;
  moe: MoeConfig;
  spectral: SpectralConfig | null;
}

export type DataConfig = { kind: 'gutenberg' } | { kind: 'path'; path: string };

export interface OptimizerConfig {
  kind: 'adamw' | 'adam' | 'sgd';
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /** Only for sgd. */
  momentum: number;
}

export interface ScheduleConfig {
  kind: 'cosine' | 'linear' | 'constant';
  warmup: number;
  /** Final learning rate as a fraction of the peak (cosine and linear). */
  minLrRatio: number;
}

/** Divergence guard thresholds (runtime/metrics/guard.ts); docs/language.md gives each default's reason. */
export interface DivergenceConfig {
  /** A loss above factor × the best smoothed loss so far counts as exploding. */
  factor: number;
  /** A loss above uniformFactor × ln(vocab) (the loss of a uniform prediction) stops at once; null: off. */
  uniformFactor: number | null;
  /** Consecutive exploding steps (relative rule) before stopping. */
  patience: number;
  /** EMA smoothing of the loss: ema = ema·beta + loss·(1 − beta). */
  ema: number;
}

export interface TrainConfig {
  model: string;
  data: DataConfig;
  tokenizer: 'bpe' | 'byte';
  seqLen: number;
  batch: number;
  gradAccum: number;
  steps: number;
  seed: number;
  optimizer: OptimizerConfig;
  /** Global gradient-norm clip; null when off. */
  clipGrad: number | null;
  schedule: ScheduleConfig;
  /** Steps between evaluations; null when off. */
  evalEvery: number | null;
  evalBatches: number;
  checkpointEvery: number | null;
  logEvery: number;
  /** Explosion rules of the divergence guard; null (`divergence off`): only a non-finite loss or
   *  gradient norm stops the run. */
  divergence: DivergenceConfig | null;
}

/** What an evaluation computes and logs (runtime/train/evaluate.ts says how each is computed). */
export type EvalMetric = 'loss' | 'bits_per_byte' | 'perplexity' | 'expert_load' | 'expert_overlap' | 'router_entropy';
export const EVAL_METRICS: readonly EvalMetric[] = ['loss', 'bits_per_byte', 'perplexity', 'expert_load', 'expert_overlap', 'router_entropy'];
/** An eval block without `metrics`, and the evaluations of a file without an eval block: what
 *  the eval lines always held (loss, bits per byte, the expert diagnostics) plus the free perplexity. */
export const DEFAULT_EVAL_METRICS: readonly EvalMetric[] = ['loss', 'bits_per_byte', 'perplexity', 'expert_overlap'];

/** `eval MODEL { … }`: the evaluation `sdmoec eval` runs and, when the file trains the same model,
 *  every evaluation during `sdmoec run` (the train block's `eval every N` says when). */
export interface EvalConfig {
  model: string;
  data: DataConfig;
  /** 'test': the run also holds out a test split (runtime/data/split.ts), which it never trains on. */
  split: 'validation' | 'test';
  /** Held-out batches per evaluation; 'all' = the whole split (the default). */
  batches: number | 'all';
  batch: number;
  seqLen: number;
  metrics: EvalMetric[];
}

/** What an experiment's results.md can report (the `exp` runner computes them). */
export type ExperimentMetric =
  | 'loss'
  | 'bits_per_byte'
  | 'perplexity'
  | 'expert_overlap'
  | 'load_imbalance'
  | 'router_entropy'
  | 'tokens_per_s';
export const EXPERIMENT_METRICS: readonly ExperimentMetric[] = [
  'loss',
  'bits_per_byte',
  'perplexity',
  'expert_overlap',
  'load_imbalance',
  'router_entropy',
  'tokens_per_s',
];

/** One arm of an experiment: `--set`-style overrides applied on top of the file (`key=value`, exactly as `sdmoec run --set` takes them). */
export interface ExperimentArm { name: string; overrides: string[] }
/** A setting swept over several values, crossed with the other sweeps of the arms it applies to (null: every arm). */
export interface ExperimentSweep { key: string; values: string[]; arms: string[] | null }
/** `experiment NAME { … }`. A cell is (arm, one value of each sweep applying to it, seed); check
 *  validates its overrides in this order, later ones winning as with repeated `--set`:
 *  `train.steps=<steps>` (when set), the arm's overrides, each sweep's `key=value`. */
export interface ExperimentConfig {
  name: string;
  arms: ExperimentArm[];
  /** Arm the paired differences are taken against (default: the first arm). */
  baseline: string;
  sweeps: ExperimentSweep[];
  seeds: number[];
  /** What results.md reports, from EXPERIMENT_METRICS. */
  metrics: string[];
  /** train.steps for every cell (null: the train block's). */
  steps: number | null;
  /** Held-out batches evaluated at the end of each cell ('all' = the whole held-out split, the default). */
  evalBatches: number | 'all';
}

/** One .moe file after resolution: every model expanded (extends applied), at most one train,
 *  one eval and one experiment block (an experiment needs the train block). */
export interface NormalisedConfig {
  models: ModelConfig[];
  train: TrainConfig | null;
  eval: EvalConfig | null;
  experiment: ExperimentConfig | null;
}
