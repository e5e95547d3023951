// Hugging Face MoE checkpoints on disk (config.json + safetensors) for `sdmoec analyze`, so the
// paper's analysis can run on pretrained models. Layouts, as documented by the transformers
// modeling code (huggingface/transformers, src/transformers/models/…; names verified there, no code
// taken from it):
//   Mixtral     modeling_mixtral.py: MixtralSparseMoeBlock at `model.layers.{i}.block_sparse_moe`,
//               router `gate` = nn.Linear(hidden_size, num_local_experts); experts.{j}.w1 / w3 / w2
//               = gate / up / down projections (act(w1 x) * w3 x, then w2), ffn = intermediate_size.
//               Every layer is sparse.
//   Qwen2-MoE   modeling_qwen2_moe.py: Qwen2MoeSparseMoeBlock at `model.layers.{i}.mlp`, router
//               `gate` = nn.Linear(hidden_size, num_experts), experts.{j}.{gate,up,down}_proj with
//               moe_intermediate_size, plus `shared_expert` (shared_expert_intermediate_size) and
//               `shared_expert_gate` = nn.Linear(hidden_size, 1). Layer i is sparse when i is not in
//               mlp_only_layers, num_experts > 0 and (i + 1) % decoder_sparse_step == 0.
//   DeepSeek    modeling_deepseek_v3.py (and DeepSeek-V2's modeling_deepseek.py): DeepseekV3MoE at
//   V2 / V3     `model.layers.{i}.mlp`, router `gate.weight` [n_routed_experts, hidden_size] (a bare
//               parameter, V3 also a buffer `gate.e_score_correction_bias` [n_routed_experts]),
//               experts.{j}.{gate,up,down}_proj with moe_intermediate_size, `shared_experts` with
//               n_shared_experts × moe_intermediate_size. Layer i is sparse when
//               i >= first_k_dense_replace and i % moe_layer_freq == 0 (V2's rule; V3 uses 1).
// nn.Linear stores weight as [out, in]; this project stores [in, out], so every matrix is transposed
// on load. Only the routed experts are analysed; shared experts are reported as present.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../base/errors.ts';
import { readJsonObject } from './json.ts';
import { transposeInto, type AnalysisModel, type ExpertMatrixKind, type LoadedMatrix, type MatrixRef } from './model.ts';
import { TensorStore } from './tensors.ts';

export type HfArchitecture = 'mixtral' | 'qwen2_moe' | 'deepseek_v2' | 'deepseek_v3';

interface Layout {
  id: HfArchitecture;
  title: string;
  modelTypes: string[];
  architectures: string[];
  expertsField: string;
  ffnField: string;
  block: (layer: number) => string;
  expert: (j: number, m: ExpertMatrixKind) => string;
  isSparse: (c: HfConfig, layer: number) => boolean;
  shared: (c: HfConfig, block: string, store: TensorStore) => string | undefined;
  bias?: string;
}

interface HfConfig {
  path: string;
  text: string;
  raw: Record<string, unknown>;
  int(field: string, fallback?: number): number;
  ints(field: string): number[];
}

const MIXTRAL_NAMES: Record<ExpertMatrixKind, string> = { gate: 'w1', up: 'w3', down: 'w2' };

const LAYOUTS: Layout[] = [
  {
    id: 'mixtral',
    title: 'Mixtral',
    modelTypes: ['mixtral'],
    architectures: ['MixtralForCausalLM'],
    expertsField: 'num_local_experts',
    ffnField: 'intermediate_size',
    block: (l) => `model.layers.${l}.block_sparse_moe`,
    expert: (j, m) => `experts.${j}.${MIXTRAL_NAMES[m]}.weight`,
    isSparse: () => true,
    shared: () => undefined,
  },
  {
    id: 'qwen2_moe',
    title: 'Qwen2-MoE',
    modelTypes: ['qwen2_moe'],
    architectures: ['Qwen2MoeForCausalLM'],
    expertsField: 'num_experts',
    ffnField: 'moe_intermediate_size',
    block: (l) => `model.layers.${l}.mlp`,
    expert: (j, m) => `experts.${j}.${m}_proj.weight`,
    isSparse: (c, l) => !c.ints('mlp_only_layers').includes(l) && c.int('num_experts') > 0 && (l + 1) % c.int('decoder_sparse_step', 1) === 0,
    shared: (c, block, store) =>
      store.has(`${block}.shared_expert.gate_proj.weight`)
        ? `1 shared expert (hidden ${c.int('shared_expert_intermediate_size', 0) || '?'})${store.has(`${block}.shared_expert_gate.weight`) ? ', sigmoid-gated' : ''}`
        : undefined,
  },
  ...(['deepseek_v2', 'deepseek_v3'] as const).map((id): Layout => ({
    id,
    title: id === 'deepseek_v2' ? 'DeepSeek-V2' : 'DeepSeek-V3',
    modelTypes: [id],
    architectures: [id === 'deepseek_v2' ? 'DeepseekV2ForCausalLM' : 'DeepseekV3ForCausalLM'],
    expertsField: 'n_routed_experts',
    ffnField: 'moe_intermediate_size',
    block: (l) => `model.layers.${l}.mlp`,
    expert: (j, m) => `experts.${j}.${m}_proj.weight`,
    isSparse: (c, l) => l >= c.int('first_k_dense_replace', 0) && l % c.int('moe_layer_freq', 1) === 0,
    shared: (c, block, store) => {
      if (!store.has(`${block}.shared_experts.gate_proj.weight`)) return undefined;
      const n = c.int('n_shared_experts', 1);
      return `${n} shared expert${n === 1 ? '' : 's'} (hidden ${n} × ${c.int('moe_intermediate_size')})`;
    },
    bias: 'gate.e_score_correction_bias',
  })),
];

export const SUPPORTED_HF = LAYOUTS.map((l) => `${l.title} (model_type "${l.modelTypes[0]}")`).join(', ');

/** 1-based line:col of `"key"` in the JSON text, for messages about a field (1:1 when absent). */
function locate(text: string, key: string): string {
  const at = text.indexOf(JSON.stringify(key));
  if (at < 0) return '1:1';
  const lines = text.slice(0, at).split('\n');
  return `${lines.length}:${lines[lines.length - 1].length + 1}`;
}

function readConfig(path: string): HfConfig {
  const raw = readJsonObject(path, 'config.json');
  // The raw text is only needed to locate fields in messages.
  const text = readFileSync(path, 'utf8');
  const c: HfConfig = {
    path,
    text,
    raw,
    int(field, fallback) {
      const v = raw[field];
      if (v === undefined || v === null) {
        if (fallback !== undefined) return fallback;
        throw new UserError(`${path}:${locate(text, field)}: field "${field}" is missing (needed to find the experts)`);
      }
      if (!Number.isSafeInteger(v) || (v as number) < 0) throw new UserError(`${path}:${locate(text, field)}: field "${field}" must be a non-negative integer, got ${JSON.stringify(v)}`);
      return v as number;
    },
    ints(field) {
      const v = raw[field] ?? [];
      if (!Array.isArray(v) || !v.every((x) => Number.isSafeInteger(x))) throw new UserError(`${path}:${locate(text, field)}: field "${field}" must be a list of integers`);
      return v as number[];
    },
  };
  return c;
}

/** Which layout a config.json describes, from `model_type`, else `architectures`. */
export function detectArchitecture(config: Record<string, unknown>, path: string, text = ''): HfArchitecture {
  const type = config.model_type;
  const archs = Array.isArray(config.architectures) ? config.architectures.filter((a): a is string => typeof a === 'string') : [];
  const byType = typeof type === 'string' ? LAYOUTS.find((l) => l.modelTypes.includes(type)) : undefined;
  const byArch = LAYOUTS.find((l) => archs.some((a) => l.architectures.includes(a)));
  const found = byType ?? byArch;
  if (!found) {
    const what = typeof type === 'string' ? `model_type "${type}"` : archs.length ? `architectures ${JSON.stringify(archs)}` : 'no model_type or architectures field';
    throw new UserError(`${path}:${locate(text, typeof type === 'string' ? 'model_type' : 'architectures')}: unsupported architecture (${what}); analyze reads ${SUPPORTED_HF}`);
  }
  return found.id;
}

/** Is `dir` a Hugging Face model directory (config.json naming an architecture, not an sdmoec run)? */
export function looksLikeHf(dir: string): boolean {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) return false;
  try {
    const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    return !('model' in raw && 'train' in raw);
  } catch {
    return true; // let the HF loader report the syntax error with its location
  }
}

export async function loadHuggingFace(dir: string): Promise<AnalysisModel> {
  const configPath = join(dir, 'config.json');
  const config = readConfig(configPath);
  const layout = LAYOUTS.find((l) => l.id === detectArchitecture(config.raw, configPath, config.text))!;
  const hidden = config.int('hidden_size');
  const ffn = config.int(layout.ffnField);
  const experts = config.int(layout.expertsField);
  const topK = config.int('num_experts_per_tok');
  const layers = config.int('num_hidden_layers');
  if (experts < 1) throw new UserError(`${configPath}:${locate(config.text, layout.expertsField)}: ${layout.expertsField} is 0: the model has no routed experts to analyse`);
  const store = await TensorStore.open(dir);
  const moeLayers = Array.from({ length: layers }, (_, l) => l).filter((l) => layout.isSparse(config, l));
  const why = (l: number): string => `layer ${l} is a MoE layer of ${layout.title} per ${configPath} (${layout.expertsField}=${experts}, hidden_size=${hidden}, ${layout.ffnField}=${ffn})`;
  // Fail early, before any SVD, when a routed expert is missing or misshapen.
  for (const l of moeLayers) {
    const block = layout.block(l);
    const expect = (name: string, shape: number[]): void => {
      const info = store.info(name);
      if (!info) throw new UserError(`${store.listing}: tensor "${name}" is missing (${why(l)})`);
      if (info.shape.join() !== shape.join()) throw new UserError(`${info.file}: tensor "${name}" has shape [${info.shape.join(', ')}], expected [${shape.join(', ')}] (${why(l)})`);
    };
    expect(`${block}.gate.weight`, [experts, hidden]);
    for (let j = 0; j < experts; j++) {
      expect(`${block}.${layout.expert(j, 'gate')}`, [ffn, hidden]);
      expect(`${block}.${layout.expert(j, 'up')}`, [ffn, hidden]);
      expect(`${block}.${layout.expert(j, 'down')}`, [hidden, ffn]);
    }
  }
  const matrices: MatrixRef[] = [];
  for (const l of moeLayers) {
    const block = layout.block(l);
    for (const matrix of ['gate', 'up', 'down'] as const) {
      const [rows, cols] = matrix === 'down' ? [ffn, hidden] : [hidden, ffn];
      matrices.push({
        layer: l,
        matrix,
        rows,
        cols,
        experts,
        sd: false,
        load: async (): Promise<LoadedMatrix> => {
          const weights = new Float32Array(experts * rows * cols);
          for (let j = 0; j < experts; j++) {
            const w = await store.read(`${block}.${layout.expert(j, matrix)}`, [cols, rows], why(l));
            transposeInto(weights, j * rows * cols, w, cols, rows);
          }
          const out: LoadedMatrix = { layer: l, matrix, rows, cols, experts, weights };
          if (matrix !== 'down') {
            // gate.weight is [E, hidden]; the diagnostics take the router as [hidden, E].
            const g = await store.read(`${block}.gate.weight`, [experts, hidden], why(l));
            const router = new Float32Array(hidden * experts);
            transposeInto(router, 0, g, experts, hidden);
            out.router = router;
          }
          if (layout.bias && store.has(`${block}.${layout.bias}`)) out.routerBias = Array.from(await store.read(`${block}.${layout.bias}`, [experts], why(l)));
          return out;
        },
      });
    }
  }
  const shared = moeLayers.length ? layout.shared(config, layout.block(moeLayers[0]), store) : undefined;
  const dense = layers - moeLayers.length;
  const notes = [
    `${layout.title} layout; nn.Linear weights [out, in] transposed to [in, out] on load`,
    ...(dense ? [`${dense} dense layer${dense === 1 ? '' : 's'} without experts (${Array.from({ length: layers }, (_, l) => l).filter((l) => !moeLayers.includes(l)).join(', ')})`] : []),
    ...(shared ? [`${shared} per MoE layer: not analysed (only routed experts are compared)`] : []),
  ];
  const archs = config.raw.architectures;
  return {
    format: 'huggingface',
    architecture: layout.id,
    path: dir,
    name: Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : layout.title,
    hiddenSize: hidden,
    expertHidden: ffn,
    experts,
    topK,
    layers,
    moeLayers,
    sharedExperts: shared,
    files: store.describe(),
    notes,
    matrices,
  };
}
