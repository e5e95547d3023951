// One device and executor per test worker process, shared by every test file in it.
import { acquireDevice } from '../../runtime/device.ts';
import { KernelExecutor } from '../../runtime/executor.ts';

let executor: Promise<KernelExecutor> | undefined;

export function testExecutor(): Promise<KernelExecutor> {
  executor ??= acquireDevice().then((ctx) => KernelExecutor.shared(ctx));
  return executor;
}
