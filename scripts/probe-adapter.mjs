// Exit 0 when Dawn finds a WebGPU adapter with the limits sdmoec needs, 1 otherwise.
// Used by scripts/setup.sh to decide whether a Vulkan driver must be installed.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create([]);
globalThis.__sdmoecProbeGpu = gpu; // dawn.node aborts if the GPU object is collected mid-await
try {
  const adapter = await gpu.requestAdapter();
  if (!adapter) { console.error('no WebGPU adapter'); process.exit(1); }
  const device = await adapter.requestDevice();
  const info = adapter.info ?? {};
  console.log(`adapter: ${info.vendor ?? '?'} ${info.description || info.device || info.architecture || ''}`.trim());
  device.destroy();
  process.exit(0);
} catch (e) {
  console.error(String(e?.message ?? e));
  process.exit(1);
}
