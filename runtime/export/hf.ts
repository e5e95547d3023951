// `sdmoec export --format hf`: a checkpoint as a Hugging Face model directory: config.json,
// model.safetensors (or shards model-0000i-of-0000n.safetensors + model.safetensors.index.json
// when larger than the shard size), generation_config.json and tokenizer.json.
// Tensor names, shapes and config fields follow the transformers modeling/configuration code of
// the chosen architecture (runtime/export/architecture.ts; the same name tables as
// runtime/analyze/hf.ts, which reads these layouts back):
//   model.embed_tokens.weight [V, D], model.norm.weight [D], lm_head.weight [V, D] (absent when tied),
//   model.layers.{i}.input_layernorm.weight, .post_attention_layernorm.weight [D],
//   model.layers.{i}.self_attn.{q,k,v,o}_proj.weight (nn.Linear [out, in]); Qwen2-MoE also q/k/v biases,
//   Mixtral:   model.layers.{i}.block_sparse_moe.gate.weight [E, D], .experts.{j}.w1/w3 [F, D], .w2 [D, F]
//   Qwen2-MoE: model.layers.{i}.mlp.gate.weight [E, D], .experts.{j}.{gate,up}_proj [F, D], .down_proj [D, F],
//              .shared_expert.{gate,up,down}_proj, .shared_expert_gate.weight [1, D]; dense layers
//              model.layers.{i}.mlp.{gate,up,down}_proj.
// This project stores matrices [in, out]; every one is transposed. Invariants: SD-MoE checkpoints
// leave with every expert merged, W(i) = W_c + W_u(i) in float32 as the device forms it, and no SD
// tensor (W_c, W_u, U_k, V_k) in the output; every model param is written or deliberately dropped
// (SD bases), else the export fails (a param this file does not know cannot be lost silently).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InternalError, UserError } from '../../base/errors.ts';
import type { ModelConfig } from '../../compiler/config/types.ts';
import { topoOrder } from '../../compiler/ir/graph.ts';
import type { ParamRole } from '../../compiler/ir/types.ts';
import { lowerModel } from '../../compiler/lower/model.ts';
import type { ParamTensor } from '../checkpoint/checkpoint.ts';
import { writeSafetensors, type TensorToWrite } from '../checkpoint/safetensors.ts';
import type { Tokenizer } from '../data/bpe.ts';
import { END_OF_TEXT } from '../data/bpe.ts';
import { ARCHITECTURE_TITLE, describeMismatches, functional, matchArchitecture, mismatches, type ExportArchitecture, type Mismatch } from './architecture.ts';
import { tokenizerJson } from './tokenizer.ts';

export interface ExportOptions {
  readonly outDir: string;
  /** Forces an architecture; its mismatches are returned (and printed by the CLI). */
  readonly architecture?: ExportArchitecture;
  /** Shard when the tensors exceed this many bytes (default 5 GB, as transformers' save_pretrained). */
  readonly maxShardBytes?: number;
  readonly tokenizer?: Tokenizer;
  /** Where the checkpoint came from, for messages. */
  readonly where: string;
}

export interface ExportResult {
  readonly architecture: ExportArchitecture;
  /** Differences of the function (only with a forced architecture). */
  readonly mismatches: readonly Mismatch[];
  /** Exact layout adaptations (zero-width or doubled shared expert). */
  readonly notes: readonly Mismatch[];
  readonly files: string[];
  readonly tensors: number;
  readonly bytes: number;
  /** Matrices formed as W_c + W_u(i) (SD checkpoints). */
  readonly merged: number;
}

interface ParamInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly role?: ParamRole;
}

/** The model's params as the compiler declares them (names, shapes, roles). */
export function modelParams(model: ModelConfig): ParamInfo[] {
  const g = lowerModel(model, { batch: 1, seqLen: 1 });
  return topoOrder(g).flatMap((n) => (n.op === 'param' ? [{ name: n.attrs.name, shape: n.attrs.shape, role: n.attrs.role }] : []));
}

function transpose(src: Float32Array, rows: number, cols: number, offset = 0): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[offset + r * cols + c];
  return out;
}

export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KIB|MIB|GIB)?\s*$/i.exec(text);
  if (!m) throw new UserError(`--max-shard-size must be a size like 500MB, 2GB or 1048576, got '${text}'`);
  const unit = (m[2] ?? 'B').toUpperCase();
  const mult: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30 };
  const n = Math.floor(Number(m[1]) * mult[unit]);
  if (!(n > 0)) throw new UserError(`--max-shard-size must be positive, got '${text}'`);
  return n;
}

/** The Hugging Face tensors of a checkpoint, in the architecture's layout and module order. */
export function hfTensors(model: ModelConfig, params: ReadonlyMap<string, ParamTensor>, arch: ExportArchitecture, where: string): { tensors: [string, TensorToWrite][]; merged: number } {
  const declared = modelParams(model);
  const used = new Set<string>();
  const byName = new Map(declared.map((p) => [p.name, p]));
  const data = (name: string): Float32Array => {
    const info = byName.get(name);
    if (!info) throw new InternalError(`export: the model declares no param '${name}'`);
    const t = params.get(name);
    if (!t) throw new UserError(`${where}: checkpoint has no tensor '${name}' (was it written by a different model?)`);
    if (t.shape.join() !== info.shape.join()) throw new UserError(`${where}: tensor '${name}' has shape [${t.shape.join(', ')}], the model expects [${info.shape.join(', ')}]`);
    used.add(name);
    return t.data;
  };
  const byRole = (match: (r: ParamRole) => boolean): ParamInfo[] => declared.filter((p) => p.role && match(p.role));
  const out: [string, TensorToWrite][] = [];
  const put = (name: string, shape: number[], values: Float32Array): void => void out.push([name, { shape, data: values }]);
  /** A [in, out] matrix as nn.Linear's [out, in] weight. */
  const linear = (hf: string, name: string, scale = 1): void => {
    const [rows, cols] = byName.get(name)?.shape ?? [];
    const w = transpose(data(name), rows, cols);
    if (scale !== 1) for (let i = 0; i < w.length; i++) w[i] *= scale;
    put(hf, [cols, rows], w);
  };
  const D = model.dim;
  const { experts: E, expertHidden: F } = model.moe;
  let merged = 0;

  put('model.embed_tokens.weight', [model.vocab, D], data('embed'));
  for (let l = 0; l < model.layers; l++) {
    const p = `layers.${l}`;
    const hp = `model.layers.${l}`;
    put(`${hp}.input_layernorm.weight`, [D], data(`${p}.attn_norm`));
    for (const [ours, theirs] of [['q', 'q_proj'], ['k', 'k_proj'], ['v', 'v_proj'], ['o', 'o_proj']] as const) {
      linear(`${hp}.self_attn.${theirs}.weight`, `${p}.attn.${ours}`);
      if (arch === 'qwen2_moe' && ours !== 'o') put(`${hp}.self_attn.${theirs}.bias`, [byName.get(`${p}.attn.${ours}`)!.shape[1]], new Float32Array(byName.get(`${p}.attn.${ours}`)!.shape[1]));
    }
    put(`${hp}.post_attention_layernorm.weight`, [D], data(`${p}.ffn_norm`));
    if (l < model.denseLayers) {
      for (const m of ['gate', 'up', 'down'] as const) linear(`${hp}.mlp.${m}_proj.weight`, `${p}.ffn.${m}`);
      continue;
    }
    const block = arch === 'mixtral' ? `${hp}.block_sparse_moe` : `${hp}.mlp`;
    const router = byRole((r) => r.kind === 'router' && r.layer === l);
    if (router.length !== 1) throw new InternalError(`export: layer ${l} has ${router.length} router params`);
    linear(`${block}.gate.weight`, router[0].name);
    // Each expert matrix: a plain [E, K, N] param, or SD's W_c [K, N] + W_u [E, K, N] merged.
    const expertMatrix = (matrix: 'gate' | 'up' | 'down'): Float32Array => {
      const plain = byRole((r) => r.kind === 'experts' && r.layer === l && r.matrix === matrix);
      if (plain.length === 1) return data(plain[0].name);
      const sd = byRole((r) => r.kind === 'sd' && r.layer === l && r.matrix === matrix);
      const part = (which: string): ParamInfo => {
        const found = sd.filter((x) => x.role?.kind === 'sd' && x.role.part === which);
        if (found.length !== 1) throw new InternalError(`export: layer ${l} expert ${matrix} has ${found.length} SD '${which}' params`);
        return found[0];
      };
      const wc = data(part('common').name);
      const wu = data(part('unique').name);
      // The bases only define the projection used in training; the function is W_c + W_u(i).
      used.add(part('basis_u').name);
      used.add(part('basis_v').name);
      const w = new Float32Array(wu.length);
      for (let e = 0; e < E; e++) for (let i = 0; i < wc.length; i++) w[e * wc.length + i] = wc[i] + wu[e * wc.length + i];
      merged++;
      return w;
    };
    const gate = expertMatrix('gate');
    const up = expertMatrix('up');
    const down = expertMatrix('down');
    const names = arch === 'mixtral' ? { gate: 'w1', up: 'w3', down: 'w2' } : { gate: 'gate_proj', up: 'up_proj', down: 'down_proj' };
    for (let j = 0; j < E; j++) {
      put(`${block}.experts.${j}.${names.gate}.weight`, [F, D], transpose(gate, D, F, j * D * F));
      put(`${block}.experts.${j}.${names.up}.weight`, [F, D], transpose(up, D, F, j * D * F));
      put(`${block}.experts.${j}.${names.down}.weight`, [D, F], transpose(down, F, D, j * D * F));
    }
    if (arch === 'qwen2_moe') {
      const shared = model.moe.shared;
      if (shared) {
        // Ungated: a zero gate gives sigmoid(0) = 0.5, undone by doubling down_proj (both exact).
        linear(`${block}.shared_expert.gate_proj.weight`, `${p}.moe.shared.gate`);
        linear(`${block}.shared_expert.up_proj.weight`, `${p}.moe.shared.up`);
        linear(`${block}.shared_expert.down_proj.weight`, `${p}.moe.shared.down`, shared.gated ? 1 : 2);
        if (shared.gated) linear(`${block}.shared_expert_gate.weight`, `${p}.moe.shared.gate_proj`);
        else put(`${block}.shared_expert_gate.weight`, [1, D], new Float32Array(D));
      } else {
        // Only with --architecture qwen2_moe: a zero-width shared expert adds exactly nothing.
        put(`${block}.shared_expert.gate_proj.weight`, [0, D], new Float32Array(0));
        put(`${block}.shared_expert.up_proj.weight`, [0, D], new Float32Array(0));
        put(`${block}.shared_expert.down_proj.weight`, [D, 0], new Float32Array(0));
        put(`${block}.shared_expert_gate.weight`, [1, D], new Float32Array(D));
      }
    }
  }
  put('model.norm.weight', [D], data('final_norm'));
  if (!model.tieEmbeddings) linear('lm_head.weight', 'lm_head');
  // Only an architecture that cannot hold the model leaves params behind (a forced Mixtral with
  // a shared expert): those are the printed mismatches, nothing else may be.
  const left = declared.filter((p) => !used.has(p.name) && !(arch === 'mixtral' && p.name.includes('.moe.shared.')));
  if (left.length > 0) throw new InternalError(`export: params not written for ${ARCHITECTURE_TITLE[arch]}: ${left.map((p) => p.name).join(', ')}`);
  return { tensors: out, merged };
}

/** config.json of the architecture (fields as its configuration_*.py documents them). */
export function hfConfig(model: ModelConfig, arch: ExportArchitecture, tokenizer?: Tokenizer): Record<string, unknown> {
  const { heads, kvHeads, headDim, ropeTheta } = model.attention;
  const r = model.moe.router;
  const end = tokenizer?.specialTokens.includes(END_OF_TEXT) ? tokenizer.specialId(END_OF_TEXT) : null;
  const common = {
    vocab_size: model.vocab,
    hidden_size: model.dim,
    num_hidden_layers: model.layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    hidden_act: 'silu',
    max_position_embeddings: model.maxSeq,
    initializer_range: model.initStd,
    rms_norm_eps: model.norm.eps,
    use_cache: true,
    tie_word_embeddings: model.tieEmbeddings,
    rope_theta: ropeTheta,
    attention_dropout: 0,
    num_experts_per_tok: model.moe.topK,
    output_router_logits: false,
    router_aux_loss_coef: r.auxLoss?.coef ?? 0,
    bos_token_id: end,
    eos_token_id: end,
    torch_dtype: 'float32',
  };
  if (arch === 'mixtral') {
    return {
      architectures: ['MixtralForCausalLM'],
      model_type: 'mixtral',
      ...common,
      head_dim: headDim,
      intermediate_size: model.moe.expertHidden,
      num_local_experts: model.moe.experts,
      sliding_window: null,
      router_jitter_noise: 0,
    };
  }
  const shared = model.moe.shared;
  return {
    architectures: ['Qwen2MoeForCausalLM'],
    model_type: 'qwen2_moe',
    ...common,
    // Dense layers (mlp_only_layers) use intermediate_size; with none it is unused.
    intermediate_size: model.denseLayers > 0 ? model.denseHidden : model.moe.expertHidden,
    moe_intermediate_size: model.moe.expertHidden,
    shared_expert_intermediate_size: shared ? shared.count * shared.hidden : 0,
    num_experts: model.moe.experts,
    norm_topk_prob: r.normalizeTopK,
    decoder_sparse_step: 1,
    mlp_only_layers: Array.from({ length: model.denseLayers }, (_, i) => i),
    qkv_bias: true,
    use_sliding_window: false,
    sliding_window: null,
    max_window_layers: model.layers,
  };
}

/** Writes the model directory; refuses (UserError naming the options) when no architecture matches
 *  and none is forced. */
export async function exportHf(model: ModelConfig, params: ReadonlyMap<string, ParamTensor>, opts: ExportOptions): Promise<ExportResult> {
  const { match, candidates } = matchArchitecture(model);
  const architecture = opts.architecture ?? match;
  if (!architecture) {
    const why = candidates.map((c) => `${ARCHITECTURE_TITLE[c.architecture]} (--architecture ${c.architecture}):\n${describeMismatches(functional(c.mismatches), '    ')}`).join('\n  ');
    throw new UserError(
      `${opts.where}: no Hugging Face architecture computes the same function as model ${model.name}:\n  ${why}\n` +
        `change the model, or name one with --architecture to export anyway (the exported model then computes a different function)`,
    );
  }
  const found = mismatches(model, architecture);
  if (architecture === 'mixtral' && model.denseLayers > 0) throw new UserError(`${opts.where}: model ${model.name} has dense_layers ${model.denseLayers}; Mixtral has no dense layer to write them to (Qwen2-MoE has: --architecture qwen2_moe)`);
  const { tensors, merged } = hfTensors(model, params, architecture, opts.where);
  const maxShard = opts.maxShardBytes ?? 5e9;
  mkdirSync(opts.outDir, { recursive: true });
  const files: string[] = [];
  const bytesOf = (t: TensorToWrite): number => t.data.byteLength;
  const total = tensors.reduce((a, [, t]) => a + bytesOf(t), 0);
  const metadata = { format: 'pt' };
  if (total <= maxShard) {
    await writeSafetensors(join(opts.outDir, 'model.safetensors'), tensors, { metadata });
    files.push('model.safetensors');
  } else {
    // Greedy in module order, as save_pretrained shards: a tensor larger than the limit gets its own shard.
    const shards: [string, TensorToWrite][][] = [[]];
    let size = 0;
    for (const entry of tensors) {
      const b = bytesOf(entry[1]);
      if (size > 0 && size + b > maxShard) {
        shards.push([]);
        size = 0;
      }
      shards[shards.length - 1].push(entry);
      size += b;
    }
    const n = shards.length;
    const pad = (i: number): string => String(i).padStart(5, '0');
    const weightMap: Record<string, string> = {};
    for (let i = 0; i < n; i++) {
      const file = `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
      await writeSafetensors(join(opts.outDir, file), shards[i], { metadata });
      for (const [name] of shards[i]) weightMap[name] = file;
      files.push(file);
    }
    writeFileSync(join(opts.outDir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n');
    files.push('model.safetensors.index.json');
  }
  writeFileSync(join(opts.outDir, 'config.json'), JSON.stringify(hfConfig(model, architecture, opts.tokenizer), null, 2) + '\n');
  files.push('config.json');
  const end = opts.tokenizer?.specialTokens.includes(END_OF_TEXT) ? opts.tokenizer.specialId(END_OF_TEXT) : null;
  // The defaults of `sdmoec sample`, so both generate alike.
  const generation = { bos_token_id: end, eos_token_id: end, do_sample: true, temperature: 0.8, top_k: 0, top_p: 1.0, max_length: model.maxSeq };
  writeFileSync(join(opts.outDir, 'generation_config.json'), JSON.stringify(generation, null, 2) + '\n');
  files.push('generation_config.json');
  if (opts.tokenizer) {
    writeFileSync(join(opts.outDir, 'tokenizer.json'), JSON.stringify(tokenizerJson(opts.tokenizer), null, 2) + '\n');
    files.push('tokenizer.json');
  }
  return { architecture, mismatches: functional(found), notes: found.filter((x) => x.exact), files, tensors: tensors.length, bytes: total, merged };
}
