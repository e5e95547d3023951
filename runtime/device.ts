// The process-wide WebGPU device. Dawn's GPU object is created once and pinned on globalThis for
// the life of the process: if it is garbage-collected, dawn.node aborts with a futex error or the
// process exits silently mid-await. Device errors (validation, out-of-memory, loss) become
// exceptions naming the kernel and its parameters instead of console noise.
//
// Adapter choice: `SDMOEC_ADAPTER=<name substring>` (or the `adapter` option) is passed to Dawn as
// `adapter=<name>`; `SDMOEC_BACKEND=vulkan|null|…` picks a backend. On lavapipe `LP_NUM_THREADS`
// sets the number of LLVM worker threads (4 was ~30 % faster than the default on large kernels
// here, at a higher per-dispatch cost).
import { create, globals } from 'webgpu';
import { UserError } from '../base/errors.ts';
import { isCpuAdapter, type DeviceCaps } from '../base/caps.ts';

export interface DeviceOptions {
  /** Substring of the adapter name to use (Dawn `adapter=` flag). Defaults to $SDMOEC_ADAPTER. */
  adapter?: string;
  /** Dawn backend (`vulkan`, `null`, …). Defaults to $SDMOEC_BACKEND. */
  backend?: string;
  /** Print the adapter's name and the features sdmoec uses to stderr once acquired. */
  printAdapter?: boolean;
}

/** Raised for any device-side failure; carries the kernel label and params when known. */
export class GpuError extends Error {
  constructor(
    message: string,
    readonly kind: 'validation' | 'out-of-memory' | 'device-lost' | 'compilation' | 'internal',
    readonly kernel?: { label: string; params?: unknown },
  ) {
    super(kernel ? `${message}\n  in kernel ${kernel.label}${kernel.params ? ` ${JSON.stringify(kernel.params)}` : ''}` : message);
    this.name = 'GpuError';
  }
}

export interface GpuContext {
  readonly device: GPUDevice;
  readonly adapterName: string;
  readonly caps: DeviceCaps;
  /** Set once the device is lost; every later use throws it. */
  lostReason: string | null;
  /** Errors no error scope caught (e.g. from a step's submit); `assertNoDeviceErrors` raises them. */
  readonly uncaptured: string[];
}

let gpuObject: GPU | undefined;
const contexts = new Map<string, Promise<GpuContext>>();

function gpuFlags(opts: DeviceOptions): string[] {
  const flags: string[] = [];
  const adapter = opts.adapter ?? process.env.SDMOEC_ADAPTER;
  const backend = opts.backend ?? process.env.SDMOEC_BACKEND;
  if (adapter) flags.push(`adapter=${adapter}`);
  if (backend) flags.push(`backend=${backend}`);
  return flags;
}

/** The Dawn GPU object, created on first use and pinned for the whole process. */
export function gpu(opts: DeviceOptions = {}): GPU {
  if (!gpuObject) {
    Object.assign(globalThis, globals);
    gpuObject = create(gpuFlags(opts)) as GPU;
    (globalThis as Record<string, unknown>).__sdmoecDawnGpu = gpuObject;
  }
  return gpuObject;
}

function describeAdapter(adapter: GPUAdapter): string {
  const info = adapter.info as GPUAdapterInfo & { device?: string };
  const text = [info.vendor, info.description || info.device || info.architecture].filter(Boolean).join(' ');
  return text || 'unknown adapter';
}

async function requestAdapter(opts: DeviceOptions): Promise<GPUAdapter> {
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu(opts).requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    const requested = opts.adapter ?? process.env.SDMOEC_ADAPTER ?? opts.backend ?? process.env.SDMOEC_BACKEND;
    // Dawn lists the available adapters in this message; a wrong name is the user's to fix.
    if (requested) throw new UserError(`no WebGPU adapter matches '${requested}': ${(e as Error).message}`);
    throw new GpuError(`could not request a WebGPU adapter: ${(e as Error).message}`, 'internal');
  }
  if (!adapter) {
    throw new GpuError(
      'no WebGPU adapter found. Run `npm run setup` (installs Mesa lavapipe on Debian) or set SDMOEC_ADAPTER.',
      'internal',
    );
  }
  return adapter;
}

async function openDevice(opts: DeviceOptions): Promise<GpuContext> {
  const adapter = await requestAdapter(opts);
  const wanted: GPUFeatureName[] = ['subgroups', 'timestamp-query'];
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures,
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    },
  });
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number };
  const ctx: GpuContext = {
    device,
    adapterName: describeAdapter(adapter),
    lostReason: null,
    uncaptured: [],
    caps: {
      subgroups: device.features.has('subgroups'),
      subgroupMinSize: info.subgroupMinSize ?? 4,
      cpuAdapter: isCpuAdapter(info),
      timestampQuery: device.features.has('timestamp-query'),
      maxWorkgroupStorageBytes: device.limits.maxComputeWorkgroupStorageSize,
      maxInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      maxBufferSize: device.limits.maxBufferSize,
      maxStorageBuffersPerStage: device.limits.maxStorageBuffersPerShaderStage,
    },
  };
  void device.lost.then((info) => {
    // destroy() during shutdown is expected; anything else poisons the context.
    if (info.reason !== 'destroyed') ctx.lostReason = info.message || String(info.reason);
  });
  device.addEventListener('uncapturederror', (ev) => {
    const err = (ev as GPUUncapturedErrorEvent).error;
    if (ctx.uncaptured.length < 10) ctx.uncaptured.push(err.message);
  });
  if (opts.printAdapter) {
    process.stderr.write(`sdmoec: adapter ${ctx.adapterName} [${requiredFeatures.join(', ') || 'no optional features'}]\n`);
  }
  return ctx;
}

/** The shared device for this process (one per adapter/backend choice). */
export function acquireDevice(opts: DeviceOptions = {}): Promise<GpuContext> {
  const key = gpuFlags(opts).join('|');
  let ctx = contexts.get(key);
  if (!ctx) {
    ctx = openDevice({ ...opts, printAdapter: opts.printAdapter ?? process.env.SDMOEC_PRINT_ADAPTER === '1' });
    contexts.set(key, ctx);
    ctx.catch(() => contexts.delete(key));
  }
  return ctx;
}

/** Throws the first error the device reported outside an error scope since the last call. */
export function assertNoDeviceErrors(ctx: GpuContext, what: string): void {
  assertAlive(ctx, { label: what });
  if (ctx.uncaptured.length === 0) return;
  const messages = ctx.uncaptured.splice(0);
  throw new GpuError(`WebGPU error during ${what}: ${messages[0]}${messages.length > 1 ? ` (and ${messages.length - 1} more)` : ''}`, 'validation');
}

/** Throws the stored device-loss reason, if any, before work is submitted to a dead device. */
export function assertAlive(ctx: GpuContext, kernel?: { label: string; params?: unknown }): void {
  if (ctx.lostReason) throw new GpuError(`WebGPU device lost: ${ctx.lostReason}`, 'device-lost', kernel);
}

/**
 * Runs `work` inside validation and out-of-memory error scopes and converts any error into a
 * GpuError naming the kernel. Costs one round trip: use it for pipeline creation and checked runs,
 * not per dispatch in a training loop.
 */
export async function withErrorScopes<T>(
  ctx: GpuContext,
  kernel: { label: string; params?: unknown } | undefined,
  work: () => T | Promise<T>,
): Promise<T> {
  assertAlive(ctx, kernel);
  const { device } = ctx;
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let result: T | undefined;
  let failure: unknown;
  try {
    result = await work();
  } catch (e) {
    failure = e;
  }
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  // The work's own error (e.g. a WGSL compile error with line numbers) says more than the
  // validation error it caused, so it wins.
  if (failure !== undefined) throw failure;
  if (oom) throw new GpuError(`WebGPU out of memory: ${oom.message}`, 'out-of-memory', kernel);
  if (validation) throw new GpuError(`WebGPU validation error: ${validation.message}`, 'validation', kernel);
  assertAlive(ctx, kernel);
  return result as T;
}

/** The adapter's name and buffer limits, for memory summaries that must fit the device. */
export async function adapterLimits(opts: DeviceOptions = {}): Promise<{ name: string; maxStorageBufferBindingSize: number; maxBufferSize: number }> {
  const ctx = await acquireDevice(opts);
  return { name: ctx.adapterName, maxStorageBufferBindingSize: ctx.caps.maxStorageBufferBindingSize, maxBufferSize: ctx.caps.maxBufferSize };
}
