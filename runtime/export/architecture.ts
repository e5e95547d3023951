// Which Hugging Face architecture computes the same function as a model, and what differs when a
// user forces one. The semantics compared are those of the transformers modeling code
// (huggingface/transformers, src/transformers/models/…, read for this, nothing copied):
//   Mixtral    modeling_mixtral.py: RMSNorm, RoPE (rotate_half), grouped-KV causal attention
//              without biases, MixtralSparseMoeBlock: softmax over all experts, top-k, the top-k
//              weights ALWAYS renormalised to sum 1, SwiGLU experts w2(silu(w1 x) · w3 x); every
//              layer sparse; no shared expert.
//   Qwen2-MoE  modeling_qwen2_moe.py: the same attention with q/k/v biases (written as zeros),
//              Qwen2MoeSparseMoeBlock: softmax, top-k, renormalised only when norm_topk_prob, plus
//              ONE shared SwiGLU expert scaled by sigmoid(shared_expert_gate x); layers in
//              mlp_only_layers are dense Qwen2MoeMLP(intermediate_size); head_dim = hidden/heads.
// An ungated shared expert (DeepSeekMoE-style, any count) is still exactly Qwen2-MoE's: the shared
// experts side by side are one SwiGLU of count × hidden (as this project lowers them), and a zero
// shared_expert_gate gives sigmoid(0) = 0.5 exactly, undone by doubling down_proj (exact in floats).
// DeepSeek-V2/V3 (MLA attention), Qwen3-MoE and OLMoE (q/k RMSNorm) have attention this project
// does not lower, so they are import-only (runtime/export/import.ts).
import type { ModelConfig } from '../../compiler/config/types.ts';

export type ExportArchitecture = 'mixtral' | 'qwen2_moe';
export const EXPORT_ARCHITECTURES: readonly ExportArchitecture[] = ['mixtral', 'qwen2_moe'];
export const ARCHITECTURE_TITLE: Record<ExportArchitecture, string> = { mixtral: 'Mixtral', qwen2_moe: 'Qwen2-MoE' };

/** One difference between the model and an architecture, naming the .moe option. `exact`: a
 *  layout adaptation that keeps the function (a note, not a mismatch). */
export interface Mismatch {
  readonly option: string;
  readonly detail: string;
  readonly exact?: boolean;
}

/** Differences that no architecture here can express (independent of the choice). */
function commonMismatches(m: ModelConfig): Mismatch[] {
  const out: Mismatch[] = [];
  const r = m.moe.router;
  if (r.score !== 'softmax') out.push({ option: 'moe.router.score', detail: `score ${r.score}: both architectures take a softmax over the experts` });
  if (r.routedScale !== 1) out.push({ option: 'moe.router.routed_scale', detail: `routed outputs scaled by ${r.routedScale}: neither architecture has a routed scaling factor` });
  if (m.moe.capacity.kind === 'factor') out.push({ option: 'moe.capacity', detail: `capacity factor ${m.moe.capacity.factor} drops tokens; both architectures are dropless` });
  if (m.norm.kind !== 'rmsnorm') out.push({ option: 'norm', detail: `${m.norm.kind}: both architectures use RMSNorm` });
  if (m.moe.activation !== 'swiglu') out.push({ option: 'moe.activation', detail: `${m.moe.activation}: both architectures use SwiGLU (hidden_act silu, gated)` });
  if (r.groups > 1) out.push({ option: 'moe.router.groups', detail: `${r.groups} groups, top ${r.topGroups}: neither architecture limits the choice to groups of experts` });
  if (r.auxFreeBias) out.push({ option: 'moe.router.aux_free_bias', detail: 'the trained selection bias changes which experts are chosen; neither architecture has one' });
  return out;
}

export function mismatches(m: ModelConfig, arch: ExportArchitecture): Mismatch[] {
  const out = commonMismatches(m);
  const { heads, headDim } = m.attention;
  if (arch === 'mixtral') {
    if (!m.moe.router.normalizeTopK) out.push({ option: 'moe.router.normalize_top_k', detail: 'false: Mixtral always renormalises the top-k routing weights to sum 1' });
    if (m.moe.shared) out.push({ option: 'moe.shared_expert', detail: 'Mixtral has no shared expert' });
    if (m.denseLayers > 0) out.push({ option: 'dense_layers', detail: `${m.denseLayers}: every Mixtral layer is sparse` });
  } else {
    if (!m.moe.shared) out.push({ option: 'moe.shared_expert', detail: 'none: a Qwen2-MoE block always adds a shared expert; written with shared_expert_intermediate_size 0 (zero-size tensors), which adds exactly nothing', exact: true });
    else if (!m.moe.shared.gated) out.push({ option: 'moe.shared_expert.gated', detail: 'false: written with a zero shared_expert_gate (sigmoid 0 = 0.5) and down_proj doubled, exactly the same function', exact: true });
    if (heads * headDim !== m.dim) out.push({ option: 'attention.head_dim', detail: `heads × head_dim = ${heads * headDim} ≠ dim ${m.dim}: Qwen2-MoE derives head_dim = hidden_size / num_attention_heads` });
  }
  return out;
}

export interface ArchitectureChoice {
  readonly architecture: ExportArchitecture;
  /** No entry without `exact` when the architecture computes exactly the model's function. */
  readonly mismatches: readonly Mismatch[];
}

/** Differences that change the function (the rest are exact layout notes). */
export const functional = (list: readonly Mismatch[]): Mismatch[] => list.filter((x) => !x.exact);

/** The architecture computing the same function (Mixtral first, then one needing only exact
 *  layout notes), else null with every candidate's mismatches. */
export function matchArchitecture(m: ModelConfig): { match: ExportArchitecture | null; candidates: ArchitectureChoice[] } {
  const candidates = EXPORT_ARCHITECTURES.map((architecture) => ({ architecture, mismatches: mismatches(m, architecture) }));
  const exact = candidates.filter((c) => functional(c.mismatches).length === 0);
  return { match: (exact.find((c) => c.mismatches.length === 0) ?? exact[0])?.architecture ?? null, candidates };
}

export function describeMismatches(list: readonly Mismatch[], indent = '  '): string {
  return list.map((x) => `${indent}${x.option}: ${x.detail}`).join('\n');
}
