// Damaged checkpoints give a clear error naming the file and the problem (UserError: exit 1, no
// stack): a truncated or bit-flipped safetensors file, a corrupt header, a missing optimizer file,
// the state of another model's run, and tensors of the wrong shape.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, cpSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../base/errors.ts';
import { loadCheckpoint, saveCheckpoint, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE } from '../../runtime/checkpoint/checkpoint.ts';
import { restore, type TrainingSession } from '../../runtime/train/trainer.ts';

let work: string;
let good: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'sdmoec-corrupt-'));
  const w = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i));
  good = await saveCheckpoint(join(work, 'run'), {
    step: 10,
    params: new Map([['w', { shape: [4, 6], data: w }]]),
    optimizer: new Map([['w.adam_m', { shape: [4, 6], data: new Float32Array(24).fill(0.5) }]]),
    state: { configHash: 'abc' },
  });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let copies = 0;
function damaged(damage: (dir: string) => void): string {
  const dir = join(work, `copy${copies++}`, 'step-000010');
  cpSync(good, dir, { recursive: true });
  damage(dir);
  return dir;
}

async function loadError(dir: string, options = {}): Promise<Error> {
  const err = await loadCheckpoint(dir, options).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UserError);
  return err as Error;
}

describe('damaged checkpoints', () => {
  it('loads the undamaged one (the control)', async () => {
    const ckpt = await loadCheckpoint(good, { configHash: 'abc' });
    expect(Array.from(ckpt.params.get('w')!.data.slice(0, 3))).toEqual(Array.from(Float32Array.from([0, Math.sin(1), Math.sin(2)])));
  });

  it('a truncated model file', async () => {
    const dir = damaged((d) => truncateSync(join(d, MODEL_FILE), statSync(join(d, MODEL_FILE)).size - 7));
    expect((await loadError(dir)).message).toContain(join(dir, MODEL_FILE));
  });

  it('a flipped bit in tensor data (the checksum catches what the format cannot)', async () => {
    const dir = damaged((d) => {
      const bytes = readFileSync(join(d, MODEL_FILE));
      bytes[bytes.length - 5] ^= 0x10;
      writeFileSync(join(d, MODEL_FILE), bytes);
    });
    expect((await loadError(dir)).message).toMatch(new RegExp(`${MODEL_FILE.replace('.', '\\.')}: contents do not match the SHA-256 recorded in state\\.json`));
  });

  it('a flipped bit in the header', async () => {
    const dir = damaged((d) => {
      const bytes = readFileSync(join(d, OPTIMIZER_FILE));
      bytes[12] ^= 0x40;
      writeFileSync(join(d, OPTIMIZER_FILE), bytes);
    });
    expect((await loadError(dir)).message).toContain(join(dir, OPTIMIZER_FILE));
  });

  it('a missing optimizer file', async () => {
    const dir = damaged((d) => rmSync(join(d, OPTIMIZER_FILE)));
    expect((await loadError(dir)).message).toContain(join(dir, OPTIMIZER_FILE));
  });

  it("the state of another model's run", async () => {
    const dir = damaged((d) => {
      const state = JSON.parse(readFileSync(join(d, STATE_FILE), 'utf8'));
      writeFileSync(join(d, STATE_FILE), JSON.stringify({ ...state, configHash: 'other' }));
    });
    expect((await loadError(dir, { configHash: 'abc' })).message).toMatch(/written for a different config/);
  });

  it('a tensor of the wrong shape (same element count)', async () => {
    const ckpt = await loadCheckpoint(good);
    const session = { compiled: { stepPlan: { params: { w: { type: { dtype: 'f32', shape: [6, 4] } } } } }, step: { writeParam: () => {} } } as unknown as TrainingSession;
    let caught: unknown;
    try {
      restore(session, ckpt.params, ckpt.dir);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(UserError);
    expect((caught as Error).message).toMatch(/tensor 'w' has shape \[4, 6\] \(24 elements\), the model expects \[6, 4\]/);
  });
});
