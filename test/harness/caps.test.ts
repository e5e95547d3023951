// DeviceCaps.cpuAdapter: which adapters per-row kernels treat as software (CPU) implementations.
import { describe, expect, it } from 'vitest';
import { isCpuAdapter } from '../../base/caps.ts';
import { testExecutor } from '../support/gpu.ts';

describe('isCpuAdapter', () => {
  it('names lavapipe, SwiftShader and fallback adapters as CPU adapters', () => {
    expect(isCpuAdapter({ vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' })).toBe(true);
    expect(isCpuAdapter({ vendor: 'google', architecture: 'swiftshader' })).toBe(true);
    expect(isCpuAdapter({ vendor: 'microsoft', description: 'Microsoft Basic Render Driver' })).toBe(true);
    expect(isCpuAdapter({ vendor: 'unknown', isFallbackAdapter: true })).toBe(true);
  });
  it('leaves hardware adapters alone', () => {
    expect(isCpuAdapter({ vendor: 'nvidia', architecture: 'ampere', description: 'NVIDIA GeForce RTX 3090' })).toBe(false);
    expect(isCpuAdapter({ vendor: 'amd', architecture: 'rdna-3', description: 'AMD Radeon RX 7900 XTX (RADV NAVI31)' })).toBe(false);
    expect(isCpuAdapter({ vendor: 'apple', architecture: 'metal-3' })).toBe(false);
    expect(isCpuAdapter({})).toBe(false);
  });
  it('the adapter this suite runs on is reported as it is', async () => {
    const exec = await testExecutor();
    const name = exec.ctx.adapterName;
    expect(exec.ctx.caps.cpuAdapter).toBe(/llvmpipe|lavapipe|swiftshader/i.test(name));
  });
});
