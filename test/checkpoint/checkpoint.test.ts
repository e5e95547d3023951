// Checkpoints: save/load round trip, atomic publication (a crashed writer's temp directory and a
// half-written step directory are never loaded, `latest` picks the newest complete one), stale
// temp cleanup, keep-last-N pruning, re-saving a step, and user errors that name the path.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../base/errors.ts';
import {
  findLatestCheckpoint,
  listCheckpoints,
  removeCheckpointsAfter,
  loadCheckpoint,
  saveCheckpoint,
  stepDirName,
  type ParamTensor,
  type SaveCheckpointInput,
} from '../../runtime/checkpoint/checkpoint.ts';
import type { TensorToWrite } from '../../runtime/checkpoint/safetensors.ts';
import { Rng } from '../../base/rng.ts';

const root = mkdtempSync(join(tmpdir(), 'sdmoec-ckpt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let runCounter = 0;
const freshRunDir = () => join(root, `run-${runCounter++}`);

function makeInput(step: number): SaveCheckpointInput {
  const rng = new Rng(step);
  const params = new Map<string, ParamTensor>();
  const optimizer = new Map<string, TensorToWrite>();
  for (const [name, shape] of [['embed', [16, 8]], ['layers.0.w', [8, 8]], ['norm', [8]]] as [string, number[]][]) {
    const n = shape.reduce((a, b) => a * b, 1);
    params.set(name, { shape, data: rng.fillNormal(new Float32Array(n), 0, 0.02) });
    optimizer.set(`adam.m.${name}`, { shape, data: rng.fillNormal(new Float32Array(n), 0, 1e-3) });
    optimizer.set(`adam.v.${name}`, { shape, data: rng.fillUniform(new Float32Array(n), 0, 1e-6) });
  }
  optimizer.set('adam.step', { shape: [], data: Uint32Array.of(step) });
  return {
    step,
    params,
    optimizer,
    state: { rng: rng.state(), sampler: { epoch: 1, cursor: step * 32 }, configHash: 'abc123', metrics: { loss: 4 - step / 1000 } },
  };
}

function expectMatches(loaded: Awaited<ReturnType<typeof loadCheckpoint>>, input: SaveCheckpointInput) {
  expect(loaded.step).toBe(input.step);
  expect([...loaded.params.keys()].sort()).toEqual([...input.params.keys()].sort());
  for (const [name, p] of input.params) {
    expect(loaded.params.get(name)!.shape).toEqual(p.shape);
    expect(Array.from(loaded.params.get(name)!.data)).toEqual(Array.from(p.data));
  }
  for (const [name, t] of input.optimizer) expect(Array.from(loaded.optimizer.get(name)!.data), name).toEqual(Array.from(t.data));
  expect(loaded.state.rng).toEqual(input.state.rng);
  expect(loaded.state.sampler).toEqual(input.state.sampler);
  expect(loaded.state.configHash).toBe(input.state.configHash);
  expect(loaded.state.metrics).toEqual(input.state.metrics);
  expect(loaded.state.formatVersion).toBeGreaterThanOrEqual(1);
}

describe('checkpoints', () => {
  it('round-trips parameters, optimizer state and state.json', async () => {
    const runDir = freshRunDir();
    const input = makeInput(500);
    const dir = await saveCheckpoint(runDir, input);
    expect(dir).toBe(join(runDir, 'step-000500'));
    expect(readdirSync(dir).sort()).toEqual(['model.safetensors', 'optimizer.safetensors', 'state.json']);
    expect(readdirSync(runDir)).toEqual(['step-000500']); // no temp left behind
    expectMatches(await loadCheckpoint(dir), input);
    expectMatches(await loadCheckpoint(runDir), input);
    // The restored RNG state continues the saved stream.
    const restored = Rng.fromState((await loadCheckpoint(dir)).state.rng as ReturnType<Rng['state']>);
    const original = Rng.fromState(input.state.rng as ReturnType<Rng['state']>);
    expect(restored.nextU32()).toBe(original.nextU32());
  });

  it('ignores a crashed writer and a half-written step directory; latest is the last complete', async () => {
    const runDir = freshRunDir();
    const inputs = [100, 200, 300, 400].map(makeInput);
    for (const input of inputs.slice(0, 2)) await saveCheckpoint(runDir, input);
    // A writer killed mid-write: a temp directory with a truncated model file.
    const crashedTemp = join(runDir, `.${stepDirName(300)}.tmp-${process.pid}`);
    await saveCheckpoint(join(root, 'scratch'), inputs[2]);
    mkdirSync(crashedTemp);
    const model = readFileSync(join(root, 'scratch', stepDirName(300), 'model.safetensors'));
    writeFileSync(join(crashedTemp, 'model.safetensors'), model.subarray(0, model.length >> 1));
    // A step directory whose model file was cut short (e.g. an interrupted copy).
    const broken = await saveCheckpoint(join(root, 'scratch2'), inputs[3]);
    const brokenInRun = join(runDir, stepDirName(400));
    mkdirSync(brokenInRun);
    for (const f of readdirSync(broken)) writeFileSync(join(brokenInRun, f), readFileSync(join(broken, f)));
    truncateSync(join(brokenInRun, 'model.safetensors'), 100);
    // And one with no state.json at all.
    mkdirSync(join(runDir, stepDirName(350)));

    expect(await findLatestCheckpoint(runDir)).toBe(join(runDir, stepDirName(200)));
    expectMatches(await loadCheckpoint(runDir), inputs[1]);
    const listing = await listCheckpoints(runDir);
    expect(listing.map((c) => [c.step, c.complete])).toEqual([[100, true], [200, true], [350, false], [400, false]]);
    expect(listing.find((c) => c.step === 400)!.problem).toMatch(/truncated/);

    const err = await loadCheckpoint(brokenInRun).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain(join(brokenInRun, 'model.safetensors'));
    const err2 = await loadCheckpoint(join(runDir, stepDirName(350))).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(UserError);
    expect((err2 as Error).message).toMatch(/state\.json: missing/);
  });

  it('removes temp directories of dead writers on the next save, never a live one', async () => {
    const runDir = freshRunDir();
    await saveCheckpoint(runDir, makeInput(1));
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    const dead = join(runDir, `.${stepDirName(2)}.tmp-${deadPid}`);
    const alive = join(runDir, `.${stepDirName(2)}.tmp-${process.ppid}`);
    mkdirSync(dead);
    mkdirSync(alive);
    await saveCheckpoint(runDir, makeInput(3));
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(alive)).toBe(true);
  });

  it('keeps only the last N checkpoints', async () => {
    const runDir = freshRunDir();
    for (const step of [10, 20, 30, 40, 50]) await saveCheckpoint(runDir, makeInput(step), { keepLast: 2 });
    expect(readdirSync(runDir).sort()).toEqual([stepDirName(40), stepDirName(50)]);
    await expect(saveCheckpoint(runDir, makeInput(60), { keepLast: 0 })).rejects.toThrow(/keep-last/);
  });

  it('drops checkpoints after a resume step so the resumed run owns `latest`', async () => {
    const runDir = freshRunDir();
    for (const step of [10, 20, 30]) await saveCheckpoint(runDir, makeInput(step));
    expect(await removeCheckpointsAfter(runDir, 10)).toEqual([join(runDir, stepDirName(20)), join(runDir, stepDirName(30))]);
    await saveCheckpoint(runDir, makeInput(15), { keepLast: 1 });
    expect(readdirSync(runDir)).toEqual([stepDirName(15)]);
  });

  it('replaces an existing checkpoint of the same step', async () => {
    const runDir = freshRunDir();
    await saveCheckpoint(runDir, makeInput(7));
    const replacement = makeInput(7);
    replacement.state.metrics = { loss: 1.25 };
    replacement.params.get('norm')!.data.fill(0.5);
    await saveCheckpoint(runDir, replacement);
    expect(readdirSync(runDir)).toEqual([stepDirName(7)]);
    expectMatches(await loadCheckpoint(runDir), replacement);
  });

  it('reports missing and empty run directories as user errors with the path', async () => {
    const missing = join(root, 'does-not-exist');
    await expect(loadCheckpoint(missing)).rejects.toThrow(UserError);
    await expect(loadCheckpoint(missing)).rejects.toThrow(missing);
    const empty = freshRunDir();
    mkdirSync(empty);
    await expect(loadCheckpoint(empty)).rejects.toThrow(/no complete checkpoint found/);
    expect(await findLatestCheckpoint(empty)).toBeNull();
  });

  it('refuses to resume a checkpoint written for a different config', async () => {
    const runDir = freshRunDir();
    const input = makeInput(9);
    await saveCheckpoint(runDir, input);
    expectMatches(await loadCheckpoint(runDir, { configHash: input.state.configHash }), input);
    const err = await loadCheckpoint(runDir, { configHash: 'other' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/different config \(hash abc123, this run has other\)/);
  });

  it('rejects a corrupt state.json and a newer format version', async () => {
    const runDir = freshRunDir();
    const dir = await saveCheckpoint(runDir, makeInput(5));
    const statePath = join(dir, 'state.json');
    const good = readFileSync(statePath, 'utf8');
    writeFileSync(statePath, good.slice(0, 20));
    await expect(loadCheckpoint(dir)).rejects.toThrow(/state\.json: corrupt checkpoint state/);
    writeFileSync(statePath, JSON.stringify({ ...JSON.parse(good), formatVersion: 99 }));
    await expect(loadCheckpoint(dir)).rejects.toThrow(/format version 99 is newer/);
    writeFileSync(statePath, JSON.stringify({ ...JSON.parse(good), step: 6 }));
    await expect(loadCheckpoint(dir)).rejects.toThrow(/records step 6/);
  });
});
