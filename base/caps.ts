// What kernel builders may depend on: decided from the adapter (runtime/device.ts reads it off the
// WebGPU adapter), never from a user flag. A leaf type so the compiler can plan for a device
// without importing the runtime.
export interface DeviceCaps {
  readonly subgroups: boolean;
  readonly subgroupMinSize: number;
  /** The adapter runs shaders on CPU cores (lavapipe, SwiftShader, WARP): a workgroup is a serial
   * loop over SIMD-wide chunks on one thread, barriers are expensive and every workgroup has a fixed
   * cost, so per-row kernels give each invocation whole rows instead of a workgroup a row. */
  readonly cpuAdapter: boolean;
  readonly timestampQuery: boolean;
  readonly maxWorkgroupStorageBytes: number;
  readonly maxInvocationsPerWorkgroup: number;
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxStorageBuffersPerStage: number;
}

/** What per-row kernels (norms, softmax, cross-entropy, router, combine, attention) choose from. */
export type RowKernelCaps = Pick<DeviceCaps, 'subgroups' | 'subgroupMinSize' | 'cpuAdapter'>;

/** Fields of a WebGPU adapter's info that name a software (CPU) implementation. */
export interface AdapterInfoLike {
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
  readonly isFallbackAdapter?: boolean;
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|softpipe|microsoft basic render|\bwarp\b/i;

/** True when the adapter is a software rasteriser running on the CPU (see DeviceCaps.cpuAdapter). */
export function isCpuAdapter(info: AdapterInfoLike): boolean {
  if (info.isFallbackAdapter === true) return true;
  return [info.vendor, info.architecture, info.device, info.description].some((t) => typeof t === 'string' && SOFTWARE_ADAPTER.test(t));
}
