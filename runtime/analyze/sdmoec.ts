// This project's checkpoints for `sdmoec analyze`: a `step-NNNNNN/` directory or a run directory
// (its latest complete checkpoint), with the run's config.json ({model, train}, written by
// `sdmoec run`) beside the step directories. The checkpoint stores only param names, so the run's
// model config is compiled to an evaluation plan and every tensor is found by its typed role
// (ParamRole): `paramsWithRole(plan, 'experts' | 'router')` and `spectralMatrices(plan)`; a
// renamed param would still be found, a name suffix is never parsed.
// Compiling needs no device: the plan is built for generous fixed caps, which choose kernel
// variants only and never change a param's name, shape or role.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DeviceCaps } from '../../base/caps.ts';
import { UserError } from '../../base/errors.ts';
import { paramsWithRole, planGraph, type ExecutionPlan } from '../../compiler/codegen/plan.ts';
import type { ModelConfig, TrainConfig } from '../../compiler/config/types.ts';
import type { ExpertMatrix } from '../../compiler/ir/types.ts';
import { LoweringError, lowerModel } from '../../compiler/lower/model.ts';
import { EVALUATION_PIPELINE, runPasses } from '../../compiler/passes/registry.ts';
import { loadCheckpoint, type ParamTensor } from '../checkpoint/checkpoint.ts';
import { spectralMatrices } from '../train/spectral.ts';
import { readJsonObject } from './json.ts';
import type { AnalysisModel, LoadedMatrix, MatrixRef } from './model.ts';

const PLANNING_CAPS: DeviceCaps = {
  subgroups: false,
  subgroupMinSize: 4,
  cpuAdapter: false,
  timestampQuery: false,
  maxWorkgroupStorageBytes: 32768,
  maxInvocationsPerWorkgroup: 256,
  maxStorageBufferBindingSize: 2 ** 31,
  maxBufferSize: 2 ** 31,
  maxStorageBuffersPerStage: 16,
};

/** The evaluation plan of a run's model (param names, shapes and roles), without a device. */
export function planForAnalysis(model: ModelConfig, train: Pick<TrainConfig, 'batch' | 'seqLen'>, where: string): ExecutionPlan {
  try {
    const forward = lowerModel(model, { batch: train.batch, seqLen: train.seqLen });
    return planGraph(runPasses(forward, EVALUATION_PIPELINE, {}), PLANNING_CAPS);
  } catch (e) {
    if (e instanceof LoweringError) throw new UserError(`${where}: ${e.message}`);
    throw e;
  }
}

export async function loadSdmoec(path: string): Promise<AnalysisModel> {
  const ckpt = await loadCheckpoint(path);
  const configPath = join(dirname(ckpt.dir), 'config.json');
  if (!existsSync(configPath)) throw new UserError(`${ckpt.dir}: no config.json in ${dirname(ckpt.dir)} (a checkpoint of \`sdmoec run\` sits in its run directory beside config.json)`);
  const raw = readJsonObject(configPath, 'run config');
  if (typeof raw.model !== 'object' || raw.model === null || typeof raw.train !== 'object' || raw.train === null) {
    throw new UserError(`${configPath}:1:1: expected the run config written by \`sdmoec run\` ({"model": …, "train": …})`);
  }
  const model = raw.model as ModelConfig;
  const train = raw.train as TrainConfig;
  const plan = planForAnalysis(model, train, configPath);

  const param = (name: string, shape: readonly number[]): ParamTensor => {
    const t = ckpt.params.get(name);
    if (!t) throw new UserError(`${ckpt.dir}: parameter "${name}" of ${model.name} (${configPath}) is missing from the checkpoint`);
    if (t.shape.join() !== shape.join()) throw new UserError(`${ckpt.dir}: parameter "${name}" has shape [${t.shape.join(', ')}], the model declares [${shape.join(', ')}]`);
    return t;
  };
  const routers = new Map(paramsWithRole(plan, 'router').map((p) => [p.role.layer, p]));
  const routerOf = (layer: number, matrix: ExpertMatrix): Float32Array | undefined => {
    const r = routers.get(layer);
    // The router [dim, E] reads what gate and up read (the model dim); down reads the expert
    // hidden, even when expert_hidden happens to equal dim.
    if (!r || matrix === 'down') return undefined;
    return param(r.name, r.spec.type.shape).data;
  };

  const matrices: MatrixRef[] = [];
  for (const { name, spec, role } of paramsWithRole(plan, 'experts')) {
    const [experts, rows, cols] = spec.type.shape;
    matrices.push({
      layer: role.layer, matrix: role.matrix, rows, cols, experts, sd: false,
      load: async (): Promise<LoadedMatrix> => {
        const router = routerOf(role.layer, role.matrix);
        return { layer: role.layer, matrix: role.matrix, rows, cols, experts, weights: param(name, spec.type.shape).data, ...(router ? { router } : {}) };
      },
    });
  }
  for (const m of spectralMatrices(plan)) {
    matrices.push({
      layer: m.layer, matrix: m.matrix, rows: m.rows, cols: m.cols, experts: m.experts, sd: true,
      load: async (): Promise<LoadedMatrix> => {
        const size = m.rows * m.cols;
        const common = param(m.params.common, [m.rows, m.cols]).data;
        const unique = param(m.params.unique, [m.experts, m.rows, m.cols]).data;
        // The effective expert the model computes with: the proxy W_c + W_u(i).
        const weights = new Float32Array(m.experts * size);
        for (let e = 0; e < m.experts; e++) for (let i = 0; i < size; i++) weights[e * size + i] = common[i] + unique[e * size + i];
        const router = routerOf(m.layer, m.matrix);
        return {
          layer: m.layer, matrix: m.matrix, rows: m.rows, cols: m.cols, experts: m.experts, weights,
          sd: { common, unique, uk: param(m.params.uk, [m.rows, m.rank]).data, vk: param(m.params.vk, [m.cols, m.rank]).data, rank: m.rank },
          ...(router ? { router } : {}),
        };
      },
    });
  }
  const order = { gate: 0, up: 1, down: 2 } as const;
  matrices.sort((a, b) => a.layer - b.layer || order[a.matrix] - order[b.matrix]);
  const moeLayers = [...new Set(matrices.map((m) => m.layer))].sort((a, b) => a - b);
  const shared = model.moe.shared;
  return {
    format: 'sdmoec',
    architecture: 'sdmoec',
    path: ckpt.dir,
    step: ckpt.step,
    name: model.name,
    hiddenSize: model.dim,
    expertHidden: model.moe.expertHidden,
    experts: model.moe.experts,
    topK: model.moe.topK,
    layers: model.layers,
    moeLayers,
    ...(shared ? { sharedExperts: `${shared.count} shared expert${shared.count === 1 ? '' : 's'} (hidden ${shared.hidden})${shared.gated ? ', sigmoid-gated' : ''}` } : {}),
    files: 'model.safetensors',
    notes: [
      `params found by role in the plan compiled from ${configPath}`,
      ...(matrices.some((m) => m.sd) ? ['SD-MoE: experts are the proxies W_c + W_u(i); W_u(i) alone is analysed too'] : []),
    ],
    matrices,
  };
}
