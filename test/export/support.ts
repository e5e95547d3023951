// Shared by the export tests: random checkpoints for a model (every param drawn, norms near 1 but
// not 1 so a swapped norm shows), and the independent Python reader (test/export/hf_reference.py)
// run through child_process. Python with torch is required: missing, the tests fail with the
// install command (no silent skip).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../base/rng.ts';
import { loadConfig } from '../../compiler/config/index.ts';
import type { ModelConfig } from '../../compiler/config/types.ts';
import type { ParamTensor } from '../../runtime/checkpoint/checkpoint.ts';
import { modelParams } from '../../runtime/export/hf.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./hf_reference.py', import.meta.url));
const INSTALL = 'install it as root with: apt-get install -y python3-torch libopenblas0-openmp python3-regex (or run scripts/setup.sh)';

/** Throws with the install command unless /usr/bin/python3 imports torch and regex. */
export function requirePythonTorch(): void {
  const r = spawnSync(PYTHON, ['-c', 'import torch, regex, numpy'], { encoding: 'utf8' });
  if (r.error) throw new Error(`${PYTHON} is missing: ${INSTALL}`);
  if (r.status !== 0) throw new Error(`${PYTHON} cannot import torch/regex/numpy (${r.stderr.trim().split('\n').pop()}): ${INSTALL}`);
}

export function model(file: string, name: string, overrides: string[] = []): ModelConfig {
  const { config } = loadConfig(join(ROOT, file), { overrides });
  const m = config.models.find((x) => x.name === name);
  if (!m) throw new Error(`${file} has no model ${name}`);
  return m;
}

export function randomParams(m: ModelConfig, seed: number): Map<string, ParamTensor> {
  const rng = new Rng(seed);
  const out = new Map<string, ParamTensor>();
  for (const p of modelParams(m)) {
    const data = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
    const r = rng.fork(p.name);
    if (p.shape.length === 1) for (let i = 0; i < data.length; i++) data[i] = 1 + 0.2 * r.normal();
    else r.fillNormal(data, 0, 0.08);
    out.set(p.name, { shape: [...p.shape], data });
  }
  return out;
}

function python(args: string[]): void {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (r.status === 3) throw new Error(r.stderr);
  if (r.status !== 0) throw new Error(`hf_reference.py ${args[0]} failed (${r.status}): ${r.stderr}`);
}

/** Logits [B·T·V] of the exported directory from the independent PyTorch forward. */
export function referenceLogits(dir: string, tokens: number[][], work: string): Float32Array {
  writeFileSync(join(work, 'tokens.json'), JSON.stringify(tokens));
  python(['logits', dir, join(work, 'tokens.json'), join(work, 'logits.f32')]);
  const b = readFileSync(join(work, 'logits.f32'));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

export function referenceEncode(dir: string, texts: string[], work: string): number[][] {
  writeFileSync(join(work, 'texts.json'), JSON.stringify(texts));
  python(['encode', dir, join(work, 'texts.json'), join(work, 'ids.json')]);
  return JSON.parse(readFileSync(join(work, 'ids.json'), 'utf8')) as number[][];
}

/** max |a − b| / max |b|: one scale for the whole logits tensor. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}
