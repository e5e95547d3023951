// Which loader reads a path given to `sdmoec analyze`: a Hugging Face model directory (config.json
// naming an architecture) or one of this project's checkpoints (a step-NNNNNN/ directory, or a run
// directory whose config.json is the {model, train} written by `sdmoec run`).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../base/errors.ts';
import { STATE_FILE } from '../checkpoint/checkpoint.ts';
import { loadHuggingFace, looksLikeHf, SUPPORTED_HF } from './hf.ts';
import type { AnalysisModel } from './model.ts';
import { loadSdmoec } from './sdmoec.ts';

export async function loadForAnalysis(path: string): Promise<AnalysisModel> {
  if (!existsSync(path)) throw new UserError(`${path}: no such checkpoint, run or model directory`);
  if (!statSync(path).isDirectory()) {
    throw new UserError(`${path}: expected a directory (an sdmoec step-NNNNNN/ or run directory, or a Hugging Face model directory with config.json), got a file`);
  }
  if (looksLikeHf(path)) return loadHuggingFace(path);
  if (existsSync(join(path, 'config.json')) || existsSync(join(path, STATE_FILE)) || /^step-\d+$/.test(path.split(/[\\/]/).filter(Boolean).pop() ?? '')) {
    return loadSdmoec(path);
  }
  throw new UserError(
    `${path}: no config.json: not a Hugging Face model directory (config.json + model.safetensors; ${SUPPORTED_HF}) ` +
      'nor an sdmoec run directory (config.json + step-NNNNNN/) or checkpoint (step-NNNNNN/ with state.json)',
  );
}
