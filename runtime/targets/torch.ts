// `sdmoec compile FILE --target torch -o DIR`: the PyTorch package of the file's train block.
// Writes DIR/model.py and DIR/train.py (compiler/targets/torch), DIR/run.json (the run record
// train.py copies into its run directory as config.json, so `sdmoec eval`/`analyze`/`run --resume`
// read torch runs like their own: same model, train config and config hash), and DIR/data/ with
// the token streams of the train block's corpus and tokenizer exactly as `sdmoec run` prepares
// them (same cache, same split, same BPE): train.bin and validation.bin in the project's stream
// format, and meta.json with each token's UTF-8 byte length (for bits per byte).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../../base/errors.ts';
import type { NormalisedConfig } from '../../compiler/config/types.ts';
import { LoweringError } from '../../compiler/lower/model.ts';
import { writeTorchPackage } from '../../compiler/targets/torch/emit.ts';
import { TorchTargetError, torchProgram } from '../../compiler/targets/torch/program.ts';
import { writeTokenStream } from '../data/cache.ts';
import { prepareData } from '../data/prepare.ts';
import { configHash } from '../train/trainer.ts';

export interface TorchTargetOptions {
  /** Skip preparing DIR/data (train.py then needs --data). */
  readonly noData?: boolean;
  readonly overrides?: readonly string[];
  readonly log?: (line: string) => void;
}

export function writeTorchTarget(config: NormalisedConfig, file: string, outDir: string, opts: TorchTargetOptions = {}): string[] {
  const log = opts.log ?? (() => {});
  const declared = config.train;
  if (!declared) throw new UserError(`${file}: --target torch needs a train block (the package trains the train block's model)`);
  const model = config.models.find((m) => m.name === declared.model);
  if (!model) throw new UserError(`${file}: train block names unknown model '${declared.model}'`);
  // `data path("…")` is relative to the .moe file, as for `sdmoec run`.
  const train = declared.data.kind === 'path' && !isAbsolute(declared.data.path) ? { ...declared, data: { ...declared.data, path: resolve(dirname(file), declared.data.path) } } : declared;
  const hash = configHash(model, train);
  let program;
  try {
    program = torchProgram(model, train, { source: file, configHash: hash });
  } catch (e) {
    if (e instanceof LoweringError || e instanceof TorchTargetError) throw new UserError(`${file}: --target torch: ${e.message}`);
    throw e;
  }
  // train.py evaluates loss and bits per byte on the train block's eval_batches of the validation
  // split; an eval block's own data, shape and other metrics are the WebGPU engine's (sdmoec eval
  // reads a torch checkpoint and runs the eval block). Said, not dropped silently.
  if (config.eval) log(`note: --target torch: train.py's evaluations are loss and bits per byte over eval_batches of the validation split; the eval block (${config.eval.metrics.join(', ')}) runs with: sdmoec eval RUN_DIR ${file}`);
  const files = writeTorchPackage(outDir, program);
  const record = { model, train, configHash: hash, file, overrides: opts.overrides ?? [] };
  writeFileSync(join(outDir, 'run.json'), JSON.stringify(record, null, 2) + '\n');
  files.push(join(outDir, 'run.json'));
  if (opts.noData) return files;
  const data = prepareData({
    source: train.data,
    // The same tokenizer and split as `sdmoec run` of this file (trainer.ts openSession).
    tokenizer: train.tokenizer,
    testSplit: config.eval?.split === 'test',
    vocabSize: model.vocab,
    seqLen: train.seqLen,
    batch: train.batch,
    onProgress: (e) => {
      if (e.done === undefined) log(`data: ${e.message}`);
    },
  });
  const dataDir = join(outDir, 'data');
  mkdirSync(dataDir, { recursive: true });
  writeTokenStream(join(dataDir, 'train.bin'), data.train);
  writeTokenStream(join(dataDir, 'validation.bin'), data.validation);
  const meta = {
    corpus: data.corpusIdentity,
    cacheKey: data.cacheKey,
    vocabSize: data.tokenizer.vocabSize,
    tokens: { train: data.train.length, validation: data.validation.length },
    tokenByteLengths: Array.from(data.tokenizer.tokenByteLengths()),
  };
  writeFileSync(join(dataDir, 'meta.json'), JSON.stringify(meta) + '\n');
  files.push(join(dataDir, 'train.bin'), join(dataDir, 'validation.bin'), join(dataDir, 'meta.json'));
  return files;
}
