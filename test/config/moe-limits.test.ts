// The MoE kernels' limits are the language's: `check` refuses expert counts, top-k and group counts
// past them with a located error (never a kernel builder's exception at compile time), and the
// real MoE shapes within them check and lower, group-limited routing and the aux-free bias included.
import { describe, expect, it } from 'vitest';
import { Source } from '../../grammar/index.ts';
import { checkSource } from '../../compiler/config/index.ts';
import { MOE_MAX_EXPERTS, ROUTER_MAX_GROUPS, ROUTER_MAX_TOPK } from '../../compiler/kernels/router.ts';
import { lowerModel } from '../../compiler/lower/model.ts';
import { topoOrder } from '../../compiler/ir/graph.ts';

function located(moe: string): { message: string; line: number; column: number; text: string }[] {
  const text = `model m {\n  vocab 64  dim 16  layers 1\n  moe { ${moe} }\n}\n`;
  const result = checkSource(new Source('t.moe', text), {});
  expect(result.config).toBeNull();
  return result.diagnostics
    .filter((d) => d.severity === 'error')
    .map((d) => ({ message: d.message, line: d.loc!.line, column: d.loc!.column, text: text.slice(d.loc!.offset, d.loc!.offset + d.loc!.length) }));
}

function lowered(moe: string) {
  const result = checkSource(new Source('t.moe', `model m { vocab 64 dim 16 layers 1 moe { ${moe} } }`), {});
  expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return lowerModel(result.config!.models[0], { batch: 1, seqLen: 4 });
}

describe('MoE limits in check', () => {
  it('refuses too many experts at the experts key (or at segments when they multiply past it)', () => {
    const [e] = located(`experts ${MOE_MAX_EXPERTS + 1}  top_k 2  expert_hidden 8`);
    expect(e.message).toContain(`at most ${MOE_MAX_EXPERTS}`);
    expect([e.line, e.text]).toEqual([3, `${MOE_MAX_EXPERTS + 1}`]);
    const [s] = located(`experts 1024  segments 4  top_k 1  expert_hidden 8`);
    expect(s.message).toContain('1024 × 4 segments');
    expect([s.line, s.text]).toEqual([3, '4']);
  });

  it('refuses top-k past the router kernel at the top_k key', () => {
    const [e] = located(`experts 256  top_k ${ROUTER_MAX_TOPK + 1}  expert_hidden 8`);
    expect(e.message).toContain(`at most top-${ROUTER_MAX_TOPK}`);
    expect([e.line, e.text]).toEqual([3, `${ROUTER_MAX_TOPK + 1}`]);
  });

  it('refuses more groups than the router kernel keeps, at the groups key', () => {
    const [e] = located(`experts 1024  top_k 8  expert_hidden 8  router { groups 512  top_groups 4 }`);
    expect(e.message).toContain(`at most ${ROUTER_MAX_GROUPS} groups`);
    expect([e.line, e.text]).toEqual([3, '512']);
  });

  it('accepts and lowers DeepSeek-V3, Qwen3-MoE and the paper-scale DeepSeek routing', () => {
    const v3 = lowered('experts 256  top_k 8  expert_hidden 8  router { score sigmoid  groups 8  top_groups 4  routed_scale 2.5  aux_free_bias 0.001 }');
    const router = topoOrder(v3).find((n) => n.op === 'router')!;
    expect(router.op === 'router' && [router.attrs.groups, router.attrs.topGroups, router.inputs.length]).toEqual([8, 4, 2]);
    const bias = router.inputs[1].node;
    expect(bias.op === 'param' && bias.attrs.role).toEqual({ kind: 'router_bias', layer: 0, rate: 0.001 });
    expect(bias.op === 'param' && bias.attrs.group).toBe('frozen');
    for (const moe of ['experts 128  top_k 8  expert_hidden 8', 'experts 16  segments 4  top_k 3  expert_hidden 32', `experts ${MOE_MAX_EXPERTS}  top_k ${ROUTER_MAX_TOPK}  expert_hidden 4`]) {
      const r = topoOrder(lowered(moe)).find((n) => n.op === 'router')!;
      expect(r.inputs.length).toBe(1);
    }
  });
});

describe('aux-free bias with gradient accumulation', () => {
  const file = (accum: number): string =>
    `model m {\n  vocab 1024  dim 16  layers 1  max_seq 8\n  moe { experts 8  top_k 2  expert_hidden 8  router { aux_free_bias 0.001 } }\n}\ntrain m { data gutenberg  seq_len 8  batch 2  grad_accum ${accum}  steps 4 }\n`;

  it('is refused at grad_accum (the bias would move per micro-batch), and accepted with grad_accum 1', () => {
    const bad = checkSource(new Source('t.moe', file(2)), {});
    const errors = bad.diagnostics.filter((d) => d.severity === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0].message).toContain('aux_free_bias');
    expect(errors[0].loc!.line).toBe(5);
    expect(file(2).slice(errors[0].loc!.offset, errors[0].loc!.offset + errors[0].loc!.length)).toBe('2');
    const good = checkSource(new Source('t.moe', file(1)), {});
    expect(good.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(good.config!.train!.gradAccum).toBe(1);
  });
});
