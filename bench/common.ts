// Shared benchmark plumbing: run statistics, GPU timestamp timing of a compute pass (wall clock
// around submit + onSubmittedWorkDone when the adapter lacks `timestamp-query`), and writing a
// module's results as JSON plus a markdown table under bench/results/. Benchmarks are not tests:
// nothing here asserts; numbers are noisy on shared machines, so compare ratios measured in the
// same process.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { GpuContext } from '../runtime/device.ts';

export interface BenchOptions {
  /** A fast subset (fewer sizes and runs) for a quick look. */
  readonly quick: boolean;
}

/** A benchmark module: measures, prints as it goes, and returns what bench/run.ts writes out. */
export interface BenchModule {
  readonly name: string;
  run(opts: BenchOptions): Promise<BenchReport>;
}

export interface BenchReport {
  /** Written verbatim to bench/results/<name>.json. */
  readonly json: unknown;
  /** Written to bench/results/<name>.md. */
  readonly markdown: string;
}

export interface RunStats {
  readonly best: number;
  readonly median: number;
  readonly runs: number;
}

export function stats(samples: readonly number[]): RunStats {
  const sorted = [...samples].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { best: sorted[0], median, runs: sorted.length };
}

export const nowMs = (): number => performance.now();

/**
 * CPU milliseconds this process used since `start` (all threads, so lavapipe's workers count).
 * On a software adapter this measures the work itself, independent of other processes' load.
 */
export function cpuMsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

/**
 * Times `runs` submissions of one compute pass each (recorded by `record`). Returns per-run GPU
 * milliseconds from timestamp queries when available, and wall milliseconds from submit to
 * onSubmittedWorkDone always.
 */
export async function timePasses(
  ctx: GpuContext,
  runs: number,
  record: (pass: GPUComputePassEncoder) => void,
): Promise<{ gpuMs: number[] | null; wallMs: number[]; cpuMs: number[] }> {
  const { device } = ctx;
  const useTimestamps = ctx.caps.timestampQuery;
  const querySet = useTimestamps ? device.createQuerySet({ type: 'timestamp', count: 2 * runs }) : null;
  const wallMs: number[] = [];
  const cpuMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass(
      querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } } : {},
    );
    record(pass);
    pass.end();
    const c0 = process.cpuUsage();
    const t0 = nowMs();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    wallMs.push(nowMs() - t0);
    cpuMs.push(cpuMsSince(c0));
  }
  if (!querySet) return { gpuMs: null, wallMs, cpuMs };
  const bytes = 16 * runs;
  const resolved = device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.resolveQuerySet(querySet, 0, 2 * runs, resolved, 0);
  enc.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const ticks = new BigUint64Array(staging.getMappedRange().slice(0));
  staging.unmap();
  for (const b of [resolved, staging]) b.destroy();
  querySet.destroy();
  const gpuMs = Array.from({ length: runs }, (_, i) => Number(ticks[2 * i + 1] - ticks[2 * i]) / 1e6);
  // A zero or negative span means the implementation did not really time the pass.
  return { gpuMs: gpuMs.every((ms) => ms > 0) ? gpuMs : null, wallMs, cpuMs };
}

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

export function writeReport(name: string, report: BenchReport): string[] {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = `${RESULTS_DIR}${name}.json`;
  const md = `${RESULTS_DIR}${name}.md`;
  writeFileSync(json, `${JSON.stringify(report.json, null, 2)}\n`);
  writeFileSync(md, report.markdown.endsWith('\n') ? report.markdown : `${report.markdown}\n`);
  return [json, md];
}

/** A GitHub-flavoured markdown table. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
