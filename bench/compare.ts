// Before/after table of two train-step bench results (issue 8's closing note):
//
//   node --import tsx bench/compare.ts BEFORE.json AFTER.json
//
// BEFORE and AFTER are bench/results/train-step*.json files (or copies such as
// docs/results/issue8/before-demo.json). Prints markdown: the step times of sdmoec and PyTorch,
// the ratio sdmoec ÷ PyTorch and the per-row share in both runs, then GPU µs per IR op before and
// after with each op's ratio to its memory-bound time. The two runs were measured at different
// times on a shared machine: the load averages are printed beside them, and the ratio to PyTorch
// (measured in the same run as each side) is the figure that load affects least.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { markdownTable } from './common.ts';
import { classifyOp } from './roofline.ts';
import { fmtRatio, headlineTorch, type TrainStepResult } from './train-step.ts';

/** The fields compare reads (older or newer results may carry more). */
export type ComparedResult = Pick<TrainStepResult, 'meta' | 'stepMs' | 'torch' | 'ratio' | 'classes' | 'profile' | 'dispatchesPerStep' | 'bandwidth'> & {
  roofline: Omit<TrainStepResult['roofline'], 'byOpMinimum'> & Partial<Pick<TrainStepResult['roofline'], 'byOpMinimum'>>;
  classesMinimum?: TrainStepResult['classesMinimum'];
};

const f = (x: number | undefined, digits = 1): string => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));
const change = (before: number | undefined, after: number | undefined): string => (before && after !== undefined ? `${f(after / before, 2)}×` : '—');

export function compareMarkdown(before: ComparedResult, after: ComparedResult): string {
  const side = (r: ComparedResult) =>
    `revision ${r.meta.revision}, ${r.meta.date}${r.meta.quick ? ' (--quick)' : ''}, load ${f(r.meta.loadAverage.before.one)} → ${f(r.meta.loadAverage.after.one)}, ${r.meta.lavapipeThreads} lavapipe threads, PyTorch ${r.meta.torch}`;
  const torchAt = (r: ComparedResult, threads: number) => r.torch.find((t) => t.threads === threads);
  // The run's own headline (train-step.ts, headlineTorch): lavapipe's thread count, else the fastest.
  const headline = (r: ComparedResult) => (r.torch.length > 0 ? headlineTorch(r.torch, r.meta.lavapipeThreads) : undefined);
  const threads = [...new Set([...before.torch, ...after.torch].map((t) => t.threads))].sort((a, b) => b - a);
  const rows: string[][] = [
    ['sdmoec step, best ms', f(before.stepMs.best), f(after.stepMs.best), change(before.stepMs.best, after.stepMs.best)],
    ['sdmoec step, median ms', f(before.stepMs.median), f(after.stepMs.median), change(before.stepMs.median, after.stepMs.median)],
    ...threads.flatMap((t) => {
      const [b, a] = [torchAt(before, t), torchAt(after, t)];
      return [
        [`PyTorch ${t} thread${t === 1 ? '' : 's'}, best / median ms`, `${f(b?.stepMs.best)} / ${f(b?.stepMs.median)}`, `${f(a?.stepMs.best)} / ${f(a?.stepMs.median)}`, ''],
        [`**sdmoec ÷ PyTorch ${t} thread${t === 1 ? '' : 's'}, best / median**`, `**${f(b?.ratio.best, 2)} / ${f(b?.ratio.median, 2)}**`, `**${f(a?.ratio.best, 2)} / ${f(a?.ratio.median, 2)}**`, change(b?.ratio.median, a?.ratio.median)],
      ];
    }),
    [
      "**headline: ÷ PyTorch at lavapipe's thread count, best / median**",
      `**${f(headline(before)?.ratio.best, 2)} / ${f(headline(before)?.ratio.median, 2)}** (${headline(before)?.threads} t)`,
      `**${f(headline(after)?.ratio.best, 2)} / ${f(headline(after)?.ratio.median, 2)}** (${headline(after)?.threads} t)`,
      change(headline(before)?.ratio.best, headline(after)?.ratio.best) + ' (best)',
    ],
    ['per-row ops, share of GPU time', `${f(100 * before.classes['per-row'].share)} %`, `${f(100 * after.classes['per-row'].share)} %`, ''],
    ...(before.classesMinimum && after.classesMinimum
      ? [['per-row share by per-dispatch minima', `${f(100 * before.classesMinimum['per-row'].share)} %`, `${f(100 * after.classesMinimum['per-row'].share)} %`, '']]
      : []),
    ['summed GPU ms (profileStep)', f(before.profile.totalGpuUs / 1000, 2), f(after.profile.totalGpuUs / 1000, 2), change(before.profile.totalGpuUs, after.profile.totalGpuUs)],
    ['dispatches per step', String(before.dispatchesPerStep), String(after.dispatchesPerStep), ''],
    ['copy bandwidth, GB/s', f(before.bandwidth.gbPerSecond, 2), f(after.bandwidth.gbPerSecond, 2), ''],
  ];
  const byOp = (r: ComparedResult) => new Map(r.roofline.byOp.map((o) => [o.op, o]));
  const [b, a] = [byOp(before), byOp(after)];
  const ops = [...new Set([...b.keys(), ...a.keys()])].sort((x, y) => (b.get(y)?.microseconds ?? 0) - (b.get(x)?.microseconds ?? 0) || (a.get(y)?.microseconds ?? 0) - (a.get(x)?.microseconds ?? 0));
  const minima = before.roofline.byOpMinimum && after.roofline.byOpMinimum ? [new Map(before.roofline.byOpMinimum.map((o) => [o.op, o])), new Map(after.roofline.byOpMinimum.map((o) => [o.op, o]))] : null;
  const opRows = ops.map((op) => {
    const [x, y] = [b.get(op), a.get(op)];
    const [mx, my] = minima ? [minima[0].get(op), minima[1].get(op)] : [undefined, undefined];
    return [
      op,
      classifyOp(op),
      `${x?.dispatches ?? 0} / ${y?.dispatches ?? 0}`,
      f(x?.microseconds, 0),
      f(y?.microseconds, 0),
      change(x?.microseconds, y?.microseconds),
      x ? `${f(100 * x.share)} %` : '—',
      y ? `${f(100 * y.share)} %` : '—',
      x ? fmtRatio(x.ratio) : '—',
      y ? fmtRatio(y.ratio) : '—',
      ...(minima ? [f(mx?.microseconds, 0), f(my?.microseconds, 0), change(mx?.microseconds, my?.microseconds)] : []),
    ];
  });
  return [
    `# train-step before/after: ${after.meta.model}`,
    '',
    `- before: ${side(before)}`,
    `- after: ${side(after)}`,
    '',
    markdownTable(['measure', 'before', 'after', 'after ÷ before'], rows),
    '',
    'GPU µs per IR op (profileStep, fastest whole profile of each run); ratio = GPU µs ÷ memory-bound µs of its bound bytes at that run\'s copy bandwidth' +
      (minima ? '; min µs: each dispatch\'s minimum over the run\'s profiles, summed per op (steadier under load):' : ':'),
    '',
    markdownTable(
      ['IR op', 'class', 'dispatches before / after', 'before µs', 'after µs', 'after ÷ before', 'share before', 'share after', 'ratio before', 'ratio after', ...(minima ? ['min µs before', 'min µs after', 'min after ÷ before'] : [])],
      opRows,
    ),
  ].join('\n');
}

function main(argv: readonly string[]): number {
  if (argv.length !== 2) {
    process.stderr.write('usage: node --import tsx bench/compare.ts BEFORE.json AFTER.json\n');
    return 1;
  }
  const [before, after] = argv.map((p) => JSON.parse(readFileSync(p, 'utf8')) as ComparedResult);
  process.stdout.write(`${compareMarkdown(before, after)}\n`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exit(main(process.argv.slice(2)));
