// What `sdmoec analyze` needs from any checkpoint, whatever wrote it: the routed experts of each
// MoE layer as [E, rows = in, cols = out] matrices per kind (gate / up / down), the layer's router as
// [hidden, E], and for SD-MoE the four decoupled tensors. Loaders (./sdmoec.ts for this project's
// checkpoints, ./hf.ts for Hugging Face directories) describe the model eagerly and read a matrix
// only when `load()` is called, so the analysis holds one (layer, kind) in memory at a time.
import type { ExpertMatrixInput } from '../sd/diagnostics.ts';

export type ExpertMatrixKind = 'gate' | 'up' | 'down';

export interface LoadedMatrix extends ExpertMatrixInput {
  /** DeepSeek-V3's per-expert routing bias (`e_score_correction_bias`), when the checkpoint has one. */
  routerBias?: number[];
}

export interface MatrixRef {
  layer: number;
  matrix: ExpertMatrixKind;
  rows: number;
  cols: number;
  experts: number;
  /** Spectrally decoupled (W_c + W_u(i)) rather than plain experts. */
  sd: boolean;
  load(): Promise<LoadedMatrix>;
}

export interface AnalysisModel {
  format: 'sdmoec' | 'huggingface';
  /** 'sdmoec', 'mixtral', 'qwen2_moe', 'deepseek_v2' or 'deepseek_v3'. */
  architecture: string;
  /** The checkpoint directory actually read (a run directory resolves to its latest step). */
  path: string;
  step?: number;
  /** Model name (sdmoec) or `architectures[0]` (Hugging Face), when known. */
  name?: string;
  hiddenSize: number;
  expertHidden: number;
  experts: number;
  topK: number;
  layers: number;
  moeLayers: number[];
  /** E.g. "1 shared expert (hidden 5632), gated": present in the model, not analysed. */
  sharedExperts?: string;
  /** The file(s) the weights came from. */
  files: string;
  notes: string[];
  matrices: MatrixRef[];
}

/** [E][out, in] nn.Linear weights (PyTorch layout) → this project's [E, in, out]. */
export function transposeInto(dst: Float32Array, offset: number, src: Float32Array, out: number, inn: number): void {
  for (let o = 0; o < out; o++) {
    const base = o * inn;
    for (let i = 0; i < inn; i++) dst[offset + i * out + o] = src[base + i];
  }
}
