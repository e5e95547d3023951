// Execution planning: liveness-based reuse keeps memory below the unplanned total, optimizer slabs
// respect the adapter's binding limit (a group is split into several slabs), and a model whose
// buffers cannot fit is refused with the offending buffers named.
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIMIZER } from '../../compiler/passes/optimizer.ts';
import { firstDispatchTouching, planGraph, type ExecutionPlan } from '../../compiler/codegen/plan.ts';
import { lowerModel } from '../../compiler/lower/model.ts';
import { LoweringError } from '../../compiler/lower/model.ts';
import { compileTraining } from '../../compiler/pipeline.ts';
import { runPasses, TRAINING_PIPELINE } from '../../compiler/passes/registry.ts';
import type { DeviceCaps } from '../../base/caps.ts';
import { PLANNING_CAPS } from '../support/caps.ts';
import type { TrainConfig } from '../../compiler/config/types.ts';
import { tinyModel } from './models.ts';
import { topoOrder } from '../../compiler/ir/graph.ts';

const CAPS: DeviceCaps = PLANNING_CAPS;
const SHAPE = { batch: 2, seqLen: 8 };

describe('execution planning', () => {
  const step = runPasses(lowerModel(tinyModel(), SHAPE), TRAINING_PIPELINE);

  it('never lets a dispatch write bytes that another of its bindings reads (pooled and batch buffers alias nothing live)', () => {
    for (const plan of [planGraph(step, CAPS), planGraph(runPasses(lowerModel(tinyModel(), { batch: 1, seqLen: 4 }), TRAINING_PIPELINE), CAPS)]) {
      const range = (id: number) => {
        const b = plan.buffers[id];
        return b.view ? { root: b.view.of, lo: b.view.offset, hi: b.view.offset + b.bytes } : { root: id, lo: 0, hi: b.bytes };
      };
      let pairs = 0;
      for (const d of plan.dispatches) {
        const bound = d.program.bindings.map((b, k) => ({ access: b.access, name: b.name, r: range(d.buffers[k]) }));
        for (const w of bound.filter((x) => x.access === 'write')) {
          for (const r of bound.filter((x) => x.access === 'read')) {
            pairs++;
            const overlap = w.r.root === r.r.root && w.r.lo < r.r.hi && r.r.lo < w.r.hi;
            expect(overlap, `${d.program.label}: ${w.name} over ${r.name}`).toBe(false);
          }
        }
      }
      expect(pairs).toBeGreaterThan(plan.dispatches.length);
    }
  });

  it('ropes q and k in their GEMMs (k first in its batch with v) and rotates dq, dk back after the tiled backward', () => {
    const plan = planGraph(step, CAPS);
    const labels = plan.dispatches.map((d) => d.program.label);
    // the tiny model: 2 layers, q (16 columns) alone, k and v (8 each, GQA) one batch whose first entry is roped
    expect(labels.filter((l) => /^matmul_nn_b1_\d+x16x\d+_sg_rope$/.test(l)).length).toBe(2);
    expect(labels.filter((l) => /^matmul_nn_b2_.*_rope1$/.test(l)).length).toBe(2);
    expect(labels.filter((l) => l.startsWith('rope_fwd'))).toEqual([]);
    // PLANNING_CAPS is no CPU adapter: tiled attention kernels, then dq and dk rotated in place
    expect(plan.dispatches.filter((d) => d.op === 'attention_grad').map((d) => d.program.template)).toEqual(['attention_dq', 'attention_dkv', 'rope', 'rope', 'attention_dq', 'attention_dkv', 'rope', 'rope']);
  });

  it('hands the dying logits to the cross-entropy gradient on CPU adapters (dlogits written over them), not elsewhere', () => {
    const xent = (plan: ExecutionPlan) => plan.dispatches.find((d) => d.program.label.startsWith('cross_entropy_grad_'))!;
    // without the shared expert the final norm is fused into the last combine, so the LM head's node dies at the
    // cross-entropy (liveness is per node: a fused norm's y read later would keep the logits' node alive)
    const plain = runPasses(lowerModel(tinyModel({ shared: false }), SHAPE), TRAINING_PIPELINE);
    const cpu = planGraph(plain, { ...CAPS, cpuAdapter: true });
    const inPlace = xent(cpu);
    expect(inPlace.program.label).toMatch(/_inplace_rows$/);
    const logitsAt = inPlace.program.bindings.findIndex((b) => b.name === 'logits');
    // the logits' producer (the LM-head GEMM) wrote the same buffer, and the dlogits' readers read it
    const producer = cpu.dispatches.slice(0, cpu.dispatches.indexOf(inPlace)).filter((d) => d.op === 'matmul').at(-1)!;
    expect(producer.buffers[producer.program.bindings.findIndex((b) => b.name === 'c')]).toBe(inPlace.buffers[logitsAt]);
    const readers = cpu.dispatches.slice(cpu.dispatches.indexOf(inPlace) + 1).filter((d) => d.buffers.includes(inPlace.buffers[logitsAt]));
    expect(readers.length).toBeGreaterThanOrEqual(2); // the LM head's data and weight gradient GEMMs
    const gpu = xent(planGraph(plain, CAPS));
    expect(gpu.program.bindings.map((b) => b.name)).toContain('dlogits');
    expect(gpu.buffers[gpu.program.bindings.findIndex((b) => b.name === 'dlogits')]).not.toBe(gpu.buffers[gpu.program.bindings.findIndex((b) => b.name === 'logits')]);
  });

  it('reuses activation buffers and puts each AdamW group in one dispatch', () => {
    const plan = planGraph(step, CAPS);
    const activationBytes = plan.buffers.filter((b) => b.kind === 'activation').reduce((s, b) => s + b.bytes, 0);
    expect(activationBytes).toBeLessThan(plan.unplannedActivationBytes);
    const adamw = plan.dispatches.filter((d) => d.op === 'adamw');
    expect(adamw.length).toBeGreaterThanOrEqual(1);
    expect(adamw.length).toBeLessThanOrEqual(3);
    expect(plan.buffers.filter((b) => b.kind === 'slab').length).toBe(4 * adamw.length);
  });

  it('puts matrices and norm gains (different weight decay) in one slab: one AdamW and one norm pass, decay by segment', () => {
    const plan = planGraph(step, CAPS);
    const adamw = plan.dispatches.filter((d) => d.op === 'adamw');
    expect(adamw.length).toBe(1);
    expect(plan.dispatches.filter((d) => d.op === 'grad_norm').length).toBe(2); // partials and finalize over the one slab
    const segments = adamw[0].program.params.segments as { start: number; end: number; weightDecay: string }[];
    expect(segments.map((x) => parseFloat(x.weightDecay))).toEqual([Math.fround(DEFAULT_OPTIMIZER.weightDecay), 0]); // f32 literals
    // every param's slot lies in the segment of its own decay: matrices decay, vectors (norm gains) do not
    const width = adamw[0].program.bindings[0].vec4 ? 4 : 1;
    const slab = adamw[0].buffers[0];
    let checked = 0;
    for (const [name, spec] of Object.entries(plan.params)) {
      const view = plan.buffers[spec.buffer].view;
      if (!view || view.of !== slab) continue;
      const at = view.offset / 4 / width;
      const seg = segments.find((x) => x.start <= at && at < x.end)!;
      expect(parseFloat(seg.weightDecay), name).toBe(spec.type.shape.length >= 2 ? Math.fround(DEFAULT_OPTIMIZER.weightDecay) : 0);
      checked++;
    }
    expect(checked).toBeGreaterThan(4);
  });

  it('keeps SD-MoE params in the optimizer slab of the other weights: the split writes two disjoint slots of it', () => {
    const plan = (spectral: boolean) => planGraph(runPasses(lowerModel(tinyModel({ spectral }), SHAPE), TRAINING_PIPELINE), CAPS);
    const count = (p: ReturnType<typeof plan>, op: string): number => p.dispatches.filter((d) => d.op === op).length;
    // Out of slabs, each of the 12 SD params would cost an AdamW and a norm dispatch of its own; in a
    // slab of their own, one more of each. The split writes W_c's and W_u's gradients into one slab
    // through two bindings whose ranges do not overlap, which WebGPU allows.
    const sd = plan(true);
    const base = plan(false);
    expect(count(sd, 'adamw')).toBe(count(base, 'adamw'));
    expect(count(sd, 'grad_norm')).toBe(count(base, 'grad_norm'));
    let sharedSlabWrites = 0;
    for (const d of sd.dispatches) {
      const views = d.program.bindings
        .map((b, i) => ({ access: b.access, buffer: sd.buffers[d.buffers[i]] }))
        .filter((x) => x.buffer.view && x.access !== 'read' && x.access !== 'uniform');
      for (const [i, a] of views.entries()) {
        for (const b of views.slice(i + 1)) {
          if (a.buffer.view!.of !== b.buffer.view!.of) continue;
          // (other producers may write two slots of one buffer too: a weight-gradient batch's B, e.g. the shared expert's dg and du)
          if (d.op === 'sd_split_grad') sharedSlabWrites++;
          const [lo, hi] = a.buffer.view!.offset < b.buffer.view!.offset ? [a.buffer, b.buffer] : [b.buffer, a.buffer];
          expect(lo.view!.offset + lo.bytes).toBeLessThanOrEqual(hi.view!.offset);
        }
      }
    }
    // Every split's last kernel (the one binding `gu`) writes both gradients into one slab.
    const splitOuts = sd.dispatches.filter((d) => d.op === 'sd_split_grad' && d.program.bindings.some((b) => b.name === 'gu'));
    expect(splitOuts.length).toBeGreaterThan(0);
    expect(sharedSlabWrites).toBe(splitOuts.length);
  });

  it('materialises the SD proxies of one size in one dispatch, into disjoint slots of one buffer, read from their slab slots', () => {
    const g = runPasses(lowerModel(tinyModel({ spectral: true }), SHAPE), TRAINING_PIPELINE);
    const plan = planGraph(g, CAPS);
    const proxies = topoOrder(g).filter((n) => n.op === 'expert_weight');
    // elementwise: [E, K, N] and [E, N, K] batch together
    const shapes = new Set(proxies.map((n) => `${n.types[0].shape[0]}:${n.types[0].shape[1] * n.types[0].shape[2]}`));
    expect(proxies.length).toBeGreaterThan(shapes.size); // some shape has several matrices
    const batches = plan.dispatches.filter((d) => d.op === 'expert_weight');
    expect(batches.length).toBe(shapes.size);
    const members = batches.reduce((s, d) => s + Number(/_b(\d+)/.exec(d.program.label)![1]), 0);
    expect(members).toBe(proxies.length);
    for (const d of batches) {
      const at = (name: string) => plan.buffers[d.buffers[d.program.bindings.findIndex((b) => b.name === name)]];
      // W_c and W_u are read from the slab (the params buffer), the proxies written to the batch buffer
      expect(at('wc').kind).toBe('slab');
      expect(at('wu').kind).toBe('slab');
      const out = at('out');
      expect(out.view).toBeUndefined();
      const slots = plan.buffers.filter((b) => b.view?.of === out.id).sort((a, b) => a.view!.offset - b.view!.offset);
      expect(slots.length).toBeGreaterThan(1);
      for (let i = 1; i < slots.length; i++) expect(slots[i - 1].view!.offset + slots[i - 1].bytes).toBeLessThanOrEqual(slots[i].view!.offset);
    }
  });

  it('runs the CPU adapters\' gradient splits of one shape as one batch: G, U and V in batch buffers, results in the slab', () => {
    const cpu: DeviceCaps = { ...CAPS, cpuAdapter: true, subgroups: true, subgroupMinSize: 8 };
    const m = tinyModel({ spectral: true });
    const g = runPasses(lowerModel({ ...m, spectral: { ...m.spectral!, rank: 8 } }, SHAPE), TRAINING_PIPELINE);
    const plan = planGraph(g, cpu);
    const splits = topoOrder(g).filter((n) => n.op === 'sd_split_grad');
    const shapes = new Set(splits.map((n) => n.inputs[0].node.types[n.inputs[0].index].shape.join('x')));
    expect(splits.length).toBeGreaterThan(shapes.size);
    const dispatches = plan.dispatches.filter((d) => d.op === 'sd_split_grad');
    const count = (label: string) => Number(/_b(\d+)/.exec(label)?.[1] ?? 1);
    // one sd_split_ap and one sd_split_out_pc per batch or lone split, covering every split once: the down
    // shape (E·cols/4 = 4·16/4) batches over 8 lanes, gate/up (4·12/4 = 12 column quads) cannot
    const aps = dispatches.filter((d) => d.program.label.startsWith('sd_split_ap_'));
    expect(aps.reduce((sum, d) => sum + count(d.program.label), 0)).toBe(splits.length);
    expect(dispatches.length).toBe(2 * aps.length);
    const batched = dispatches.filter((d) => count(d.program.label) > 1);
    expect(batched.map((d) => d.program.label)).toEqual(['sd_split_ap_e4_12x16_r8_b2_sg8', 'sd_split_out_pc_e4_12x16_r8_sum_b2_sg8']);
    for (const d of batched) {
      const at = (name: string) => plan.buffers[d.buffers[d.program.bindings.findIndex((b) => b.name === name)]];
      expect(at('g').kind).toBe('activation');
      expect(at('u').kind).toBe('param');
      expect(at('v').kind).toBe('param');
      if (d.program.bindings.some((b) => b.name === 'gu')) expect(at('gu').kind).toBe('slab');
    }
    // the batched matrices' U_k and V_k are slots of a basis buffer (re-basing and checkpoints write them there)
    const bases = Object.values(plan.params).filter((p) => p.role?.kind === 'sd' && (p.role.part === 'basis_u' || p.role.part === 'basis_v'));
    expect(bases.length).toBe(2 * splits.length);
    const inBatch = bases.filter((p) => plan.buffers[p.buffer].view);
    expect(inBatch.length).toBe(4);
    for (const p of inBatch) expect(plan.buffers[plan.buffers[p.buffer].view!.of].name).toMatch(/^sd_split\d+\.(U|V)_k$/);
    // without a CPU adapter: the three kernels per split, no batches
    expect(planGraph(g, { ...cpu, cpuAdapter: false }).dispatches.filter((d) => /^sd_split_.*_b\d/.test(d.program.label))).toEqual([]);
  });

  it('runs matmuls that share A, with weights in neighbouring slab slots, as one batched GEMM (k and v; shared-expert gate and up)', () => {
    const plan = planGraph(step, CAPS);
    const order = topoOrder(step);
    // matmuls reading one A with a param B of one shape: the tiny model's k and v (GQA: q is wider) and its shared expert's gate and up
    const groups = new Map<string, number>();
    for (const n of order) {
      if (n.op !== 'matmul' || n.inputs[1].node.op !== 'param') continue;
      const key = `${order.indexOf(n.inputs[0].node)}:${n.inputs[1].node.types[0].shape.join('x')}`;
      groups.set(key, (groups.get(key) ?? 0) + 1);
    }
    const expected = [...groups.values()].filter((c) => c > 1);
    expect(expected.length).toBeGreaterThan(0);
    const batched = plan.dispatches.filter((d) => d.op === 'matmul' && /^matmul_nn_b\d+_.*_s0-/.test(d.program.label));
    expect(batched.map((d) => Number(/_b(\d+)_/.exec(d.program.label)![1])).sort()).toEqual(expected.sort());
    for (const d of batched) {
      const at = (name: string) => d.buffers[d.program.bindings.findIndex((b) => b.name === name)];
      // B a window of the params slab, C a pool buffer whose slots are the members' results
      expect(plan.buffers[plan.buffers[at('b')].view!.of].kind).toBe('slab');
      const c = at('c');
      // one slot per member (a pooled buffer may hold another batch's slots later, at the same offsets)
      expect(new Set(plan.buffers.filter((b) => b.view?.of === c).map((b) => b.view!.offset)).size).toBe(Number(/_b(\d+)_/.exec(d.program.label)![1]));
      // the buffer goes back to the pool once the results are dead: a later dispatch writes another value into it
      const i = plan.dispatches.indexOf(d);
      expect(plan.dispatches.slice(i + 1).some((x) => x.buffers.includes(c) && x.op !== 'matmul')).toBe(true);
    }
  });

  it('runs weight gradients that share A, into neighbouring gradient slots, as one batched GEMM whose B the producers write side by side', () => {
    const plan = planGraph(step, CAPS);
    const count = (label: string) => Number(/^matmul_tn_b(\d+)_/.exec(label)?.[1] ?? 0);
    const batched = plan.dispatches.filter((d) => d.op === 'matmul' && count(d.program.label) > 1);
    // dW of k and v (GQA) in each layer, and of the shared expert's gate and up
    expect(batched.length).toBeGreaterThanOrEqual(2);
    for (const d of batched) {
      const members = count(d.program.label);
      const at = (name: string) => d.buffers[d.program.bindings.findIndex((b) => b.name === name)];
      // C: a window of the gradient slab covering the members' gradient slots
      const c = plan.buffers[at('c')];
      expect(plan.buffers[c.view!.of].kind).toBe('slab');
      const inside = plan.buffers.filter((b) => b.kind === 'grad' && b.view?.of === c.view!.of && b.view.offset >= c.view!.offset && b.view.offset + b.bytes <= c.view!.offset + c.bytes);
      expect(inside.length).toBeGreaterThanOrEqual(members);
      // B: a pool buffer whose slots earlier dispatches wrote (the producers of dq/dk/dv or dg/du)
      const b = at('b');
      const i = plan.dispatches.indexOf(d);
      const views = plan.buffers.filter((x) => x.view?.of === b);
      const slots = views.map((x) => x.id);
      // one slot per member (a pooled buffer may hold another batch's slots too, at the same offsets)
      expect(new Set(views.map((x) => x.view!.offset)).size).toBe(members);
      expect(plan.dispatches.slice(0, i).some((x) => x.buffers.some((id) => slots.includes(id)))).toBe(true);
    }
  });

  it('binds every uniform as a window of the size it declares, also when a pooled buffer is larger', () => {
    const cpu: DeviceCaps = { ...CAPS, cpuAdapter: true, subgroups: true, subgroupMinSize: 8 };
    const m = tinyModel({ spectral: true });
    const plan = planGraph(runPasses(lowerModel({ ...m, spectral: { ...m.spectral!, rank: 4 } }, SHAPE), TRAINING_PIPELINE), cpu);
    const round = (bytes: number) => Math.ceil(bytes / 256) * 256;
    let windowed = 0;
    for (const d of plan.dispatches) {
      d.program.bindings.forEach((b, i) => {
        if (b.access !== 'uniform') return;
        const buffer = plan.buffers[d.buffers[i]];
        expect(buffer.bytes).toBeLessThanOrEqual(round(b.length * 4));
        if (buffer.view && plan.buffers[buffer.view.of].bytes > buffer.bytes) windowed++;
      });
    }
    // the split's temporaries come from the pool, some larger than asked: those are the windowed ones
    expect(windowed).toBeGreaterThan(0);
  });

  it('finds the first dispatch touching a buffer by the bytes it covers (slots of a slab, the slab, nested views)', () => {
    // Buffer 0: a 1024-byte slab; 1 and 2: its slots [0, 256) and [256, 512); 3: a buffer of its
    // own; 4: a slot of slot 2 at [384, 512) of the slab.
    const buffers = [
      { id: 0, bytes: 1024 },
      { id: 1, bytes: 256, view: { of: 0, offset: 0 } },
      { id: 2, bytes: 256, view: { of: 0, offset: 256 } },
      { id: 3, bytes: 64 },
      { id: 4, bytes: 128, view: { of: 2, offset: 128 } },
    ];
    const plan = (binds: number[][]) => ({ buffers, dispatches: binds.map((b) => ({ buffers: b })) }) as unknown as ExecutionPlan;
    const p = plan([[3], [1], [0], [2]]);
    expect(firstDispatchTouching(p, [3])).toBe(0);
    expect(firstDispatchTouching(p, [1])).toBe(1);
    expect(firstDispatchTouching(p, [2])).toBe(2); // the whole slab covers it; slot 1 does not
    expect(firstDispatchTouching(p, [4])).toBe(2);
    expect(firstDispatchTouching(p, [])).toBe(4);
    expect(firstDispatchTouching(plan([[1], [4], [2]]), [2])).toBe(1); // a slot of the slot
    expect(firstDispatchTouching(plan([[1], [3]]), [4])).toBe(2); // none: past the end
  });

  it('splits optimizer slabs at the binding limit', () => {
    const limit = 8 << 10;
    const plan = planGraph(step, { ...CAPS, maxStorageBufferBindingSize: limit });
    const slabs = plan.buffers.filter((b) => b.kind === 'slab');
    expect(slabs.length).toBeGreaterThan(8);
    for (const s of slabs) expect(s.bytes).toBeLessThanOrEqual(limit);
    expect(plan.dispatches.filter((d) => d.op === 'adamw').length).toBe(slabs.length / 4 + plan.buffers.filter((b) => b.kind === 'param' && !b.view).length);
  });

  it('refuses a model whose buffers exceed the binding limit, naming them', () => {
    const train = { batch: 2, seqLen: 8, optimizer: { kind: 'adamw', lr: 1e-3, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1, momentum: 0 }, clipGrad: 1 } as TrainConfig;
    const run = () => compileTraining(tinyModel(), train, { ...CAPS, maxStorageBufferBindingSize: 1024 }, { lmHead: 'whole' });
    expect(run).toThrow(LoweringError);
    expect(run).toThrow(/exceed the adapter's storage binding limit of 0\.0 MiB:\n  \w+ buffer '[^']+' needs/);
    // by default the logits (2.5 KiB) are chunked above the limit, and one 64-row chunk does not fit it
    const chunked = () => compileTraining(tinyModel(), train, { ...CAPS, maxStorageBufferBindingSize: 1024 });
    expect(chunked).toThrow(LoweringError);
    expect(chunked).toThrow(/buffer 'logits' of the LM head: a chunk of 64 rows of 40 floats \(0\.0 MiB\) is above the storage binding limit/);
  });
});
