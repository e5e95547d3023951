// `sdmoec import config.json -o FILE.moe`: a Hugging Face MoE config as a .moe model block.
// Field meanings as the transformers configuration_*.py files document them (Mixtral, Qwen2-MoE,
// Qwen3-MoE, OLMoE, DeepSeek-V2, DeepSeek-V3; read, not copied). Invariant: every field of the
// config.json is either mapped to a .moe key, known not to affect the model (token ids, dtype,
// cache and output flags, dropout at 0), or REPORTED — listed on stderr and as a comment at the
// top of the .moe — so nothing the language cannot express is dropped silently.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { UserError } from '../../base/errors.ts';
import { readJsonObject } from '../analyze/json.ts';

export type ImportArchitecture = 'mixtral' | 'qwen2_moe' | 'qwen3_moe' | 'olmoe' | 'deepseek_v2' | 'deepseek_v3';
export const IMPORT_ARCHITECTURES: readonly ImportArchitecture[] = ['mixtral', 'qwen2_moe', 'qwen3_moe', 'olmoe', 'deepseek_v2', 'deepseek_v3'];

/** Fields that never change the function a model computes (or are the names of other fields). */
const INERT = new Set([
  'architectures', 'model_type', 'transformers_version', 'torch_dtype', 'dtype', 'use_cache', 'bos_token_id', 'eos_token_id',
  'pad_token_id', 'output_router_logits', '_name_or_path', 'auto_map', 'tokenizer_class', 'quantization_config_applied',
  'pretraining_tp', 'return_dict', 'ep_size', 'output_hidden_states', 'output_attentions', 'max_window_layers',
]);

export interface ImportResult {
  readonly architecture: ImportArchitecture;
  readonly text: string;
  /** `field = value: why`, one per field the language cannot express. */
  readonly reported: string[];
}

type Raw = Record<string, unknown>;

/** A valid .moe identifier from a name. */
function identifier(name: string): string {
  const id = name.replace(/[^A-Za-z0-9_]/g, '_').replace(/^(\d)/, '_$1');
  return id || 'imported';
}

export function importHfConfig(path: string, name?: string): ImportResult {
  const raw = readJsonObject(path, 'config.json') as Raw;
  const source = readFileSync(path, 'utf8');
  /** file:line:col of a field (its key's first occurrence), for messages about it. */
  const at = (f: string): string => {
    const i = source.indexOf(JSON.stringify(f));
    if (i < 0) return `${path}:1:1`;
    const lines = source.slice(0, i).split('\n');
    return `${path}:${lines.length}:${lines[lines.length - 1].length + 1}`;
  };
  const type = raw.model_type;
  if (typeof type !== 'string' || !IMPORT_ARCHITECTURES.includes(type as ImportArchitecture)) {
    throw new UserError(`${at('model_type')}: model_type ${JSON.stringify(type)} is not one import reads (${IMPORT_ARCHITECTURES.join(', ')})`);
  }
  const arch = type as ImportArchitecture;
  const used = new Set<string>();
  const reported: string[] = [];
  const has = (f: string): boolean => raw[f] !== undefined && raw[f] !== null;
  const get = (f: string): unknown => {
    used.add(f);
    return raw[f];
  };
  const num = (f: string, fallback?: number): number => {
    const v = get(f);
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw new UserError(`${path}:1:1: field "${f}" is required for ${arch}`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError(`${at(f)}: field "${f}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const bool = (f: string, fallback: boolean): boolean => {
    const v = get(f);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') throw new UserError(`${at(f)}: field "${f}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const report = (f: string, why: string): void => {
    used.add(f);
    reported.push(`${f} = ${JSON.stringify(raw[f] ?? null)}: ${why}`);
  };
  /** A field whose documented default is the only value the language expresses. */
  const only = (f: string, ok: (v: unknown) => boolean, why: string): void => {
    used.add(f);
    if (has(f) && !ok(raw[f])) report(f, why);
  };

  const dim = num('hidden_size');
  const heads = num('num_attention_heads');
  const kvHeads = num('num_key_value_heads', heads);
  const layers = num('num_hidden_layers');
  const lines: string[] = [];
  const model: string[] = [`vocab ${num('vocab_size')}  dim ${dim}  layers ${layers}  max_seq ${num('max_position_embeddings', 2048)}`];
  const attention: string[] = [`heads ${heads}`, `kv_heads ${kvHeads}`, `rope_theta ${num('rope_theta', 10000)}`];
  if (has('head_dim') && num('head_dim') !== dim / heads) attention.push(`head_dim ${num('head_dim')}`);
  else used.add('head_dim');
  if (bool('tie_word_embeddings', false)) model.push('tie_embeddings true');
  if (has('initializer_range')) model.push(`init_std ${num('initializer_range')}`);
  const eps = num('rms_norm_eps', 1e-6);
  only('hidden_act', (v) => v === 'silu', 'only SiLU-gated experts (swiglu) are expressible here');
  only('rope_scaling', () => false, 'RoPE scaling is not expressible (plain RoPE with rope_theta is written)');
  only('attention_dropout', (v) => v === 0, 'attention dropout is not expressible');
  only('attention_bias', (v) => v === false, 'attention projection biases are not expressible');
  only('router_jitter_noise', (v) => v === 0, 'router jitter noise is not expressible');
  only('use_sliding_window', (v) => v === false, 'sliding-window attention is not expressible');
  only('sliding_window', () => !bool('use_sliding_window', arch === 'mixtral'), 'sliding-window attention is not expressible');

  let experts = 0;
  let expertHidden = 0;
  let normalize = false;
  let score = 'softmax';
  const moe: string[] = [];
  const router: string[] = [];
  const aux = num(arch.startsWith('deepseek') ? 'aux_loss_alpha' : 'router_aux_loss_coef', 0);
  const sparseStep = (): void => {
    only('decoder_sparse_step', (v) => v === 1, 'only every layer from the first MoE layer on can be sparse');
    const mlpOnly = (get('mlp_only_layers') ?? []) as number[];
    if (!Array.isArray(mlpOnly) || !mlpOnly.every((l) => Number.isInteger(l))) throw new UserError(`${at('mlp_only_layers')}: field "mlp_only_layers" must be a list of layer indices`);
    if (mlpOnly.length > 0) {
      if (mlpOnly.every((l, i) => l === i)) model.push(`dense_layers ${mlpOnly.length}  dense_hidden ${num('intermediate_size')}`);
      else report('mlp_only_layers', 'only the first k layers can be dense (dense_layers k)');
    } else used.add('intermediate_size');
  };
  switch (arch) {
    case 'mixtral':
      experts = num('num_local_experts');
      expertHidden = num('intermediate_size');
      normalize = true;
      break;
    case 'qwen2_moe': {
      experts = num('num_experts');
      expertHidden = num('moe_intermediate_size');
      normalize = bool('norm_topk_prob', false);
      const shared = num('shared_expert_intermediate_size', 0);
      if (shared > 0) moe.push(`shared_expert { hidden ${shared}  gated true }`);
      sparseStep();
      // Qwen2-MoE's q/k/v projections carry biases (qkv_bias, on by default).
      if (bool('qkv_bias', true)) report('qkv_bias', 'q/k/v projection biases are not expressible (the imported model has none)');
      break;
    }
    case 'qwen3_moe':
      experts = num('num_experts');
      expertHidden = num('moe_intermediate_size');
      normalize = bool('norm_topk_prob', false);
      sparseStep();
      reported.push('(architecture) Qwen3-MoE normalises q and k per head (q_norm, k_norm RMSNorm): not expressible');
      break;
    case 'olmoe':
      experts = num('num_experts');
      expertHidden = num('intermediate_size');
      normalize = bool('norm_topk_prob', false);
      only('clip_qkv', () => false, 'clipping q/k/v is not expressible');
      reported.push('(architecture) OLMoE normalises q and k (q_norm, k_norm RMSNorm over the projections): not expressible');
      break;
    case 'deepseek_v2':
    case 'deepseek_v3': {
      experts = num('n_routed_experts');
      expertHidden = num('moe_intermediate_size');
      const v3 = arch === 'deepseek_v3';
      score = String(get('scoring_func') ?? (v3 ? 'sigmoid' : 'softmax'));
      if (score !== 'softmax' && score !== 'sigmoid') throw new UserError(`${at('scoring_func')}: scoring_func "${score}" is neither softmax nor sigmoid`);
      normalize = bool('norm_topk_prob', false);
      const shared = num('n_shared_experts', 0);
      if (shared > 0) moe.push(`shared_expert { count ${shared}  hidden ${expertHidden} }`);
      const dense = num('first_k_dense_replace', 0);
      if (dense > 0) model.push(`dense_layers ${dense}  dense_hidden ${num('intermediate_size')}`);
      else used.add('intermediate_size');
      only('moe_layer_freq', (v) => v === 1, 'only every layer after the dense ones can be sparse');
      const scale = num('routed_scaling_factor', 1);
      if (scale !== 1) router.push(`routed_scale ${scale}`);
      const method = String(get('topk_method') ?? (v3 ? 'noaux_tc' : 'greedy'));
      const groups = num('n_group', 1);
      const topGroups = num('topk_group', groups);
      if (method !== 'greedy' && groups > 1) router.push(`groups ${groups}  top_groups ${topGroups}`);
      if (method === 'noaux_tc') {
        router.push('aux_free_bias 0.001');
        reported.push('topk_method = "noaux_tc": the aux-loss-free bias update rate is not in config.json; written as aux_free_bias 0.001 (DeepSeek-V3 paper\'s γ)');
      }
      if (raw.seq_aux === true && aux > 0) report('seq_aux', 'the balance loss per sequence is not expressible; written as scope micro_batch');
      else used.add('seq_aux');
      for (const f of ['q_lora_rank', 'kv_lora_rank', 'qk_rope_head_dim', 'qk_nope_head_dim', 'v_head_dim']) {
        if (has(f)) report(f, 'multi-head latent attention (MLA) is not expressible; written as standard grouped attention');
        else used.add(f);
      }
      break;
    }
  }
  if (normalize !== (score === 'sigmoid')) router.push(`normalize_top_k ${normalize}`);
  if (score !== 'softmax') router.unshift(`score ${score}`);
  // transformers' load_balancing_loss_func takes its statistics over the tokens of one forward.
  router.push(aux > 0 ? `aux_loss load_balance(coef = ${aux}, scope = micro_batch)` : 'aux_loss off');
  moe.unshift(`experts ${experts}  top_k ${num('num_experts_per_tok')}  expert_hidden ${expertHidden}  activation swiglu`);
  moe.push(`router { ${router.join('  ')} }`);

  for (const f of Object.keys(raw)) if (!used.has(f) && !INERT.has(f)) report(f, 'not expressible in the language (not imported)');

  const id = identifier(name ?? (typeof raw._name_or_path === 'string' ? basename(raw._name_or_path) : arch));
  lines.push(`# Imported by \`sdmoec import\` from ${basename(path)} (${arch}).`);
  if (reported.length > 0) {
    lines.push('# Not expressible in the language (the model below differs from the original there):');
    for (const r of reported) lines.push(`#   ${r}`);
  }
  lines.push(`model ${id} {`);
  lines.push(`  ${model.join('  ')}`);
  lines.push(`  attention { ${attention.join('  ')} }`);
  lines.push(`  norm rmsnorm(eps = ${eps})`);
  lines.push('  moe {');
  for (const l of moe) lines.push(`    ${l}`);
  lines.push('  }');
  lines.push('}');
  return { architecture: arch, text: lines.join('\n') + '\n', reported };
}
