// Turns KernelPrograms into cached compute pipelines and dispatches. The pipeline cache key is the
// template name plus a hash of the params (compiler/codegen/kernel.ts#pipelineKey), so building the
// same program twice never compiles twice. Shader compilation errors are raised with the kernel's
// label, params and the offending WGSL line.
import { pipelineKey, type HostArray, type KernelProgram, type ScalarType } from '../compiler/codegen/kernel.ts';
import { renderWgsl } from '../compiler/codegen/render.ts';
import { GpuError, assertAlive, withErrorScopes, type GpuContext } from './device.ts';
import { gentlePollMs, pollGently } from './pacer.ts';

export type { HostArray } from '../compiler/codegen/kernel.ts';

export const ARRAY_FOR: Record<ScalarType, new (n: number) => HostArray> = {
  f32: Float32Array,
  i32: Int32Array,
  u32: Uint32Array,
};

function kernelRef(p: KernelProgram): { label: string; params: unknown } {
  return { label: p.label, params: p.params };
}

const sharedExecutors = new WeakMap<GpuContext, KernelExecutor>();

export class KernelExecutor {
  private readonly pipelines = new Map<string, GPUComputePipeline>();

  /** Poll interval while waiting for a read-back (pacer.ts: 0 spins, as dawn.node does). */
  private readonly pollMs: number;

  constructor(readonly ctx: GpuContext) {
    this.pollMs = gentlePollMs(ctx.caps.cpuAdapter);
  }

  /**
   * The process-wide executor of a device: every session, eval and check in the process shares its
   * pipeline cache. (lavapipe compiles a pipeline's shader at its first dispatch, so a second
   * pipeline object for the same kernel would pay that compile again.)
   */
  static shared(ctx: GpuContext): KernelExecutor {
    let exec = sharedExecutors.get(ctx);
    if (!exec) sharedExecutors.set(ctx, (exec = new KernelExecutor(ctx)));
    return exec;
  }

  get device(): GPUDevice {
    return this.ctx.device;
  }

  /** Number of distinct pipelines compiled so far. */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  /** Compiles (once) and returns the pipeline, with compilation errors naming the kernel. */
  async pipeline(p: KernelProgram): Promise<GPUComputePipeline> {
    const key = pipelineKey(p);
    const cached = this.pipelines.get(key);
    if (cached) return cached;
    for (const f of p.features) {
      if (!this.device.features.has(f)) throw new GpuError(`kernel needs feature '${f}', which this device lacks`, 'internal', kernelRef(p));
    }
    const code = renderWgsl(p);
    // Compiling waits on Dawn promises too: poll gently so lavapipe's compile keeps its core.
    const pipeline = await pollGently(() => withErrorScopes(this.ctx, kernelRef(p), async () => {
      const module = this.device.createShaderModule({ code, label: p.label });
      const info = await module.getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === 'error');
      if (errors.length > 0) {
        const lines = code.split('\n');
        const detail = errors
          .map((m) => `  ${p.template}.wgsl:${m.lineNum}:${m.linePos}: ${m.message}\n    ${lines[m.lineNum - 1] ?? ''}`)
          .join('\n');
        throw new GpuError(`WGSL compilation failed:\n${detail}`, 'compilation', kernelRef(p));
      }
      return this.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: p.label });
    }), this.pollMs);
    this.pipelines.set(key, pipeline);
    return pipeline;
  }

  /** A bind group for `buffers` (whole buffers or ranges), in the program's binding order. */
  bindGroup(p: KernelProgram, pipeline: GPUComputePipeline, buffers: readonly (GPUBuffer | GPUBufferBinding)[]): GPUBindGroup {
    if (buffers.length !== p.bindings.length) {
      throw new GpuError(`expected ${p.bindings.length} buffers, got ${buffers.length}`, 'internal', kernelRef(p));
    }
    return this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((b, binding) => ({ binding, resource: 'buffer' in b ? b : { buffer: b } })),
      label: p.label,
    });
  }

  /** Records one dispatch into an open compute pass. */
  encode(pass: GPUComputePassEncoder, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, p: KernelProgram): void {
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(p.dispatch[0], p.dispatch[1], p.dispatch[2]);
  }

  /** Every buffer can also be bound as a uniform buffer: kernels for CPU adapters read small operands that way (compiler/kernels/sd-split.ts). */
  createBuffer(bytes: number, label: string, extraUsage = 0): GPUBuffer {
    return this.device.createBuffer({
      size: Math.max(16, Math.ceil(bytes / 16) * 16),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | extraUsage,
      label,
    });
  }

  async readBuffer(buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, offset, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await pollGently(() => staging.mapAsync(GPUMapMode.READ), this.pollMs);
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    return out;
  }

  /**
   * Runs one program on host data: uploads `inputs` (by binding name), dispatches, and reads back
   * every binding that is not read-only. Checked with error scopes; meant for tests and oracles,
   * not for training loops.
   */
  async run(p: KernelProgram, inputs: Readonly<Record<string, HostArray>>): Promise<Record<string, HostArray>> {
    assertAlive(this.ctx, kernelRef(p));
    const pipeline = await this.pipeline(p);
    return withErrorScopes(this.ctx, kernelRef(p), async () => {
      const buffers = p.bindings.map((b) => {
        const buf = this.createBuffer(b.length * 4, `${p.label}.${b.name}`, b.access === 'uniform' ? GPUBufferUsage.UNIFORM : 0);
        const host = inputs[b.name];
        if (host) {
          if (host.length < b.length) throw new GpuError(`input '${b.name}' has ${host.length} elements, kernel reads ${b.length}`, 'internal', kernelRef(p));
          this.device.queue.writeBuffer(buf, 0, host.buffer, host.byteOffset, b.length * 4);
        } else if (b.access !== 'write') {
          throw new GpuError(`missing input '${b.name}'`, 'internal', kernelRef(p));
        }
        return buf;
      });
      const enc = this.device.createCommandEncoder({ label: p.label });
      const pass = enc.beginComputePass();
      this.encode(pass, pipeline, this.bindGroup(p, pipeline, buffers), p);
      pass.end();
      this.device.queue.submit([enc.finish()]);
      const out: Record<string, HostArray> = {};
      for (let i = 0; i < p.bindings.length; i++) {
        const b = p.bindings[i];
        if (b.access === 'write' || b.access === 'readwrite') {
          out[b.name] = new ARRAY_FOR[b.type](b.length);
          new Uint8Array(out[b.name].buffer).set(new Uint8Array(await this.readBuffer(buffers[i], b.length * 4)));
        }
      }
      for (const buf of buffers) buf.destroy();
      return out;
    });
  }
}
