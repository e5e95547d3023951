// What each SD-only piece of a training step costs in place (issue 7): the SD step run whole and with
// one piece's dispatches left out (StepExecutor#run's `omit`: a wrong step, timed for what the piece
// costs where it runs), against the baseline step, in rotating order in one process. Isolated kernel
// timings miss what a dispatch costs inside the step (cold caches after the kernel that wrote its
// input, idle lavapipe threads at a small dispatch's tail): sd_split_ap measured ≈ 2× its isolated
// time this way. Each variant runs in a session of its own (the pacer learns one device time per
// session). Pieces: every kernel template of the SD-only ops (sd_split_grad, expert_weight,
// sd_project_update), then all of them. All sessions run at learning rate 0, so every variant sees
// the same parameters and the omitted steps cannot drift into non-finite losses; the kernels run
// the same either way. Every SD variant is timed in a pair with a baseline step beside it, order
// alternating. Reported per piece: the median of the paired ratios of the step without it to the
// baseline step, and its in-place cost (the SD step's median ratio minus that), as a share of the
// baseline step. Re-basing is not part of this (sd-cost times it).
import { openSessionFromFile, type TrainingSession } from '../runtime/train/trainer.ts';
import { BatchSampler } from '../runtime/data/index.ts';
import { loadAverage, markdownTable, sourceRevision, stats, timedStep, type BenchModule, type BenchOptions, type BenchReport } from './common.ts';

const SD_OPS = new Set(['sd_split_grad', 'expert_weight', 'sd_project_update']);
const CASES: readonly { file: string; baseline: string; sd: string; sdSet: readonly string[]; rounds: number; quickRounds: number }[] = [
  { file: 'models/demo.moe', baseline: 'demo', sd: 'demo_sd', sdSet: [], rounds: 100, quickRounds: 12 },
  { file: 'models/demo.moe', baseline: 'demo', sd: 'demo_sd', sdSet: ['model.spectral.project=update'], rounds: 60, quickRounds: 8 },
  { file: 'models/qwen_tiny.moe', baseline: 'qwen_tiny', sd: 'qwen_tiny_sd', sdSet: [], rounds: 24, quickRounds: 4 },
];
const WARMUP = 3;

interface Piece {
  readonly name: string;
  readonly dispatches: number;
  /** Median per-round ratio of the SD step without the piece to the baseline step. */
  readonly ratioWithout: number;
  /** sdRatio − ratioWithout: the piece's in-place cost as a share of the baseline step. */
  readonly share: number;
}

/** The SD-only dispatches of a plan, grouped by `op: template`, and all of them together. */
function pieces(session: TrainingSession): { name: string; omit: Set<number> }[] {
  const groups = new Map<string, Set<number>>();
  session.step.plan.dispatches.forEach((d, i) => {
    if (!SD_OPS.has(d.op)) return;
    const key = `${d.op}: ${d.program.template}`;
    groups.set(key, (groups.get(key) ?? new Set()).add(i));
  });
  const all = new Set([...groups.values()].flatMap((g) => [...g]));
  return [...[...groups.entries()].map(([name, omit]) => ({ name, omit })), { name: 'all SD-only ops', omit: all }];
}

async function measure(c: (typeof CASES)[number], opts: BenchOptions) {
  const loadBefore = loadAverage().one;
  const base = await openSessionFromFile(c.file, [...(opts.overrides ?? []), `train.model=${c.baseline}`], () => {});
  const sd = await openSessionFromFile(c.file, [...(opts.overrides ?? []), `train.model=${c.sd}`, ...c.sdSet], () => {});
  for (const s of [base, sd]) s.step.writeInput('optimizer.lr', Float32Array.of(0));
  const parts = pieces(sd);
  // variant 0: SD whole, 1..: SD without a piece. Each is timed in a pair with a baseline step right
  // beside it (order alternating by round): consecutive steps of one session find its buffers warm in
  // the CPU's caches, so a baseline run once per round of several SD steps would be paid for by the baseline.
  // Each variant has a session of its own: StepExecutor's pacer learns one device time per session,
  // and steps of different lengths sharing it would oversleep or undersleep by the difference.
  const variants: { session: TrainingSession; omit?: Set<number> }[] = [{ session: sd }];
  for (const p of parts) {
    const own = await openSessionFromFile(c.file, [...(opts.overrides ?? []), `train.model=${c.sd}`, ...c.sdSet], () => {});
    own.step.writeInput('optimizer.lr', Float32Array.of(0));
    variants.push({ session: own, omit: p.omit });
  }
  const sampler = new BatchSampler(base.data.train, { seqLen: base.train.seqLen, batch: base.train.batch, seed: base.train.seed });
  const ratios: number[][] = variants.map(() => []);
  const baseMs: number[] = [];
  const sdMs: number[] = [];
  const rounds = opts.quick ? c.quickRounds : c.rounds;
  for (let r = 0; r < WARMUP + rounds; r++) {
    const batch = sampler.next();
    for (let j = 0; j < variants.length; j++) {
      const k = (j + r) % variants.length;
      const pair = async (sdFirst: boolean) => {
        const runSd = () => timedStep(variants[k].session, batch.inputs, batch.targets, r + 1, [], undefined, variants[k].omit);
        const runBase = () => timedStep(base, batch.inputs, batch.targets, r + 1);
        if (sdFirst) return [(await runSd()).wallMs, (await runBase()).wallMs];
        const b = (await runBase()).wallMs;
        return [(await runSd()).wallMs, b];
      };
      const [tSd, tBase] = await pair((r + j) % 2 === 0);
      if (r < WARMUP) continue;
      ratios[k].push(tSd / tBase);
      if (k === 0) {
        sdMs.push(tSd);
        baseMs.push(tBase);
      }
    }
  }
  const sdRatio = stats(ratios[0]).median;
  const result = {
    name: `${c.sd}${c.sdSet.length ? ` (${c.sdSet.join(', ')})` : ''} vs ${c.baseline}`,
    rounds,
    baselineMs: stats(baseMs),
    sdMs: stats(sdMs),
    sdRatio,
    pieces: parts.map((p, i): Piece => ({ name: p.name, dispatches: p.omit.size, ratioWithout: stats(ratios[i + 1]).median, share: sdRatio - stats(ratios[i + 1]).median })),
    load: { before: loadBefore, after: loadAverage().one },
  };
  process.stdout.write(
    `sd-inplace: ${result.name}: SD ÷ baseline ${sdRatio.toFixed(3)} (${rounds} rounds, load ${loadBefore.toFixed(2)}); ` +
      result.pieces.map((p) => `${p.name} ${(100 * p.share).toFixed(1)} %`).join(', ') +
      '\n',
  );
  return result;
}

async function run(opts: BenchOptions): Promise<BenchReport> {
  const results = [];
  for (const c of CASES) results.push(await measure(c, opts));
  const json = { meta: { revision: sourceRevision(), date: new Date().toISOString(), warmup: WARMUP, quick: !!opts.quick }, results };
  const markdown = [
    '# What each SD-only piece costs in place',
    '',
    `Revision ${json.meta.revision}; ${json.meta.date}. The SD step whole and with one piece's dispatches left out (a wrong step, timed), each in a pair with a baseline step (order alternating), variants rotating, in one process, learning rate 0 everywhere, after ${WARMUP} warm-up rounds. "In place" = SD ÷ baseline minus (SD without the piece) ÷ baseline, medians of the paired ratios. Re-basing is not included (\`npm run bench -- sd-cost\`).`,
    '',
    ...results.flatMap((r) => [
      `## ${r.name}`,
      '',
      `${r.rounds} rounds; baseline ${r.baselineMs.best.toFixed(1)} / ${r.baselineMs.median.toFixed(1)} ms, SD ${r.sdMs.best.toFixed(1)} / ${r.sdMs.median.toFixed(1)} ms (best / median); **SD ÷ baseline ${r.sdRatio.toFixed(3)}**; load ${r.load.before.toFixed(2)} → ${r.load.after.toFixed(2)}.`,
      '',
      markdownTable(
        ['piece (op: template)', 'dispatches', '(SD without it) ÷ baseline', 'in place, share of the baseline step'],
        r.pieces.map((p) => [p.name, String(p.dispatches), p.ratioWithout.toFixed(3), `**${(100 * p.share).toFixed(1)} %**`]),
      ),
      '',
    ]),
  ].join('\n');
  return { json, markdown };
}

export const sdInplaceBench: BenchModule = { name: 'sd-inplace', run };
