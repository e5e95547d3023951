// `sdmoec compile --target torch` as a user calls it: the package's files, its parameter table
// being the forward IR's (names, shapes, init, roles: what makes checkpoints interchangeable),
// valid Python for every example model, and located refusals (exit 1, no stack trace) of what
// the training engines do not support or a bad --target.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../compiler/config/index.ts';
import { topoOrder } from '../../compiler/ir/graph.ts';
import { lowerModel } from '../../compiler/lower/model.ts';
import { writeTorchTarget } from '../../runtime/targets/torch.ts';
import { PYTHON, requireTorch } from './support.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/tiny.moe', import.meta.url));

function sdmoec(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/sdmoec.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The PARAMS table of a generated model.py, read by Python itself. */
function paramTable(pkg: string): [string, number[], string, number, boolean, string, string | null][] {
  const r = spawnSync(PYTHON, ['-c', `import sys, json; sys.path.insert(0, ${JSON.stringify(pkg)}); import model; print(json.dumps(model.PARAMS))`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

let work: string;
beforeAll(() => {
  requireTorch();
  work = mkdtempSync(join(tmpdir(), 'sdmoec-torch-compile-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('sdmoec compile --target torch', () => {
  it('writes the package, whose parameter table is the forward IR\'s', () => {
    for (const overrides of [[], ['train.model=tiny_sd']]) {
      const pkg = join(work, `pkg${overrides.length}`);
      const config = loadConfig(FIXTURE, { overrides }).config;
      writeTorchTarget(config, FIXTURE, pkg, { noData: true });
      for (const f of ['model.py', 'train.py', 'run.json']) expect(existsSync(join(pkg, f)), f).toBe(true);
      const train = config.train!;
      const model = config.models.find((m) => m.name === train.model)!;
      const graph = lowerModel(model, { batch: train.batch, seqLen: train.seqLen });
      const irParams = topoOrder(graph).flatMap((n) => (n.op === 'param' ? [n.attrs] : []));
      const table = paramTable(pkg);
      expect(table.map((p) => p[0])).toEqual(irParams.map((p) => p.name));
      for (const [i, p] of irParams.entries()) {
        expect(table[i][1], p.name).toEqual([...p.shape]);
        expect(table[i][2], p.name).toBe(p.init.kind);
        if (p.init.kind === 'normal') expect(table[i][3], p.name).toBe(p.init.std);
        // weight decay on matrices only (compiler/passes/optimizer.ts); SD bases are never trained
        const basis = p.role?.kind === 'sd' && (p.role.part === 'basis_u' || p.role.part === 'basis_v');
        expect(table[i][4], p.name).toBe(p.shape.length >= 2 && !basis);
        expect(table[i][5] === 'experts', p.name).toBe(p.role?.kind === 'experts');
      }
      const sd = table.filter((p) => p[5].startsWith('sd_'));
      expect(sd.length).toBe(model.spectral ? 4 * 3 : 0); // W_c, W_u, U_k, V_k of gate, up, down
      const record = JSON.parse(readFileSync(join(pkg, 'run.json'), 'utf8'));
      expect(record.model.name).toBe(model.name);
      expect(record.configHash).toMatch(/^[0-9a-f]{16}$/);
      expect(readFileSync(join(pkg, 'train.py'), 'utf8')).toContain(`CONFIG_HASH = "${record.configHash}"`);
    }
  });

  it('emits valid Python for every example model', () => {
    // The paper-scale file accumulates 32 micro-batches, which neither engine supports yet.
    for (const [file, overrides] of [['models/demo.moe', []], ['models/qwen_tiny.moe', []], ['models/deepseek_tiny.moe', []], ['models/qwen_2b_a0.8b.moe', ['train.grad_accum=1']]] as const) {
      const pkg = join(work, file.replace(/\W+/g, '-'));
      const config = loadConfig(join(ROOT, file), { overrides: [...overrides] }).config;
      writeTorchTarget(config, file, pkg, { noData: true });
      const r = spawnSync(PYTHON, ['-c', 'import ast, sys\nfor f in sys.argv[1:]: ast.parse(open(f).read(), f)', join(pkg, 'model.py'), join(pkg, 'train.py')], { encoding: 'utf8' });
      expect(r.status, `${file}: ${r.stderr}`).toBe(0);
    }
  });

  it('refuses what the training engines refuse, and a bad --target, with exit 1 and no stack trace', () => {
    const bad = join(work, 'layernorm.moe');
    writeFileSync(bad, readFileSync(FIXTURE, 'utf8').replace('norm rmsnorm(eps = 1e-6)', 'norm layernorm'));
    const r = sdmoec('compile', bad, '--target', 'torch', '-o', join(work, 'out-bad'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--target torch');
    expect(r.stderr).toContain('norm layernorm');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const sgd = sdmoec('compile', FIXTURE, '--target', 'torch', '--set', 'train.optimizer=sgd(lr = 0.1)', '-o', join(work, 'out-sgd'));
    expect(sgd.code).toBe(1);
    expect(sgd.stderr).toContain('optimizer sgd');
    const target = sdmoec('compile', FIXTURE, '--target', 'jax', '-o', join(work, 'out-jax'));
    expect(target.code).toBe(1);
    expect(target.stderr).toContain("--target must be 'webgpu' or 'torch', got 'jax'");
  });
});
