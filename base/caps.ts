// What kernel builders may depend on: decided from the adapter (runtime/device.ts reads it off the
// WebGPU adapter), never from a user flag. A leaf type so the compiler can plan for a device
// without importing the runtime.
export interface DeviceCaps {
  readonly subgroups: boolean;
  readonly subgroupMinSize: number;
  readonly timestampQuery: boolean;
  readonly maxWorkgroupStorageBytes: number;
  readonly maxInvocationsPerWorkgroup: number;
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxStorageBuffersPerStage: number;
}
