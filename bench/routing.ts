// Routing + permutation benchmark (issue 10): the router kernel (scores, group-limited top-k with
// the selection bias) and the three permutation kernels (count, scan, scatter) at T = 4096 tokens,
// for DeepSeek-V3's 256 experts top-8 (8 groups top-4, sigmoid, bias), the same without groups,
// Qwen3-MoE's 128 top-8, the paper's 64 top-12, against the 8-expert top-2 case. Reported per
// routed row (T·k): the permutation should cost the same per row whatever E is (its work is
// O(T·k + E)); the router reads every token's E logits, so its cost per row grows with E / k.
//
// Timing: one compute pass per measurement (GPU timestamps when the adapter has them, else wall
// clock submit → done), configurations interleaved round by round so all see the same load;
// best and median over the rounds, after a warm-up pass that excludes shader compilation.
import { moePermuteCases, permuteBlocks, type MoePermuteParams } from '../compiler/kernels/moe-permute.ts';
import { routerProgram, type RouterParams } from '../compiler/kernels/router.ts';
import type { KernelProgram } from '../compiler/codegen/kernel.ts';
import { acquireDevice } from '../runtime/device.ts';
import { KernelExecutor } from '../runtime/executor.ts';
import { loadAverage, markdownTable, randomFloats, sourceRevision, stats, timePasses, type BenchModule, type BenchOptions, type BenchReport, type RunStats } from './common.ts';

const TOKENS = 4096;

interface Config {
  readonly name: string;
  readonly router: RouterParams;
}

const plain = { normalize: true, scale: 1, selectionBias: false } as const;
const CONFIGS: readonly Config[] = [
  { name: '8 experts top-2 (softmax)', router: { ...plain, tokens: TOKENS, experts: 8, topK: 2, scoring: 'softmax' } },
  { name: '64 experts top-12 (softmax)', router: { ...plain, tokens: TOKENS, experts: 64, topK: 12, scoring: 'softmax' } },
  { name: '128 experts top-8 (softmax)', router: { ...plain, tokens: TOKENS, experts: 128, topK: 8, scoring: 'softmax' } },
  { name: '256 experts top-8 (softmax)', router: { ...plain, tokens: TOKENS, experts: 256, topK: 8, scoring: 'softmax' } },
  {
    name: '256 experts top-8, 8 groups top-4, bias (DeepSeek-V3)',
    router: { tokens: TOKENS, experts: 256, topK: 8, scoring: 'sigmoid', normalize: true, scale: 2.5, groups: { count: 8, topk: 4 }, selectionBias: true },
  },
];

interface Stage {
  readonly program: KernelProgram;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
}

interface Prepared {
  readonly config: Config;
  readonly router: Stage;
  readonly permute: readonly Stage[];
}

async function prepare(exec: KernelExecutor, config: Config): Promise<Prepared> {
  const p = config.router;
  const perm: MoePermuteParams = { tokens: p.tokens, experts: p.experts, topK: p.topK };
  const cases = moePermuteCases(perm);
  const sizes: Record<string, number> = {
    logits: p.tokens * p.experts,
    bias: p.experts,
    topk_idx: p.tokens * p.topK,
    topk_w: p.tokens * p.topK,
    probs: p.tokens * p.experts,
    block_counts: p.experts * permuteBlocks(perm).blocks,
    counts: p.experts,
    offsets: p.experts + 1,
    perm_row: p.tokens * p.topK,
    src_token: p.tokens * p.topK,
    src_slot: p.tokens * p.topK,
  };
  const buffers: Record<string, GPUBuffer> = {};
  for (const [name, n] of Object.entries(sizes)) buffers[name] = exec.createBuffer(n * 4, `routing.${name}`);
  const logits = randomFloats(sizes.logits, 11).map((x) => 4 * x);
  exec.device.queue.writeBuffer(buffers.logits, 0, logits);
  exec.device.queue.writeBuffer(buffers.bias, 0, randomFloats(p.experts, 12).map((x) => 0.05 * x));
  const stage = async (program: KernelProgram): Promise<Stage> => {
    const pipeline = await exec.pipeline(program);
    return { program, pipeline, bindGroup: exec.bindGroup(program, pipeline, program.bindings.map((b) => buffers[b.name])) };
  };
  return { config, router: await stage(routerProgram(p, exec.ctx.caps)), permute: [await stage(cases.count.program), await stage(cases.scan.program), await stage(cases.scatter.program)] };
}

const fmt = (x: number, digits = 3): string => x.toFixed(digits);

export const routingBench: BenchModule = {
  name: 'routing',
  async run(opts: BenchOptions): Promise<BenchReport> {
    const ctx = await acquireDevice();
    const exec = new KernelExecutor(ctx);
    const loadBefore = loadAverage();
    const rounds = opts.quick ? 5 : 15;
    process.stdout.write(`routing: adapter ${ctx.adapterName}, T=${TOKENS}, ${rounds} rounds, load ${fmt(loadBefore.one, 2)}\n`);
    const prepared: Prepared[] = [];
    for (const c of CONFIGS) prepared.push(await prepare(exec, c));
    const encode = (stages: readonly Stage[]) => (pass: GPUComputePassEncoder) => {
      for (const s of stages) exec.encode(pass, s.pipeline, s.bindGroup, s.program);
    };
    const samples = prepared.map(() => ({ router: [] as number[], permute: [] as number[], both: [] as number[] }));
    const time = async (stages: readonly Stage[]): Promise<number> => {
      const t = await timePasses(ctx, 1, encode(stages));
      return (t.gpuMs ?? t.wallMs)[0];
    };
    for (const p of prepared) await time([p.router, ...p.permute]); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < prepared.length; i++) {
        const p = prepared[i];
        samples[i].router.push(await time([p.router]));
        samples[i].permute.push(await time(p.permute));
        samples[i].both.push(await time([p.router, ...p.permute]));
      }
    }
    const loadAfter = loadAverage();
    const results = prepared.map((p, i) => {
      const rows = p.config.router.tokens * p.config.router.topK;
      const s = { router: stats(samples[i].router), permute: stats(samples[i].permute), both: stats(samples[i].both) };
      const perRowNs = (x: RunStats) => ({ best: (x.best * 1e6) / rows, median: (x.median * 1e6) / rows });
      return { name: p.config.name, experts: p.config.router.experts, topK: p.config.router.topK, rows, ms: s, nsPerRow: { router: perRowNs(s.router), permute: perRowNs(s.permute), both: perRowNs(s.both) } };
    });
    const ref = results[0];
    const table = markdownTable(
      ['configuration', 'routed rows', 'router ms (best / median)', 'permute ms (best / median)', 'both ms (best / median)', 'router ns/row', 'permute ns/row', 'both ns/row', 'both per row ÷ 8-expert'],
      results.map((r) => [
        r.name,
        String(r.rows),
        `${fmt(r.ms.router.best)} / ${fmt(r.ms.router.median)}`,
        `${fmt(r.ms.permute.best)} / ${fmt(r.ms.permute.median)}`,
        `${fmt(r.ms.both.best)} / ${fmt(r.ms.both.median)}`,
        fmt(r.nsPerRow.router.best, 1),
        fmt(r.nsPerRow.permute.best, 1),
        fmt(r.nsPerRow.both.best, 1),
        fmt(r.nsPerRow.both.best / ref.nsPerRow.both.best, 2),
      ]),
    );
    const timing = ctx.caps.timestampQuery ? 'GPU timestamps' : 'wall clock submit → done';
    const markdown = `# Routing + permutation, T = ${TOKENS} (${ctx.adapterName}, ${timing})\n\nrevision ${sourceRevision()}, ${rounds} interleaved rounds, load ${fmt(loadBefore.one, 2)} → ${fmt(loadAfter.one, 2)} (1-min average)\n\n${table}\n`;
    process.stdout.write(markdown);
    return { json: { adapter: ctx.adapterName, revision: sourceRevision(), tokens: TOKENS, rounds, timing, load: { before: loadBefore, after: loadAfter }, results }, markdown };
  },
};
