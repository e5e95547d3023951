// The arithmetic of the train-step bench (bench/roofline.ts, bench/train-step.ts, bench/compare.ts):
// bytes per dispatch from a program's bindings, memory-bound time, op classes and their shares,
// the sdmoec ÷ PyTorch ratios from timed blocks, the loss agreement check, the model file picked
// for `--set train.model=…`, and the before/after table. Pure functions on made-up numbers: no
// timing is measured or asserted here.
import { describe, expect, it } from 'vitest';
import { matmulProgram } from '../../compiler/kernels/matmul.ts';
import { compareMarkdown, type ComparedResult } from '../../bench/compare.ts';
import { classifyOp, classShares, dispatchBytes, dispatchRooflines, issueListBudget, issueListPerRow, issueListShare, memoryBoundUs, opRooflines } from '../../bench/roofline.ts';
import { fmtRatio, headlineTorch, lossAgreement, pickModelFile, torchSummaries } from '../../bench/train-step.ts';

describe('dispatchBytes', () => {
  it('counts read and uniform bindings as read, write as written, readwrite as both, 4 bytes an element', () => {
    const b = dispatchBytes([
      { access: 'read', length: 10 },
      { access: 'uniform', length: 2 },
      { access: 'write', length: 5 },
      { access: 'readwrite', length: 3 },
    ]);
    expect(b).toEqual({ read: 4 * (10 + 2 + 3), written: 4 * (5 + 3), total: 4 * (10 + 2 + 3 + 5 + 3) });
  });

  it('of a real matmul program: A and B read, C written', () => {
    const p = matmulProgram({ M: 33, N: 17, K: 65 }, { subgroups: false, subgroupMinSize: 0, cpuAdapter: false } as Parameters<typeof matmulProgram>[1]);
    const b = dispatchBytes(p.bindings);
    // Whatever else the program binds, its operands are in there: at least M·K + K·N read, M·N written.
    expect(b.read).toBeGreaterThanOrEqual(4 * (33 * 65 + 65 * 17));
    expect(b.written).toBeGreaterThanOrEqual(4 * 33 * 17);
    expect(b.total).toBe(b.read + b.written);
  });
});

describe('memoryBoundUs', () => {
  it('is bytes over bandwidth in µs', () => {
    expect(memoryBoundUs(1e9, 10e9)).toBeCloseTo(1e5, 6);
    expect(memoryBoundUs(4096, 4096e6)).toBeCloseTo(1, 9);
  });
  it('refuses a bandwidth that is not positive', () => {
    expect(() => memoryBoundUs(1, 0)).toThrow(/positive/);
    expect(() => memoryBoundUs(1, NaN)).toThrow(/positive/);
  });
});

describe('classifyOp', () => {
  it('puts GEMMs, attention, SD and the fused LM head in matmul-like', () => {
    for (const op of ['matmul', 'matmul_add', 'grouped_matmul', 'grouped_matmul_grad_x', 'grouped_matmul_grad_w', 'attention', 'attention_grad', 'sd_split_grad', 'sd_proxy', 'lm_head_xent']) {
      expect(classifyOp(op), op).toBe('matmul-like');
    }
  });
  it('puts norms, softmax, cross-entropy, router, combine, embedding, elementwise, optimizer in per-row', () => {
    for (const op of ['rmsnorm', 'rmsnorm_grad', 'cross_entropy_fused', 'router', 'router_grad', 'moe_combine', 'moe_combine_grad', 'moe_dispatch', 'embedding_grad', 'binary', 'rope', 'swiglu', 'aux_loss', 'grad_norm', 'adamw']) {
      expect(classifyOp(op), op).toBe('per-row');
    }
  });
});

describe('issueListPerRow (the issue\'s own list of per-row kernels)', () => {
  it('takes attention and the per-row ops, not the optimizer family or the GEMMs', () => {
    for (const op of ['attention', 'attention_grad', 'rmsnorm_grad', 'cross_entropy_fused', 'router', 'moe_combine_grad', 'moe_dispatch', 'embedding_grad', 'aux_loss']) expect(issueListPerRow(op), op).toBe(true);
    for (const op of ['adamw', 'sgd', 'grad_norm', 'grad_accum', 'router_bias_update', 'matmul', 'grouped_matmul_grad_w', 'sd_split_grad', 'lm_head_xent']) expect(issueListPerRow(op), op).toBe(false);
  });
  it('sums the GPU time of those ops and its share of all', () => {
    const ops = [
      { op: 'attention_grad', dispatches: 2, microseconds: 30 },
      { op: 'adamw', dispatches: 1, microseconds: 20 },
      { op: 'rmsnorm_grad', dispatches: 3, microseconds: 10 },
      { op: 'matmul', dispatches: 4, microseconds: 40 },
    ];
    expect(issueListShare(ops)).toEqual({ dispatches: 5, microseconds: 40, share: 0.4 });
    expect(issueListShare([])).toEqual({ dispatches: 0, microseconds: 0, share: 0 });
  });
});

describe('issueListBudget (what a per-row share target asks of the listed kernels)', () => {
  const ops = [
    { op: 'attention_grad', memoryBoundUs: 300 },
    { op: 'cross_entropy_fused', memoryBoundUs: 500 },
    { op: 'adamw', memoryBoundUs: 900 },
    { op: 'matmul', memoryBoundUs: 1000 },
  ];
  it('budgets target / (1 - target) of the step without them, against the memory-bound time of the listed ops only', () => {
    // 15 %: cost / (20 + cost) < 0.15  <=>  cost < 0.15 / 0.85 × 20 = 3.529… ms; listed bytes take 0.8 ms
    const b = issueListBudget(ops, { withoutMs: 20, costMs: 4 }, 0.15);
    expect(b.budgetMs).toBeCloseTo((0.15 / 0.85) * 20, 12);
    expect(b.budgetMs / (20 + b.budgetMs)).toBeCloseTo(0.15, 12);
    expect(b.memoryBoundMs).toBeCloseTo(0.8, 12);
    expect(b.budgetOverFloor).toBeCloseTo(b.budgetMs / 0.8, 12);
    expect(b.nowOverFloor).toBeCloseTo(5, 12);
    expect(b.mathMs).toBe(0);
  });
  it('counts the listed ops\' FLOPs at the given rate, not the GEMMs\'', () => {
    const b = issueListBudget(ops, { withoutMs: 10, costMs: 2 }, 0.2, { flopsByOp: { attention: 3e6, attention_grad: 6e6, matmul: 1e9 }, gflops: 30 });
    expect(b.mathMs).toBeCloseTo(9e6 / 30e9 * 1000, 12);
    expect(b.budgetMs).toBeCloseTo(2.5, 12);
  });
  it('refuses a target outside (0, 1)', () => {
    expect(() => issueListBudget(ops, { withoutMs: 1, costMs: 1 }, 1)).toThrow(/share target/);
  });
});

describe('rooflines and class shares', () => {
  const bw = 1e9; // 1 GB/s: 1000 bytes take 1 µs
  const dispatches = [
    { op: 'matmul', label: 'mm_a', microseconds: 60, bytes: { read: 8000, written: 4000, total: 12000 } },
    { op: 'matmul', label: 'mm_b', microseconds: 20, bytes: { read: 2000, written: 2000, total: 4000 } },
    { op: 'rmsnorm', label: 'rms', microseconds: 15, bytes: { read: 1000, written: 500, total: 1500 } },
    { op: 'adamw', label: 'adam', microseconds: 5, bytes: { read: 5000, written: 5000, total: 10000 } },
  ];

  it('sums dispatches per op with bytes, memory-bound µs, ratio and share, largest first', () => {
    const ops = opRooflines(dispatches, bw);
    expect(ops.map((o) => o.op)).toEqual(['matmul', 'rmsnorm', 'adamw']);
    expect(ops[0]).toMatchObject({ opClass: 'matmul-like', dispatches: 2, microseconds: 80, bytes: 16000, share: 0.8 });
    expect(ops[0].memoryBoundUs).toBeCloseTo(16, 9);
    expect(ops[0].ratio).toBeCloseTo(5, 9);
    expect(ops[2].memoryBoundUs).toBeCloseTo(10, 9);
    expect(ops[2].ratio).toBeCloseTo(0.5, 9);
  });

  it('keeps one row per dispatch with its label', () => {
    const rows = dispatchRooflines(dispatches, bw);
    expect(rows.map((r) => r.label)).toEqual(['mm_a', 'mm_b', 'rms', 'adam']);
    expect(rows[2]).toMatchObject({ op: 'rmsnorm', opClass: 'per-row', dispatches: 1, share: 0.15 });
    expect(rows[2].ratio).toBeCloseTo(10, 9);
  });

  it('gives a zero-byte dispatch an infinite ratio, not a division error', () => {
    const [r] = dispatchRooflines([{ op: 'aux_loss', label: 'x', microseconds: 3, bytes: { read: 0, written: 0, total: 0 } }], bw);
    expect(r.ratio).toBe(Infinity);
    expect(fmtRatio(r.ratio)).toBe('∞');
  });

  it('splits the GPU time into matmul-like and per-row shares', () => {
    const c = classShares(opRooflines(dispatches, bw));
    expect(c['matmul-like']).toMatchObject({ ops: ['matmul'], dispatches: 2, microseconds: 80, share: 0.8 });
    expect(c['per-row']).toMatchObject({ ops: ['rmsnorm', 'adamw'], dispatches: 2, microseconds: 20, share: 0.2 });
  });

  it('formats ratios by size', () => {
    expect(fmtRatio(3.14159)).toBe('3.1');
    expect(fmtRatio(812.4)).toBe('812');
    expect(fmtRatio(43059)).toBe('4.3e+4');
  });
});

describe('torchSummaries', () => {
  const block = (engine: 'webgpu' | 'torch', threads: number, ms: number[]) => ({ engine, threads, ms, load: { before: 1, after: 1 } });
  it('divides sdmoec step times by PyTorch ones per thread count: best/best, median/median, and per round', () => {
    const blocks = [block('webgpu', 2, [100, 120]), block('torch', 2, [200, 220]), block('torch', 1, [50, 60]), block('webgpu', 2, [90, 110]), block('torch', 2, [400]), block('torch', 1, [40]), block('webgpu', 2, [80])];
    const [two, one] = torchSummaries(blocks);
    // WebGPU over all blocks: 80, 90, 100, 110, 120 → best 80, median 100.
    expect(two.threads).toBe(2);
    expect(two.stepMs).toEqual({ best: 200, median: 220, runs: 3 });
    expect(two.ratio.best).toBeCloseTo(80 / 200, 12);
    expect(two.ratio.median).toBeCloseTo(100 / 220, 12);
    expect(one.ratio.best).toBeCloseTo(80 / 40, 12);
    expect(one.ratio.median).toBeCloseTo(100 / 50, 12);
    // Rounds of the 1-thread blocks: WebGPU either side [100,120,90,110] median 105 over 55; [90,110,80] median 90 over 40.
    expect(one.ratio.medianOfRounds).toBeCloseTo((105 / 55 + 90 / 40) / 2, 12);
  });
});

describe('headlineTorch', () => {
  const t = (threads: number, median: number) => ({ threads, stepMs: { best: median, median, runs: 1 }, ratio: { best: 1, median: 1, medianOfRounds: 1 } });
  it("takes PyTorch at lavapipe's thread count even when another count was faster", () => {
    expect(headlineTorch([t(2, 40), t(1, 20)], 2).threads).toBe(2);
  });
  it('falls back to the faster by median when that count was not measured', () => {
    expect(headlineTorch([t(2, 40), t(1, 20)], 4).threads).toBe(1);
  });
});

describe('lossAgreement', () => {
  it('compares the losses at the steps both engines ran', () => {
    const webgpu = new Map([[1, 7.0], [2, 6.5], [3, 6.0], [5, 5.0]]);
    const torch = new Map([[1, 7.0], [2, 6.5 * (1 + 1e-4)], [3, 6.0 * (1 - 2e-3)], [4, 5.5]]);
    const a = lossAgreement(webgpu, torch);
    expect(a).toMatchObject({ steps: 3, firstStep: 1, lastStep: 3, firstRelDiff: 0, atStep: 3 });
    expect(a.maxRelDiff).toBeCloseTo(2e-3 / (1 - 2e-3), 9);
    expect(a.byStep.map(([s]) => s)).toEqual([1, 2, 3]);
  });
});

describe('pickModelFile', () => {
  const defines = (file: string, name: string) => ({ 'models/demo.moe': ['demo', 'demo_sd'], 'models/qwen_tiny.moe': ['qwen_tiny', 'qwen_tiny_sd'] })[file]?.includes(name) ?? false;
  const files = ['models/qwen_tiny.moe', 'models/demo.moe'];
  it('keeps demo.moe without a train.model override or when demo.moe defines the model', () => {
    expect(pickModelFile([], files, defines)).toBe('models/demo.moe');
    expect(pickModelFile(['train.steps=3', 'train.model=demo_sd'], files, defines)).toBe('models/demo.moe');
  });
  it('finds the file that defines another model; the last override wins', () => {
    expect(pickModelFile(['train.model=qwen_tiny'], files, defines)).toBe('models/qwen_tiny.moe');
    expect(pickModelFile(['train.model=qwen_tiny', 'train.model=demo'], files, defines)).toBe('models/demo.moe');
  });
  it('says which model no file defines', () => {
    expect(() => pickModelFile(['train.model=nope'], files, defines)).toThrow(/no file in models\/ defines model 'nope'/);
  });
});

describe('compareMarkdown', () => {
  const result = (stepMs: number, torchMs: number, ops: [string, number][]): ComparedResult => {
    const bw = 1e9;
    const roofline = opRooflines(
      ops.map(([op, us]) => ({ op, label: op, microseconds: us, bytes: { read: 1000, written: 1000, total: 2000 } })),
      bw,
    );
    const total = ops.reduce((s, [, us]) => s + us, 0);
    return {
      meta: { revision: 'r', date: 'd', quick: false, loadAverage: { before: { one: 1, five: 1, fifteen: 1 }, after: { one: 2, five: 1, fifteen: 1 } }, lavapipeThreads: 2, torch: '1.13', model: 'models/demo.moe' },
      stepMs: { best: stepMs, median: stepMs, runs: 3 },
      torch: [{ threads: 1, stepMs: { best: torchMs, median: torchMs, runs: 3 }, ratio: { best: stepMs / torchMs, median: stepMs / torchMs, medianOfRounds: stepMs / torchMs } }],
      ratio: { againstThreads: 1, best: stepMs / torchMs, median: stepMs / torchMs, medianOfRounds: stepMs / torchMs },
      classes: classShares(roofline),
      profile: { totalGpuUs: total, byOp: [], perDispatch: [] },
      roofline: { gbPerSecond: bw / 1e9, byOp: roofline, largestDispatches: [] },
      dispatchesPerStep: ops.length,
      bandwidth: { samples: [], gbPerSecond: 1, best: 'x' },
    } as unknown as ComparedResult;
  };

  it('prints the ratio to PyTorch and every op of either run, before and after', () => {
    const md = compareMarkdown(result(120, 40, [['matmul', 600], ['rmsnorm', 300], ['rope', 100]]), result(60, 40, [['matmul', 500], ['rmsnorm', 100]]));
    expect(md).toContain('| **sdmoec ÷ PyTorch 1 thread, best / median** | **3.00 / 3.00** | **1.50 / 1.50** | 0.50× |');
    expect(md).toContain('| per-row ops, share of GPU time | 40.0 % | 16.7 % |  |');
    expect(md).toContain('| rmsnorm | per-row | 1 / 1 | 300 | 100 | 0.33× | 30.0 % | 16.7 % | 150 | 50.0 |');
    // An op gone after the change still has its row.
    expect(md).toContain('| rope | per-row | 1 / 0 | 100 | — | — | 10.0 % | — | 50.0 | — |');
    const opLines = md.split('\n').filter((l) => /^\| (matmul|rmsnorm|rope) \|/.test(l));
    expect(opLines.map((l) => l.split('|')[1].trim())).toEqual(['matmul', 'rmsnorm', 'rope']);
    // Results without per-dispatch minima (older runs) get no minima columns.
    expect(md).not.toContain('min µs before');
  });

  it('adds the per-dispatch minima columns and share when both runs have them', () => {
    const withMinima = (r: ComparedResult, mins: [string, number][]): ComparedResult => {
      const byOpMinimum = opRooflines(mins.map(([op, us]) => ({ op, label: op, microseconds: us, bytes: { read: 1000, written: 1000, total: 2000 } })), 1e9);
      return { ...r, roofline: { ...r.roofline, byOpMinimum }, classesMinimum: classShares(byOpMinimum) } as ComparedResult;
    };
    const before = withMinima(result(120, 40, [['matmul', 600], ['rmsnorm', 300]]), [['matmul', 500], ['rmsnorm', 200]]);
    const after = withMinima(result(60, 40, [['matmul', 500], ['rmsnorm', 100]]), [['matmul', 400], ['rmsnorm', 50]]);
    const md = compareMarkdown(before, after);
    expect(md).toContain('| per-row share by per-dispatch minima | 28.6 % | 11.1 % |  |');
    expect(md).toContain('| rmsnorm | per-row | 1 / 1 | 300 | 100 | 0.33× | 33.3 % | 16.7 % | 150 | 50.0 | 200 | 50 | 0.25× |');
  });
});
