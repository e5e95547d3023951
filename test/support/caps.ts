// Device caps and a train block for tests that plan or compile without a device: one literal here
// instead of one per test file. PLANNING_CAPS is a GPU with 8-wide subgroups and the portable
// binding limits the planner checks against; tests that need the CPU adapters' kernel choices spread
// `{ ...PLANNING_CAPS, cpuAdapter: true }`.
import type { DeviceCaps } from '../../base/caps.ts';
import type { TrainConfig } from '../../compiler/config/types.ts';

export const PLANNING_CAPS: DeviceCaps = {
  subgroups: true,
  subgroupMinSize: 8,
  cpuAdapter: false,
  timestampQuery: false,
  maxWorkgroupStorageBytes: 32768,
  maxInvocationsPerWorkgroup: 1024,
  maxStorageBufferBindingSize: 128 << 20,
  maxBufferSize: 1 << 30,
  maxStorageBuffersPerStage: 16,
};

/** Batch 2 × 8 tokens, AdamW with clipping: what the tiny models of test/codegen/models.ts train with. */
export const TINY_TRAIN = { batch: 2, seqLen: 8, optimizer: { kind: 'adamw', lr: 1e-3, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1, momentum: 0 }, clipGrad: 1 } as TrainConfig;
