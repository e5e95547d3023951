// `sdmoec sample CKPT|RUN_DIR`: generates text from a trained checkpoint on the device, streaming
// each token's text to stdout as it is chosen (runtime/sample/sampler.ts). The model, tokenizer and
// context window come from the run's config.json, as for `sdmoec eval`; a statistics line goes to
// stderr so stdout holds only the generated text.
import type { Command } from 'commander';
import { UserError } from '../../base/errors.ts';
import { LogitsRunner, loadTrainedModel, runTokenizer } from '../../runtime/sample/forward.ts';
import { generate, validateSampling } from '../../runtime/sample/sampler.ts';

interface SampleFlags {
  prompt: string;
  tokens: string;
  temperature: string;
  topK: string;
  topP: string;
  seed: string;
  echo?: boolean;
  stop: boolean;
}

function number(flag: string, value: string, integer: boolean): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new UserError(`${flag} must be ${integer ? 'an integer' : 'a number'}, got '${value}'`);
  return n;
}

export function registerSample(program: Command): void {
  program
    .command('sample')
    .description('generate text from a checkpoint (a run directory means its latest), streamed to stdout')
    .argument('<checkpoint>', 'checkpoint directory (runs/<model>/step-000500) or run directory')
    .option('-p, --prompt <text>', 'text to continue (a document start: <|endoftext|> is put before it)', '')
    .option('-n, --tokens <n>', 'tokens to generate at most', '100')
    .option('-t, --temperature <t>', 'softmax temperature; 0 = greedy (argmax)', '0.8')
    .option('--top-k <k>', 'sample among the k most likely tokens only (0 = off)', '0')
    .option('--top-p <p>', 'nucleus: the smallest set of tokens with probability mass >= p (1 = off)', '1')
    .option('--seed <n>', 'random seed: the same seed gives the same text', '0')
    .option('--echo', 'print the prompt before the generated text')
    .option('--no-stop', 'keep going past <|endoftext|> (it is printed literally)')
    .action(async (checkpoint: string, flags: SampleFlags) => {
      const opts = {
        prompt: flags.prompt,
        tokens: number('--tokens', flags.tokens, true),
        temperature: number('--temperature', flags.temperature, false),
        topK: number('--top-k', flags.topK, true),
        topP: number('--top-p', flags.topP, false),
        seed: number('--seed', flags.seed, true),
        stopAtEnd: flags.stop,
      };
      validateSampling(opts);
      if (!(opts.tokens >= 0)) throw new UserError(`--tokens must be a non-negative integer, got ${flags.tokens}`);
      if (!(Number.isSafeInteger(opts.seed) && opts.seed >= 0)) throw new UserError(`--seed must be a non-negative integer, got ${flags.seed}`);
      const trained = await loadTrainedModel(checkpoint);
      const log = (line: string): void => void process.stderr.write(line + '\n');
      const tokenizer = runTokenizer(trained.model, trained.train, log, { testSplit: trained.testSplit });
      const t0 = performance.now();
      const runner = await openSampler(trained);
      // The first forward compiles the shaders (tens of seconds on lavapipe): not part of tokens/s.
      await runner.logits(new Int32Array(runner.tokensPerCall));
      log(`compiled and warmed up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      if (flags.echo) process.stdout.write(opts.prompt);
      const r = await generate({ window: runner.tokensPerCall, vocab: trained.model.vocab, logits: (t) => runner.logits(t) }, tokenizer, opts, (piece) => process.stdout.write(piece));
      process.stdout.write('\n');
      log(`${r.ids.length} tokens from ${trained.ckpt.dir} (step ${trained.ckpt.step})${r.stoppedAtEnd ? ', stopped at <|endoftext|>' : ''}: ${(r.forwards / Math.max(r.seconds, 1e-9)).toFixed(1)} tokens/s (full forward of the ${runner.tokensPerCall}-token window per token)`);
    });
}

async function openSampler(trained: Awaited<ReturnType<typeof loadTrainedModel>>): Promise<LogitsRunner> {
  const { model, train, ckpt } = trained;
  // Padding after the last real token never reaches it through causal attention; with expert
  // capacity, padding tokens would compete for expert slots and change the real tokens' outputs.
  if (model.moe.capacity.kind === 'factor') throw new UserError(`${trained.configPath}: model ${model.name} has moe.capacity factor(${model.moe.capacity.factor}); sample needs a dropless model (tokens dropped for capacity depend on the padding of the window)`);
  return LogitsRunner.open(model, { batch: 1, seqLen: train.seqLen }, ckpt.params, ckpt.dir);
}
