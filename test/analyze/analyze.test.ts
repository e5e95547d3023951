// `sdmoec analyze` on synthetic checkpoints: every Hugging Face layout finds the right MoE layers,
// experts and shapes, and the planted structure comes out of the numbers (a shared input direction
// → similarity ≈ 1 and router aligned with singular direction 1; orthogonal experts → ≈ 0); this
// project's run directories go end to end through the CLI; bad inputs give located messages and
// exit 1.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../base/errors.ts';
import { analyzeModel, type AnalysisResult } from '../../runtime/analyze/analyze.ts';
import { loadForAnalysis } from '../../runtime/analyze/load.ts';
import { findSimilarity } from '../../runtime/sd/diagnostics.ts';
import { writeHfModel, writeSdmoecRun, EXPERTS, FFN, HIDDEN, type HfArch } from './fixtures.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TINY = join(ROOT, 'test/train/fixtures/tiny.moe');
const TINY_SD = join(ROOT, 'test/train/fixtures/tiny_sd.moe');

function sdmoec(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/sdmoec.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sdmoec-analyze-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const CASES: { arch: HfArch; layout: { dtype: 'BF16' | 'F32' | 'mixed'; shards?: number } }[] = [
  { arch: 'mixtral', layout: { dtype: 'BF16' } },
  { arch: 'qwen2_moe', layout: { dtype: 'mixed', shards: 3 } },
  { arch: 'deepseek_v2', layout: { dtype: 'F32', shards: 2 } },
  { arch: 'deepseek_v3', layout: { dtype: 'mixed' } },
];

describe('Hugging Face layouts', () => {
  for (const { arch, layout } of CASES) {
    it(`${arch} (${layout.dtype}${layout.shards ? `, ${layout.shards} shards` : ''}): layers, shapes and the planted structure`, async () => {
      const fx = writeHfModel(join(work, `${arch}-${layout.dtype}`), arch, layout);
      const model = await loadForAnalysis(fx.dir);
      expect(model.format).toBe('huggingface');
      expect(model.architecture).toBe(arch);
      expect(model.moeLayers).toEqual(fx.moeLayers);
      expect([model.experts, model.hiddenSize, model.expertHidden, model.topK]).toEqual([EXPERTS, HIDDEN, FFN, 2]);
      expect(model.matrices.map((m) => `${m.layer}.${m.matrix}:${m.rows}x${m.cols}`)).toEqual(
        fx.moeLayers.flatMap((l) => [`${l}.gate:${HIDDEN}x${FFN}`, `${l}.up:${HIDDEN}x${FFN}`, `${l}.down:${FFN}x${HIDDEN}`]),
      );
      if (arch !== 'mixtral') expect(model.sharedExperts).toMatch(/shared expert/);
      if (layout.shards) expect(model.files).toMatch(new RegExp(`${layout.shards} shards`));

      const result = await analyzeModel(model, { rankK: 2, alignmentDirections: 4 });
      expect(result.entries).toHaveLength(3 * fx.moeLayers.length);
      for (const e of result.entries) {
        const sim = findSimilarity(e, 'experts', 'input', '1pct')!;
        expect(sim.rank).toBe(1);
        expect(sim.matrix).toHaveLength(EXPERTS);
        if (e.layer === fx.sharedLayer) {
          expect(sim.mean, `${arch} layer ${e.layer} ${e.matrix}`).toBeGreaterThan(0.99);
          // Output directions were drawn independently per expert: low, which shows the transpose.
          expect(findSimilarity(e, 'experts', 'output', '1pct')!.mean).toBeLessThan(0.6);
        } else {
          expect(sim.mean, `${arch} layer ${e.layer} ${e.matrix}`).toBeLessThan(0.01);
        }
        // One dominant direction of norm 10 against 0.01 noise: nearly all energy in the top 1 %.
        expect(e.energy[0].mean).toBeGreaterThan(0.95);
        if (e.matrix === 'down') {
          expect(e.alignment).toBeUndefined();
        } else {
          expect(e.alignment!.perExpert).toHaveLength(EXPERTS);
          if (e.layer === fx.sharedLayer) expect(e.alignment!.first).toBeGreaterThan(0.99);
          else expect(e.alignment!.firstShare).toBeLessThan(0.9);
        }
        if (arch === 'deepseek_v3') expect(e.routerBias).toEqual([0, 0.1, 0.2, 0.3].map((x) => Math.fround(x)));
      }
    });
  }

  it('orthogonal experts stay apart at r = k too, and a random router is not aligned', async () => {
    const fx = writeHfModel(join(work, 'mixtral-k'), 'mixtral', { dtype: 'F32' });
    const result = await analyzeModel(await loadForAnalysis(fx.dir), { rankK: 1, layers: [fx.orthogonalLayer], matrices: ['gate'] });
    expect(result.entries).toHaveLength(1);
    const [e] = result.entries;
    expect(findSimilarity(e, 'experts', 'input', 'k')!.mean).toBeLessThan(0.01);
    // A random unit router row against a fixed direction: E[cos²] = 1/dim; 4 experts stay well below 0.5.
    expect(e.alignment!.first).toBeLessThan(0.5);
  });
});

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

describe('sdmoec analyze (CLI)', () => {
  it('analyses a Hugging Face directory end to end: JSON, SVGs, one self-contained page', () => {
    const fx = writeHfModel(join(work, 'cli-qwen'), 'qwen2_moe', { dtype: 'BF16', shards: 2 });
    const out = join(work, 'cli-qwen-out');
    const r = sdmoec('analyze', fx.dir, '-o', out, '--quiet');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/analysis\.json, index\.html and \d+ SVG charts for 6 expert matrices/);
    const json = JSON.parse(readFileSync(join(out, 'analysis.json'), 'utf8')) as AnalysisResult;
    expect(json.model.architecture).toBe('qwen2_moe');
    expect(json.entries.map((e) => e.layer)).toEqual([0, 0, 0, 2, 2, 2]);
    const svgs = files(out).filter((f) => f.endsWith('.svg'));
    expect(svgs).toContain('svg/layer0-gate-similarity-experts-input-1pct.svg');
    expect(svgs).toContain('svg/layer2-down-energy-experts.svg');
    expect(svgs).toContain('svg/layer0-up-alignment.svg');
    expect(svgs).not.toContain('svg/layer0-down-alignment.svg');
    const heat = readFileSync(join(out, 'svg/layer0-gate-similarity-experts-input-1pct.svg'), 'utf8');
    expect(heat.match(/<rect class="cell"/g)).toHaveLength(EXPERTS * EXPERTS);
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(html).toContain('How to read this page');
  });

  it('analyses this project\'s run directory (latest checkpoint) and a step directory with SD', async () => {
    const run = join(work, 'run-base');
    await writeSdmoecRun(run, TINY, 10);
    const { checkpoint } = await writeSdmoecRun(run, TINY, 20);
    let r = sdmoec('analyze', run, '--quiet');
    expect(r.code, r.stderr).toBe(0);
    const out = join(run, 'analysis-step-000020');
    expect(r.stdout).toContain(out);
    const json = JSON.parse(readFileSync(join(out, 'analysis.json'), 'utf8')) as AnalysisResult;
    expect(json.model.step).toBe(20);
    expect(json.model.path).toBe(checkpoint);
    expect(json.entries.map((e) => `${e.layer}.${e.matrix}.${e.decoupled}`)).toEqual(['0.gate.false', '0.up.false', '0.down.false']);
    expect(json.model.sharedExperts).toMatch(/1 shared expert/);
    // tiny has dim = expert_hidden = 32: the router still pairs with gate and up only.
    expect(json.entries.map((e) => e.alignment !== undefined)).toEqual([true, true, false]);

    const sdRun = join(work, 'run-sd');
    const sd = await writeSdmoecRun(sdRun, TINY_SD, 10);
    r = sdmoec('analyze', sd.checkpoint, '-o', join(work, 'sd-out'), '--quiet');
    expect(r.code, r.stderr).toBe(0);
    const sdJson = JSON.parse(readFileSync(join(work, 'sd-out', 'analysis.json'), 'utf8')) as AnalysisResult;
    for (const e of sdJson.entries) {
      expect(e.decoupled).toBe(true);
      // Algorithm 1 puts W_u(i) in the orthogonal complement of W_c's top-k subspace: no leakage,
      // and W_c has numerical rank k.
      expect(e.sd!.leakage.input.max).toBeLessThan(1e-6);
      expect(e.sd!.leakage.output.max).toBeLessThan(1e-6);
      expect(e.sd!.commonNumericalRank).toBe(4);
    }
    expect(files(join(work, 'sd-out'))).toContain('svg/layer0-gate-leakage.svg');
    expect(files(join(work, 'sd-out'))).toContain('svg/layer0-gate-similarity-unique-input-1pct.svg');
  });
});

describe('sdmoec analyze: bad inputs', () => {
  // Through the CLI: exit code 1, the message, no stack trace.
  const expectCliUserError = (r: { code: number; stderr: string }, pattern: RegExp): void => {
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr).not.toMatch(/\n\s+at |internal error/);
  };
  // In process (faster than spawning the CLI): a UserError, which the CLI turns into exit 1.
  const expectUserError = async (path: string, pattern: RegExp, opts: Parameters<typeof analyzeModel>[1] = {}): Promise<void> => {
    const err = await loadForAnalysis(path).then((m) => analyzeModel(m, opts)).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(pattern);
  };

  it('an unknown architecture, located in config.json (CLI)', () => {
    const dir = join(work, 'llama');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), '{\n  "hidden_size": 8,\n  "model_type": "llama"\n}\n');
    expectCliUserError(sdmoec('analyze', dir), new RegExp(`${join(dir, 'config.json')}:3:3: unsupported architecture \\(model_type "llama"\\); analyze reads Mixtral`));
  });

  it('a layer that is not a MoE layer, and a bad flag (CLI)', () => {
    const fx = writeHfModel(join(work, 'flags'), 'mixtral', { dtype: 'F32' });
    expectCliUserError(sdmoec('analyze', fx.dir, '--layers', '7', '--matrices', 'gate'), /--layers 7: not a MoE layer .* \(MoE layers: 0, 1\)/);
    expectCliUserError(sdmoec('analyze', fx.dir, '--matrices', 'gate,proj'), /--matrices: "proj" is not one of gate, up, down/);
  });

  it('a directory without config.json, a missing path, a file', async () => {
    const dir = join(work, 'empty');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.safetensors'), '');
    await expectUserError(dir, new RegExp(`${dir}: no config.json`));
    await expectUserError(join(work, 'nope'), /no such checkpoint, run or model directory/);
    await expectUserError(join(dir, 'model.safetensors'), /expected a directory/);
  });

  it('a config.json that is not JSON, located', async () => {
    const dir = join(work, 'badjson');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), '{\n  "model_type": "mixtral",\n  oops\n}\n');
    await expectUserError(dir, new RegExp(`${join(dir, 'config.json')}:3:3: not valid JSON`));
  });

  it('a truncated safetensors file', async () => {
    const fx = writeHfModel(join(work, 'truncated'), 'mixtral', { dtype: 'F32' });
    const file = join(fx.dir, 'model.safetensors');
    truncateSync(file, statSync(file).size - 100);
    await expectUserError(fx.dir, /model\.safetensors: not a valid safetensors file: .*truncated/);
  });

  it('a missing expert tensor, a shard without the indexed tensor, a config that disagrees with the shapes', async () => {
    const fx = writeHfModel(join(work, 'missing'), 'deepseek_v3', { dtype: 'F32', shards: 2 });
    const indexPath = join(fx.dir, 'model.safetensors.index.json');
    const index = JSON.parse(readFileSync(indexPath, 'utf8')) as { weight_map: Record<string, string> };
    const name = 'model.layers.2.mlp.experts.3.up_proj.weight';
    const shard = index.weight_map[name];
    delete index.weight_map[name];
    writeFileSync(indexPath, JSON.stringify(index));
    await expectUserError(fx.dir, /model\.safetensors\.index\.json: tensor "model\.layers\.2\.mlp\.experts\.3\.up_proj\.weight" is missing \(layer 2 is a MoE layer/);
    index.weight_map[name] = shard === 'model-00001-of-00002.safetensors' ? 'model-00002-of-00002.safetensors' : 'model-00001-of-00002.safetensors';
    writeFileSync(indexPath, JSON.stringify(index));
    await expectUserError(fx.dir, /weight_map puts "model\.layers\.2\.mlp\.experts\.3\.up_proj\.weight" in model-0000\d-of-00002\.safetensors, but that file has no such tensor/);

    const fx2 = writeHfModel(join(work, 'wrongshape'), 'mixtral', { dtype: 'F32' });
    const cfg = JSON.parse(readFileSync(join(fx2.dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(fx2.dir, 'config.json'), JSON.stringify({ ...cfg, intermediate_size: FFN + 1 }, null, 2));
    await expectUserError(fx2.dir, /tensor "model\.layers\.0\.block_sparse_moe\.experts\.0\.w1\.weight" has shape \[20, 24\], expected \[21, 24\]/);
  });

  it('a missing config field', async () => {
    const fx = writeHfModel(join(work, 'nofield'), 'mixtral', { dtype: 'F32' });
    const cfg = JSON.parse(readFileSync(join(fx.dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    delete cfg.num_local_experts;
    writeFileSync(join(fx.dir, 'config.json'), JSON.stringify(cfg, null, 2));
    await expectUserError(fx.dir, /config\.json:1:1: field "num_local_experts" is missing/);
  });

  it('a run directory without a complete checkpoint', async () => {
    const run = join(work, 'run-empty');
    mkdirSync(run, { recursive: true });
    writeFileSync(join(run, 'config.json'), JSON.stringify({ model: {}, train: {} }));
    await expectUserError(run, /no complete checkpoint found/);
  });
});
