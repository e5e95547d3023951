// Synthetic checkpoints for the analyze tests, small enough to write and analyse in milliseconds:
//   - Hugging Face directories in the Mixtral, Qwen2-MoE and DeepSeek-V2/V3 layouts (config.json +
//     safetensors, BF16 and F32, optionally sharded with an index). Expert weights are written in
//     nn.Linear's [out, in] layout with a PLANTED structure: in the first MoE layer every expert's
//     dominant input direction is the same unit vector `a` (and each router row is `a`); in the next
//     MoE layer expert j's dominant input direction is the basis vector e_j (orthogonal experts)
//     and the router rows are random. A loader that forgot the transpose would see random output
//     directions instead, so the expected similarities also check the layout.
//   - this project's run directories (config.json + step-NNNNNN/), written directly from the
//     plan of a .moe file, with SD tensors from the paper's Algorithm 1 (runtime/sd/init.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../base/rng.ts';
import { numel } from '../../compiler/ir/types.ts';
import { loadConfig } from '../../compiler/config/index.ts';
import type { ModelConfig, TrainConfig } from '../../compiler/config/types.ts';
import { saveCheckpoint, type ParamTensor } from '../../runtime/checkpoint/checkpoint.ts';
import { encodeSafetensors, toBfloat16Bits, type TensorToWrite } from '../../runtime/checkpoint/safetensors.ts';
import { planForAnalysis } from '../../runtime/analyze/sdmoec.ts';
import { spectralMatrices } from '../../runtime/train/spectral.ts';
import { spectralInit } from '../../runtime/sd/init.ts';

export type HfArch = 'mixtral' | 'qwen2_moe' | 'deepseek_v2' | 'deepseek_v3';

export interface HfFixture {
  dir: string;
  moeLayers: number[];
  /** MoE layer whose experts share their dominant input direction (router rows aligned with it). */
  sharedLayer: number;
  /** MoE layer whose experts have orthogonal dominant input directions (random router). */
  orthogonalLayer: number;
  experts: number;
  hidden: number;
  ffn: number;
}

export const HIDDEN = 24;
export const FFN = 20;
export const EXPERTS = 4;

function unit(rng: Rng, n: number): Float64Array {
  const v = new Float64Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) s += (v[i] = rng.normal()) ** 2;
  for (let i = 0; i < n; i++) v[i] /= Math.sqrt(s);
  return v;
}

/** [out, in] = 10 · outDir inDirᵀ + 0.01 · noise: one dominant input direction. */
function planted(rng: Rng, out: number, inn: number, inDir: Float64Array): Float32Array {
  const o = unit(rng, out);
  const w = new Float32Array(out * inn);
  for (let r = 0; r < out; r++) for (let c = 0; c < inn; c++) w[r * inn + c] = 10 * o[r] * inDir[c] + 0.01 * rng.normal();
  return w;
}

function basis(n: number, j: number): Float64Array {
  const v = new Float64Array(n);
  v[j] = 1;
  return v;
}

const MIXTRAL: Record<string, string> = { gate: 'w1', up: 'w3', down: 'w2' };

/** Write a tiny HF MoE checkpoint; `layout` decides dtype and sharding. */
export function writeHfModel(dir: string, arch: HfArch, layout: { dtype: 'BF16' | 'F32' | 'mixed'; shards?: number } = { dtype: 'F32' }): HfFixture {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(`hf-${arch}`);
  const layers = arch === 'mixtral' ? 2 : 3;
  const config: Record<string, unknown> = { hidden_size: HIDDEN, num_hidden_layers: layers, num_experts_per_tok: 2, vocab_size: 64, torch_dtype: 'bfloat16' };
  let moeLayers: number[];
  let block: (l: number) => string;
  let expertName: (j: number, m: string) => string;
  if (arch === 'mixtral') {
    Object.assign(config, { model_type: 'mixtral', architectures: ['MixtralForCausalLM'], num_local_experts: EXPERTS, intermediate_size: FFN });
    moeLayers = [0, 1];
    block = (l) => `model.layers.${l}.block_sparse_moe`;
    expertName = (j, m) => `experts.${j}.${MIXTRAL[m]}.weight`;
  } else if (arch === 'qwen2_moe') {
    Object.assign(config, {
      model_type: 'qwen2_moe', architectures: ['Qwen2MoeForCausalLM'], num_experts: EXPERTS, moe_intermediate_size: FFN,
      intermediate_size: 2 * FFN, shared_expert_intermediate_size: 2 * FFN, decoder_sparse_step: 1, mlp_only_layers: [1],
    });
    moeLayers = [0, 2];
    block = (l) => `model.layers.${l}.mlp`;
    expertName = (j, m) => `experts.${j}.${m}_proj.weight`;
  } else {
    Object.assign(config, {
      model_type: arch, architectures: [arch === 'deepseek_v2' ? 'DeepseekV2ForCausalLM' : 'DeepseekV3ForCausalLM'], n_routed_experts: EXPERTS,
      moe_intermediate_size: FFN, intermediate_size: 3 * FFN, n_shared_experts: 1, first_k_dense_replace: 1, moe_layer_freq: 1,
    });
    moeLayers = [1, 2];
    block = (l) => `model.layers.${l}.mlp`;
    expertName = (j, m) => `experts.${j}.${m}_proj.weight`;
  }
  const [sharedLayer, orthogonalLayer] = moeLayers;
  const tensors: [string, Float32Array, number[]][] = [];
  tensors.push(['model.embed_tokens.weight', Float32Array.from({ length: 64 * HIDDEN }, () => rng.normal()), [64, HIDDEN]]);
  for (let l = 0; l < layers; l++) {
    tensors.push([`model.layers.${l}.input_layernorm.weight`, new Float32Array(HIDDEN).fill(1), [HIDDEN]]);
    if (!moeLayers.includes(l)) {
      const dense = config.intermediate_size as number;
      for (const m of ['gate', 'up']) tensors.push([`model.layers.${l}.mlp.${m}_proj.weight`, Float32Array.from({ length: dense * HIDDEN }, () => rng.normal()), [dense, HIDDEN]]);
      tensors.push([`model.layers.${l}.mlp.down_proj.weight`, Float32Array.from({ length: dense * HIDDEN }, () => rng.normal()), [HIDDEN, dense]]);
      continue;
    }
    const b = block(l);
    const shared = l === sharedLayer;
    const aHidden = unit(rng, HIDDEN);
    const aFfn = unit(rng, FFN);
    for (let j = 0; j < EXPERTS; j++) {
      for (const m of ['gate', 'up', 'down']) {
        const [out, inn] = m === 'down' ? [HIDDEN, FFN] : [FFN, HIDDEN];
        const dir = shared ? (m === 'down' ? aFfn : aHidden) : basis(inn, j);
        tensors.push([`${b}.${expertName(j, m)}`, planted(rng, out, inn, dir), [out, inn]]);
      }
    }
    const router = new Float32Array(EXPERTS * HIDDEN);
    for (let e = 0; e < EXPERTS; e++) {
      const row = shared ? aHidden : unit(rng, HIDDEN);
      for (let i = 0; i < HIDDEN; i++) router[e * HIDDEN + i] = row[i];
    }
    tensors.push([`${b}.gate.weight`, router, [EXPERTS, HIDDEN]]);
    if (arch === 'qwen2_moe') {
      for (const m of ['gate', 'up']) tensors.push([`${b}.shared_expert.${m}_proj.weight`, Float32Array.from({ length: 2 * FFN * HIDDEN }, () => rng.normal()), [2 * FFN, HIDDEN]]);
      tensors.push([`${b}.shared_expert.down_proj.weight`, Float32Array.from({ length: 2 * FFN * HIDDEN }, () => rng.normal()), [HIDDEN, 2 * FFN]]);
      tensors.push([`${b}.shared_expert_gate.weight`, Float32Array.from({ length: HIDDEN }, () => rng.normal()), [1, HIDDEN]]);
    }
    if (arch.startsWith('deepseek')) {
      for (const m of ['gate', 'up']) tensors.push([`${b}.shared_experts.${m}_proj.weight`, Float32Array.from({ length: FFN * HIDDEN }, () => rng.normal()), [FFN, HIDDEN]]);
      tensors.push([`${b}.shared_experts.down_proj.weight`, Float32Array.from({ length: FFN * HIDDEN }, () => rng.normal()), [HIDDEN, FFN]]);
    }
    if (arch === 'deepseek_v3') tensors.push([`${b}.gate.e_score_correction_bias`, Float32Array.from({ length: EXPERTS }, (_, e) => 0.1 * e), [EXPERTS]]);
  }
  // BF16 for weights in 'BF16'; in 'mixed' the experts are BF16 and routers / norms F32 (as checkpoints that keep the gate in full precision).
  const entry = ([name, data, shape]: [string, Float32Array, number[]]): [string, TensorToWrite] => {
    const half = layout.dtype === 'BF16' || (layout.dtype === 'mixed' && name.includes('experts.'));
    return [name, half ? { shape, data: toBfloat16Bits(data), dtype: 'BF16' } : { shape, data }];
  };
  const shards = layout.shards ?? 1;
  if (shards === 1) {
    writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors.map(entry), { format: 'pt' }));
  } else {
    const weightMap: Record<string, string> = {};
    for (let s = 0; s < shards; s++) {
      const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
      const mine = tensors.filter((_, i) => i % shards === s);
      for (const [name] of mine) weightMap[name] = file;
      writeFileSync(join(dir, file), encodeSafetensors(mine.map(entry), { format: 'pt' }));
    }
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }, null, 2));
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return { dir, moeLayers, sharedLayer, orthogonalLayer, experts: EXPERTS, hidden: HIDDEN, ffn: FFN };
}

/**
 * A run directory of this project for a .moe file's train block: config.json and one checkpoint
 * with every model param (random normal; SD tensors from Algorithm 1), written without a device.
 */
export async function writeSdmoecRun(runDir: string, moeFile: string, step = 10): Promise<{ model: ModelConfig; checkpoint: string }> {
  const { config } = loadConfig(moeFile);
  const train = config.train as TrainConfig;
  const model = config.models.find((m) => m.name === train.model)!;
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(runDir, 'config.json'), JSON.stringify({ model, train, configHash: 'test' }, null, 2));
  const plan = planForAnalysis(model, train, moeFile);
  const rng = new Rng('sdmoec-run');
  const params = new Map<string, ParamTensor>();
  for (const [name, spec] of Object.entries(plan.params)) {
    params.set(name, { shape: [...spec.type.shape], data: rng.fillNormal(new Float32Array(numel(spec.type)), 0, 0.02) });
  }
  for (const m of spectralMatrices(plan)) {
    const s = spectralInit({ rows: m.rows, cols: m.cols, experts: m.experts, rank: m.rank, std: m.std, rng: rng.fork(m.name), mode: model.spectral!.init });
    params.get(m.params.common)!.data.set(s.common);
    params.get(m.params.unique)!.data.set(s.unique);
    params.get(m.params.uk)!.data.set(s.uk);
    params.get(m.params.vk)!.data.set(s.vk);
  }
  const checkpoint = await saveCheckpoint(runDir, { step, params, optimizer: new Map(), state: { configHash: 'test' } });
  return { model, checkpoint };
}
