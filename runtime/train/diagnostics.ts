// Inputs of the SD-MoE expert diagnostics (runtime/sd/diagnostics.ts, stand-ins for the paper's
// unrecovered §2 metrics; docs/diagnostics.md) for every routed-expert matrix of a plan, found by
// param role, never by name: baseline experts ('experts') as they are; SD matrices
// (spectralMatrices) as proxies W_c + W_u(e) with W_c, W_u, U_k, V_k alongside; and the layer's
// router [D, E] for gate and up, whose input is the model-dim token the router scores (down reads
// the hidden activation, so it gets no alignment even when expert_hidden equals dim).
// `read` fetches a param's current values (the device in the trainer, a checkpoint or a stub elsewhere).
// Ordered by layer, then gate, up, down.
import { paramsWithRole, type ExecutionPlan } from '../../compiler/codegen/plan.ts';
import type { ExpertMatrixInput } from '../sd/diagnostics.ts';
import { spectralMatrices } from './spectral.ts';

export async function diagnosticsInputs(plan: ExecutionPlan, read: (name: string) => Promise<Float32Array>): Promise<ExpertMatrixInput[]> {
  const routers = new Map<number, { name: string; shape: readonly number[] }>();
  for (const { name, spec, role } of paramsWithRole(plan, 'router')) routers.set(role.layer, { name, shape: spec.type.shape });
  const routerFor = async (layer: number, matrix: string, rows: number, experts: number): Promise<Float32Array | undefined> => {
    const r = routers.get(layer);
    return matrix !== 'down' && r && r.shape[0] === rows && r.shape[1] === experts ? read(r.name) : undefined;
  };
  const inputs: ExpertMatrixInput[] = [];
  for (const { name, spec, role } of paramsWithRole(plan, 'experts')) {
    const [experts, rows, cols] = spec.type.shape;
    inputs.push({ layer: role.layer, matrix: role.matrix, rows, cols, experts, weights: await read(name), router: await routerFor(role.layer, role.matrix, rows, experts) });
  }
  for (const m of spectralMatrices(plan)) {
    const { rows, cols, experts } = m;
    const size = rows * cols;
    const common = await read(m.params.common);
    const unique = await read(m.params.unique);
    const weights = new Float32Array(unique.length);
    for (let e = 0; e < experts; e++) for (let i = 0; i < size; i++) weights[e * size + i] = common[i] + unique[e * size + i];
    inputs.push({
      layer: m.layer, matrix: m.matrix, rows, cols, experts, weights,
      sd: { common, unique, uk: await read(m.params.uk), vk: await read(m.params.vk), rank: m.rank },
      router: await routerFor(m.layer, m.matrix, rows, experts),
    });
  }
  const order: Record<string, number> = { gate: 0, up: 1, down: 2 };
  return inputs.sort((a, b) => a.layer - b.layer || (order[a.matrix] ?? 3) - (order[b.matrix] ?? 3));
}
