// The adapter's copy bandwidth, measured in this process: the yardstick of the train-step bench's
// memory-bound times. Two ways, best of each: a compute kernel copying vec4s (GPU timestamps of
// its pass; one vec4 per invocation, and grid-stride loops over 64, 256 and 512 workgroups, since on
// lavapipe the workgroup count decides how work spreads over the CPU threads), and
// copyBufferToBuffer (wall clock from submit to done of 8 copies in one submit: the encoder-level
// copy has no timestamps). Bandwidth counts bytes read plus bytes written (2 × size), as
// bench/roofline.ts counts a dispatch's bytes. The roofline is the best copy KERNEL over sizes and
// shapes: what a compute shader achieves moving memory on this adapter, so a kernel at ratio 1 is
// as fast as a shader copying its bytes. copyBufferToBuffer is reported beside it but not used:
// on lavapipe it is a memcpy, which at 4 MiB runs from the CPU caches (75 GB/s measured, against
// 8 GB/s for the kernel at the same size) and says nothing about what a shader can reach.
import type { GpuContext } from '../runtime/device.ts';
import { nowMs, randomFloats, stats, timePasses, type RunStats } from './common.ts';

const WORKGROUP = 64;
const shader = (gridStride: boolean) => `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = arrayLength(&dst);
  let first = gid.x + gid.y * nwg.x * ${WORKGROUP}u;
  ${gridStride ? `for (var i = first; i < n; i += nwg.x * ${WORKGROUP}u) { dst[i] = src[i]; }` : 'if (first < n) { dst[first] = src[first]; }'}
}`;

export interface BandwidthSample {
  readonly method: string;
  readonly bytes: number;
  readonly ms: RunStats;
  /** (read + written bytes) ÷ best time. */
  readonly gbPerSecond: number;
}

export interface CopyBandwidth {
  readonly samples: BandwidthSample[];
  /** The roofline: the best copy kernel's GB/s over all sizes (1 GB = 1e9 bytes). */
  readonly gbPerSecond: number;
  readonly best: string;
  /** The best copyBufferToBuffer GB/s (for reference; not the roofline). */
  readonly copyBufferToBufferGbPerSecond: number;
}

export async function measureCopyBandwidth(ctx: GpuContext, sizesMiB: readonly number[], runs: number): Promise<CopyBandwidth> {
  const { device } = ctx;
  const samples: BandwidthSample[] = [];
  const pipelines = await Promise.all(
    [false, true].map((gridStride) => device.createComputePipelineAsync({ layout: 'auto', compute: { module: device.createShaderModule({ code: shader(gridStride) }), entryPoint: 'main' } })),
  );
  for (const mib of sizesMiB) {
    const bytes = mib * 2 ** 20;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const src = device.createBuffer({ size: bytes, usage });
    const dst = device.createBuffer({ size: bytes, usage });
    device.queue.writeBuffer(src, 0, randomFloats(bytes / 4, 7));
    const vec4s = bytes / 16;
    const perVec4 = Math.ceil(vec4s / WORKGROUP);
    const perVec4Grid: [number, number] = perVec4 <= 65535 ? [perVec4, 1] : [65535, Math.ceil(perVec4 / 65535)];
    const variants: { method: string; pipeline: GPUComputePipeline; grid: [number, number] }[] = [
      { method: 'kernel, a vec4 per invocation', pipeline: pipelines[0], grid: perVec4Grid },
      { method: 'kernel, grid-stride over 64 workgroups', pipeline: pipelines[1], grid: [64, 1] },
      { method: 'kernel, grid-stride over 256 workgroups', pipeline: pipelines[1], grid: [256, 1] },
      { method: 'kernel, grid-stride over 512 workgroups', pipeline: pipelines[1], grid: [512, 1] },
    ];
    for (const v of variants) {
      const bindGroup = device.createBindGroup({ layout: v.pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: dst } }] });
      const record = (pass: GPUComputePassEncoder) => {
        pass.setPipeline(v.pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(v.grid[0], v.grid[1]);
      };
      await timePasses(ctx, 1, record);
      const t = await timePasses(ctx, runs, record);
      const ms = stats(t.gpuMs ?? t.wallMs);
      samples.push({ method: `${v.method}${t.gpuMs ? '' : ' (wall clock)'}`, bytes, ms, gbPerSecond: (2 * bytes) / (ms.best * 1e6) });
    }
    const copies = 8;
    const wall: number[] = [];
    for (let r = 0; r <= runs; r++) {
      const enc = device.createCommandEncoder();
      for (let i = 0; i < copies; i++) enc.copyBufferToBuffer(src, 0, dst, 0, bytes);
      const t0 = nowMs();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      if (r > 0) wall.push((nowMs() - t0) / copies);
    }
    const ms = stats(wall);
    samples.push({ method: 'copyBufferToBuffer (wall clock, 8 per submit)', bytes, ms, gbPerSecond: (2 * bytes) / (ms.best * 1e6) });
    src.destroy();
    dst.destroy();
  }
  const bestOf = (xs: BandwidthSample[]) => xs.reduce((a, b) => (b.gbPerSecond > a.gbPerSecond ? b : a));
  const best = bestOf(samples.filter((s) => s.method.startsWith('kernel')));
  const copy = bestOf(samples.filter((s) => s.method.startsWith('copyBufferToBuffer')));
  return { samples, gbPerSecond: best.gbPerSecond, best: `${best.method}, ${best.bytes / 2 ** 20} MiB`, copyBufferToBufferGbPerSecond: copy.gbPerSecond };
}
