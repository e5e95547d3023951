// `npm run fuzz -- --count N [--seed S] [--out FILE] [--no-compile] [--replay FILE]`: mutates every .moe file in
// models/ and the grammar's golden inputs (scripts/fuzz/mutate.ts), sometimes with a mutated --set
// argument, runs `check` on each mutant and `compile` (IR, passes and buffer plan for lavapipe's
// limits) on those that check clean, and reports crashes (any exception that is not a user error),
// hangs (a mutant taking over 10 s; the worker is killed and the run goes on), and unlocated
// diagnostics. A script, not a test: the suite keeps its quick seeded fuzz (test/config/fuzz.test.ts).
// The mutants run in a worker thread so the parent can time each one out. `--replay FILE` runs
// again only the mutants a previous run's findings name (e.g. hangs seen on a loaded machine).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { UserError } from '../../base/errors.ts';
import type { DeviceCaps } from '../../base/caps.ts';
import { checkSource } from '../../compiler/config/index.ts';
import { LoweringError } from '../../compiler/lower/model.ts';
import { compileTraining } from '../../compiler/pipeline.ts';
import { Source } from '../../grammar/index.ts';
import { mutateSet, mutateText, prng, SET_SEEDS } from './mutate.ts';

const ROOT = join(import.meta.dirname, '../..');
const HANG_MS = 10_000;
/** lavapipe's limits, so compile refuses what this machine could not run. */
const CAPS: DeviceCaps = {
  subgroups: true, subgroupMinSize: 8, cpuAdapter: false, timestampQuery: false, maxWorkgroupStorageBytes: 32768, maxInvocationsPerWorkgroup: 1024,
  maxStorageBufferBindingSize: 134_217_728, maxBufferSize: 2 ** 31, maxStorageBuffersPerStage: 16,
};

type Outcome = 'rejected' | 'compiled' | 'refused' | 'no-train' | 'crash' | 'unlocated' | 'hang';
interface Finding { index: number; outcome: Outcome; detail: string; input: string; set?: string }
interface Progress { index: number; outcome: Outcome; finding?: Finding }

function corpus(): { name: string; text: string }[] {
  const files = [
    ...readdirSync(join(ROOT, 'models')).filter((f) => f.endsWith('.moe')).map((f) => join(ROOT, 'models', f)),
    ...readdirSync(join(ROOT, 'test/grammar/golden')).filter((f) => f.endsWith('.moe')).map((f) => join(ROOT, 'test/grammar/golden', f)),
  ];
  return files.map((path) => ({ name: path.slice(ROOT.length + 1), text: readFileSync(path, 'utf8') }));
}

/** Mutant `index` of a seeded run: the same (seed, index) always gives the same case. */
function mutant(files: { name: string; text: string }[], seed: number, index: number): { text: string; set?: string } {
  const random = prng(seed * 1_000_003 + index);
  // Three in four mutants start from a model file (valid input), the rest from the grammar's
  // golden inputs (mostly broken by design).
  const models = files.filter((f) => f.name.startsWith('models/'));
  const others = files.filter((f) => !f.name.startsWith('models/'));
  let text = (random() < 0.75 || others.length === 0 ? models[index % models.length] : others[index % others.length]).text;
  const rounds = random() < 0.7 ? 1 : 2 + Math.floor(random() * 3);
  for (let r = 0; r < rounds; r++) text = mutateText(text, random);
  const set = random() < 0.2 ? mutateSet(SET_SEEDS[Math.floor(random() * SET_SEEDS.length)], random) : undefined;
  return { text, set };
}

function runOne(text: string, set: string | undefined, compile: boolean): { outcome: Outcome; detail: string } {
  let result;
  try {
    result = checkSource(new Source('fuzz.moe', text), { overrides: set ? [set] : [] });
  } catch (err) {
    return { outcome: 'crash', detail: `check threw ${(err as Error).stack}` };
  }
  const lines = text.split('\n').length;
  for (const d of result.diagnostics) {
    const located = d.loc && d.loc.column >= 1 && (d.loc.source.name !== 'fuzz.moe' || (d.loc.line >= 1 && d.loc.line <= lines + 1));
    if (!located) return { outcome: 'unlocated', detail: d.message };
  }
  if (!result.config) return { outcome: result.diagnostics.some((d) => d.severity === 'error') ? 'rejected' : 'unlocated', detail: 'no config and no error' };
  const { train } = result.config;
  if (!train || !compile) return { outcome: 'no-train', detail: '' };
  const model = result.config.models.find((m) => m.name === train.model);
  if (!model) return { outcome: 'crash', detail: `train block names ${train.model}, which check accepted but is not a model` };
  try {
    compileTraining(model, train, CAPS);
    return { outcome: 'compiled', detail: '' };
  } catch (err) {
    // A refusal the user can act on (a message naming the model or the limit), not a compiler bug.
    if (err instanceof LoweringError || err instanceof UserError) return { outcome: 'refused', detail: (err as Error).message.split('\n')[0] };
    return { outcome: 'crash', detail: `compile threw ${(err as Error).stack}` };
  }
}

if (!isMainThread) {
  const { seed, from, to, compile, only } = workerData as { seed: number; from: number; to: number; compile: boolean; only: number[] | null };
  const files = corpus();
  for (let index = from; index < to; index++) {
    if (only && !only.includes(index)) continue;
    const { text, set } = mutant(files, seed, index);
    parentPort!.postMessage({ index, started: true });
    const { outcome, detail } = runOne(text, set, compile);
    const bad = outcome === 'crash' || outcome === 'unlocated';
    parentPort!.postMessage({ index, outcome, ...(bad ? { finding: { index, outcome, detail, input: text, set } } : {}) } satisfies Progress);
  }
} else {
  const args = process.argv.slice(2);
  const flag = (name: string, fallback: string): string => {
    const at = args.indexOf(name);
    return at >= 0 && args[at + 1] ? args[at + 1] : fallback;
  };
  const count = Number(flag('--count', '1000'));
  const seed = Number(flag('--seed', '1'));
  const out = flag('--out', 'fuzz-findings.json');
  const compile = !args.includes('--no-compile');
  const replay = flag('--replay', '');
  const only = replay ? (JSON.parse(readFileSync(replay, 'utf8')) as { findings: Finding[] }).findings.map((f) => f.index) : null;
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(seed)) {
    process.stderr.write('usage: npm run fuzz -- --count N [--seed S] [--out FILE] [--no-compile]\n');
    process.exit(1);
  }
  if (only) process.stderr.write(`fuzz: replaying ${only.length} mutants of ${replay}\n`);
  const counts: Record<Outcome, number> = { rejected: 0, compiled: 0, refused: 0, 'no-train': 0, crash: 0, unlocated: 0, hang: 0 };
  const findings: Finding[] = [];
  const files = corpus();
  const started = performance.now();
  let next = 0;
  const runWorker = (): Promise<void> =>
    new Promise((done) => {
      const worker = new Worker(new URL('./worker.mjs', import.meta.url), { workerData: { seed, from: next, to: count, compile, only } });
      let current = next;
      let heard = false;
      let timer: NodeJS.Timeout | undefined;
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          const { text, set } = mutant(files, seed, current);
          counts.hang++;
          findings.push({ index: current, outcome: 'hang', detail: `no result after ${HANG_MS / 1000} s`, input: text, set });
          next = current + 1;
          void worker.terminate().then(done);
        }, HANG_MS);
      };
      // The clock starts at each mutant, not while the worker loads the compiler (seconds under load).
      worker.on('message', (m: Progress & { started?: boolean }) => {
        heard = true;
        current = m.index;
        if (m.started) return arm();
        counts[m.outcome]++;
        if (m.finding) findings.push(m.finding);
        next = m.index + 1;
        if (next % 500 === 0) process.stderr.write(`fuzz: ${next}/${count} mutants, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
      });
      worker.on('error', (err) => {
        if (!heard) {
          process.stderr.write(`fuzz: the worker failed before its first mutant: ${err.stack}\n`);
          process.exit(2);
        }
        findings.push({ index: current, outcome: 'crash', detail: `worker died: ${err.stack}`, ...mutant(files, seed, current), input: mutant(files, seed, current).text });
        counts.crash++;
        next = current + 1;
        clearTimeout(timer);
        done();
      });
      worker.on('exit', (code) => {
        clearTimeout(timer);
        // A worker that ran to its end has done every index up to `count` (skipped ones included).
        if (code === 0) next = count;
        done();
      });
    });
  while (next < count) await runWorker();
  const seconds = (performance.now() - started) / 1000;
  writeFileSync(out, JSON.stringify({ seed, count, counts, seconds, findings }, null, 2) + '\n');
  const failed = counts.crash + counts.hang + counts.unlocated;
  process.stdout.write(
    `fuzz: ${count} mutants of ${files.length} files (seed ${seed}) in ${seconds.toFixed(0)} s\n` +
      `  check rejected (located diagnostics): ${counts.rejected}\n  checked clean, no train block: ${counts['no-train']}\n` +
      `  compiled: ${counts.compiled}\n  compile refused with a user message: ${counts.refused}\n` +
      `  crashes: ${counts.crash}   hangs over ${HANG_MS / 1000} s: ${counts.hang}   unlocated diagnostics: ${counts.unlocated}\n` +
      `${failed > 0 ? `findings with their inputs: ${out}\n` : ''}`,
  );
  process.exit(failed > 0 ? 1 : 0);
}
