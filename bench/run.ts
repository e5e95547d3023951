// `npm run bench [-- --quick] [-- <module>…]`: runs every benchmark module (or the named ones) and
// writes each one's results to bench/results/<name>.json and .md. Add a module by exporting a
// BenchModule (bench/common.ts) and listing it in MODULES.
import { parseArgs } from 'node:util';
import { writeReport, type BenchModule } from './common.ts';
import { diagnosticsBench } from './diagnostics.ts';
import { eigenBench } from './eigen.ts';
import { gemmRowsBench } from './gemm-rows.ts';
import { rowVariantsBench } from './row-variants.ts';
import { fusionsBench } from './fusions.ts';
import { gradAccumBench } from './grad-accum.ts';
import { lmHeadBench } from './lm-head.ts';
import { matmulBench } from './matmul.ts';
import { moeBench } from './moe.ts';
import { routingBench } from './routing.ts';
import { sdCostBench } from './sd-cost.ts';
import { sdProjectBench } from './sd-project.ts';
import { torchBench } from './torch.ts';
import { trainStepBench } from './train-step.ts';
import { sampleBench } from './sample.ts';
import { pacingBench } from './pacing.ts';
import { seedStackBench } from './seed-stack.ts';
import { sdInplaceBench } from './sd-inplace.ts';
import { probesBench } from './probes.ts';
import { rebaseWarmupBench } from './rebase-warmup.ts';
import { hostDetachBench } from './host-detach.ts';
import { stagedReadBench } from './staged-read.ts';

const MODULES: readonly BenchModule[] = [matmulBench, moeBench, routingBench, trainStepBench, sdProjectBench, sdCostBench, sdInplaceBench, diagnosticsBench, eigenBench, gradAccumBench, lmHeadBench, sampleBench, torchBench, pacingBench, gemmRowsBench, rowVariantsBench, fusionsBench, seedStackBench, probesBench, rebaseWarmupBench, hostDetachBench, stagedReadBench];

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
      quick: { type: 'boolean', default: false },
      set: { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h', default: false },
    },
      allowPositionals: true,
    });
  } catch (err) {
    // A mistyped flag is the user's mistake: a message, not a stack trace.
    process.stderr.write(`bench: ${(err as Error).message} (try --help)\n`);
    return 1;
  }
  const { values, positionals } = parsed;
  const names = MODULES.map((m) => m.name);
  if (values.help) {
    process.stdout.write(`usage: npm run bench -- [--quick] [--set key=value …] [${names.join('|')} …]\n  --quick  fewer sizes and runs\n  --set    override a setting of the .moe file a benchmark opens (train-step, sd-cost), e.g. train.model=demo_sd\n`);
    return 0;
  }
  const unknown = positionals.filter((p) => !names.includes(p));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')} (available: ${names.join(', ')})\n`);
    return 1;
  }
  const chosen = positionals.length > 0 ? MODULES.filter((m) => positionals.includes(m.name)) : MODULES;
  for (const m of chosen) {
    const report = await m.run({ quick: values.quick ?? false, overrides: values.set ?? [] });
    // Overridden runs get their own result files instead of replacing the default ones.
    const suffix = (values.set ?? []).map((o) => o.replace(/[^\w.-]+/g, '-')).join('_');
    for (const path of writeReport(suffix ? `${m.name}_${suffix}` : m.name, report)) process.stdout.write(`  wrote ${path}\n`);
  }
  return 0;
}

// Exit explicitly: Dawn and TF.js keep handles open that would otherwise hold the process.
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(2);
  },
);
