// Training checkpoints: a run directory holds `step-000500/` directories, each with
//   model.safetensors      the parameters (F32),
//   optimizer.safetensors  Adam moments and any other named optimizer state tensors,
//   state.json             format version, step, RNG state, data sampler state, config hash,
//                          metrics summary, plus whatever else the trainer records.
// Invariants:
//   - A checkpoint directory appears under its final name only once complete: it is written into
//     `.step-000500.tmp-<pid>`, every file and the directory are fsynced, then it is renamed. A
//     crash leaves at worst a temp directory, which nothing loads (names start with '.').
//   - `latest` is the highest step whose directory passes verification (all three files present,
//     state.json parses and names that step, both safetensors headers match their file sizes).
//   - Pruning to keep-last-N happens only after the new checkpoint has been published.
//   - state.json records the SHA-256 of both safetensors files; loading verifies them, so a bit
//     flip in tensor data (which the format itself cannot notice) is reported, not trained on.
//   - Missing or corrupt checkpoints raise UserError naming the path.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { UserError } from '../../base/errors.ts';
import {
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
  type LoadedTensor,
  type TensorToWrite,
} from './safetensors.ts';

export const CHECKPOINT_FORMAT_VERSION = 1;
export const MODEL_FILE = 'model.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const STATE_FILE = 'state.json';

const STEP_DIR = /^step-(\d+)$/;
const TEMP_DIR = /^\.step-(\d+)\.(?:tmp|old)-(\d+)$/;

export interface ParamTensor {
  shape: number[];
  data: Float32Array;
}

/** What the trainer hands over; everything except step and the tensors is opaque JSON. */
export interface CheckpointStateInput {
  rng?: unknown;
  sampler?: unknown;
  configHash?: string;
  metrics?: Record<string, unknown>;
  [extra: string]: unknown;
}

export interface CheckpointState extends CheckpointStateInput {
  formatVersion: number;
  step: number;
}

export interface SaveCheckpointInput {
  step: number;
  params: Map<string, ParamTensor>;
  /** Named optimizer tensors, e.g. `adam.m.<param>` / `adam.v.<param>`; F32 unless dtype given. */
  optimizer: Map<string, TensorToWrite>;
  state: CheckpointStateInput;
}

export interface SaveOptions {
  /** Keep only the newest N complete checkpoints (older ones are deleted after publishing). */
  keepLast?: number;
}

export interface LoadedCheckpoint {
  dir: string;
  step: number;
  params: Map<string, ParamTensor>;
  optimizer: Map<string, LoadedTensor>;
  state: CheckpointState;
}

export function stepDirName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

/** Make the directory entry itself durable (a rename is only safe once the parent is synced). */
async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (e) {
    // Some platforms (Windows) refuse to open or sync directories; the rename is still atomic.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw e;
  } finally {
    await fh?.close();
  }
}

async function writeFileSynced(path: string, text: string): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function processIsAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove temp directories left by crashed writers (never those of a live process). */
async function removeStaleTemps(runDir: string): Promise<void> {
  for (const name of await readdir(runDir)) {
    const m = TEMP_DIR.exec(name);
    if (m && !processIsAlive(Number(m[2]))) await rm(join(runDir, name), { recursive: true, force: true });
  }
}

async function fileSha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** Compares a file with the checksum state.json recorded for it (checkpoints from before checksums have none). */
async function verifyChecksum(dir: string, file: string, state: CheckpointState): Promise<void> {
  const recorded = (state.sha256 as Record<string, string> | undefined)?.[file];
  if (recorded === undefined) return;
  if ((await fileSha256(join(dir, file))) !== recorded) {
    throw new UserError(
      `${join(dir, file)}: contents do not match the SHA-256 recorded in ${STATE_FILE} (the file is corrupt: a flipped bit or a partial overwrite); resume from an earlier checkpoint of ${dirnameOf(dir)}`,
    );
  }
}

const dirnameOf = (dir: string): string => join(dir, '..');

/**
 * Fault injection for the crash tests (test/train/faults.test.ts): `SDMOEC_FAULT=kill-in-checkpoint:N`
 * kills the process with SIGKILL halfway through writing step N's checkpoint (model file written,
 * optimizer file and state not yet). Never set outside tests.
 */
function injectFault(point: string, step: number): void {
  if (process.env.SDMOEC_FAULT === `${point}:${step}`) process.kill(process.pid, 'SIGKILL');
}

const NO_SPACE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/**
 * Writes a checkpoint atomically. A full disk is a user error naming the checkpoint and the last
 * complete one, which stays valid (the partial write is a temp directory nothing loads).
 */
export async function saveCheckpoint(runDir: string, input: SaveCheckpointInput, options: SaveOptions = {}): Promise<string> {
  try {
    return await writeCheckpoint(runDir, input, options);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!code || !NO_SPACE.has(code)) throw e;
    const last = await findLatestCheckpoint(runDir).catch(() => null);
    await rm(join(runDir, `.${stepDirName(input.step)}.tmp-${process.pid}`), { recursive: true, force: true }).catch(() => {});
    throw new UserError(
      `${join(runDir, stepDirName(input.step))}: no space left to write the checkpoint (${code}); ` +
        `the last complete checkpoint ${last ?? '(none)'} is intact. Free space and resume from it.`,
    );
  }
}

async function writeCheckpoint(runDir: string, input: SaveCheckpointInput, options: SaveOptions): Promise<string> {
  const { step } = input;
  if (!Number.isSafeInteger(step) || step < 0) throw new Error(`checkpoint step must be a non-negative integer, got ${step}`);
  if (options.keepLast !== undefined && (!Number.isInteger(options.keepLast) || options.keepLast < 1)) {
    throw new UserError(`keep-last must be a positive integer, got ${options.keepLast}`);
  }
  await mkdir(runDir, { recursive: true });
  await removeStaleTemps(runDir);

  const name = stepDirName(step);
  const finalDir = join(runDir, name);
  const tempDir = join(runDir, `.${name}.tmp-${process.pid}`);
  await rm(tempDir, { recursive: true, force: true });
  await mkdir(tempDir);

  await writeSafetensors(join(tempDir, MODEL_FILE), input.params, {
    fsync: true,
    metadata: { format: 'sdmoec', kind: 'model', step: String(step) },
  });
  injectFault('kill-in-checkpoint', step);
  await writeSafetensors(join(tempDir, OPTIMIZER_FILE), input.optimizer, {
    fsync: true,
    metadata: { format: 'sdmoec', kind: 'optimizer', step: String(step) },
  });
  const sha256 = { [MODEL_FILE]: await fileSha256(join(tempDir, MODEL_FILE)), [OPTIMIZER_FILE]: await fileSha256(join(tempDir, OPTIMIZER_FILE)) };
  const state: CheckpointState = { ...input.state, formatVersion: CHECKPOINT_FORMAT_VERSION, step, sha256 };
  // Written last: its presence is one of the completeness checks.
  await writeFileSynced(join(tempDir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
  await fsyncDir(tempDir);

  if (existsSync(finalDir)) {
    // Re-saving a step (e.g. after a resume): a directory cannot be renamed over a non-empty
    // one, so move the old copy aside first and delete it once the new one is in place.
    const aside = join(runDir, `.${name}.old-${process.pid}`);
    await rm(aside, { recursive: true, force: true });
    await rename(finalDir, aside);
    await rename(tempDir, finalDir);
    await fsyncDir(runDir);
    await rm(aside, { recursive: true, force: true });
  } else {
    await rename(tempDir, finalDir);
    await fsyncDir(runDir);
  }

  if (options.keepLast !== undefined) {
    const complete = (await listCheckpoints(runDir)).filter((c) => c.complete);
    const doomed = complete.slice(0, Math.max(0, complete.length - options.keepLast));
    for (const c of doomed) if (c.dir !== finalDir) await rm(c.dir, { recursive: true, force: true });
  }
  return finalDir;
}

async function readStateFile(dir: string): Promise<CheckpointState> {
  const path = join(dir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${path}: missing; ${dir} is not a complete checkpoint`);
    throw new UserError(`${path}: cannot read (${(e as Error).message})`);
  }
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path}: corrupt checkpoint state (${(e as Error).message})`);
  }
  const s = state as Partial<CheckpointState> | null;
  if (typeof s !== 'object' || s === null || !Number.isSafeInteger(s.step) || typeof s.formatVersion !== 'number') {
    throw new UserError(`${path}: corrupt checkpoint state (needs integer "step" and "formatVersion")`);
  }
  if (s.formatVersion > CHECKPOINT_FORMAT_VERSION) {
    throw new UserError(
      `${path}: checkpoint format version ${s.formatVersion} is newer than this sdmoec supports (${CHECKPOINT_FORMAT_VERSION})`,
    );
  }
  return s as CheckpointState;
}

/** Cheap full-structure check: reads state.json and both headers, not the tensor data. */
export async function verifyCheckpoint(dir: string): Promise<CheckpointState> {
  const state = await readStateFile(dir);
  const m = STEP_DIR.exec(basename(dir));
  if (m && Number(m[1]) !== state.step) {
    throw new UserError(`${join(dir, STATE_FILE)}: records step ${state.step} but the directory is ${basename(dir)}`);
  }
  await readSafetensorsHeader(join(dir, MODEL_FILE));
  await readSafetensorsHeader(join(dir, OPTIMIZER_FILE));
  return state;
}

export interface CheckpointListing {
  dir: string;
  step: number;
  complete: boolean;
  /** Why an incomplete checkpoint was rejected. */
  problem?: string;
}

/** Step directories in a run directory, ascending by step; temp directories are not listed. */
export async function listCheckpoints(runDir: string): Promise<CheckpointListing[]> {
  let names: string[];
  try {
    names = await readdir(runDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${runDir}: run directory not found`);
    throw e;
  }
  const out: CheckpointListing[] = [];
  for (const name of names) {
    const m = STEP_DIR.exec(name);
    if (!m) continue;
    const dir = join(runDir, name);
    if (!(await stat(dir)).isDirectory()) continue;
    try {
      await verifyCheckpoint(dir);
      out.push({ dir, step: Number(m[1]), complete: true });
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      out.push({ dir, step: Number(m[1]), complete: false, problem: e.message });
    }
  }
  return out.sort((a, b) => a.step - b.step);
}

/**
 * On resume from an older step, drop checkpoints from the abandoned future: otherwise `latest`
 * and keep-last-N would keep preferring them over the resumed run's own. Returns what was removed.
 */
export async function removeCheckpointsAfter(runDir: string, step: number): Promise<string[]> {
  const doomed = (await listCheckpoints(runDir)).filter((c) => c.step > step).map((c) => c.dir);
  for (const dir of doomed) await rm(dir, { recursive: true, force: true });
  return doomed;
}

/** The newest complete checkpoint directory in a run directory, or null if there is none. */
export async function findLatestCheckpoint(runDir: string): Promise<string | null> {
  const complete = (await listCheckpoints(runDir)).filter((c) => c.complete);
  return complete.length ? complete[complete.length - 1].dir : null;
}

/** Resolve a checkpoint directory, or a run directory to its latest complete checkpoint. */
export async function resolveCheckpointDir(dirOrRunDir: string): Promise<string> {
  if (!existsSync(dirOrRunDir)) throw new UserError(`${dirOrRunDir}: no such checkpoint or run directory`);
  if (!(await stat(dirOrRunDir)).isDirectory()) {
    throw new UserError(`${dirOrRunDir}: expected a checkpoint directory (step-NNNNNN) or a run directory, got a file`);
  }
  if (existsSync(join(dirOrRunDir, STATE_FILE)) || STEP_DIR.test(basename(dirOrRunDir))) return dirOrRunDir;
  const listing = await listCheckpoints(dirOrRunDir);
  const complete = listing.filter((c) => c.complete);
  if (complete.length === 0) {
    const broken = listing.length ? ` (${listing.length} incomplete: ${listing.map((c) => basename(c.dir)).join(', ')})` : '';
    throw new UserError(`${dirOrRunDir}: no complete checkpoint found${broken}`);
  }
  return complete[complete.length - 1].dir;
}

export interface LoadOptions {
  /** Refuse a checkpoint written for a different model/training config (resume safety). */
  configHash?: string;
}

export async function loadCheckpoint(dirOrRunDir: string, options: LoadOptions = {}): Promise<LoadedCheckpoint> {
  const dir = await resolveCheckpointDir(dirOrRunDir);
  const state = await verifyCheckpoint(dir);
  if (options.configHash !== undefined && state.configHash !== options.configHash) {
    throw new UserError(
      `${dir}: checkpoint was written for a different config (hash ${String(state.configHash)}, ` +
        `this run has ${options.configHash}); resume with the same .moe file and flags`,
    );
  }
  await verifyChecksum(dir, MODEL_FILE, state);
  await verifyChecksum(dir, OPTIMIZER_FILE, state);
  const model = await readSafetensors(join(dir, MODEL_FILE));
  const params = new Map<string, ParamTensor>();
  for (const [name, t] of model.tensors) {
    if (!(t.data instanceof Float32Array) || t.dtype !== 'F32') {
      throw new UserError(`${join(dir, MODEL_FILE)}: parameter "${name}" is ${t.dtype}, expected F32`);
    }
    params.set(name, { shape: t.shape, data: t.data });
  }
  const optimizer = (await readSafetensors(join(dir, OPTIMIZER_FILE))).tensors;
  return { dir, step: state.step, params, optimizer, state };
}
