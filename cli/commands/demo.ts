// `sdmoec demo`: proves the machine is ready. Acquires the WebGPU device, runs a handful of real
// kernels (matmul, softmax, reductions, elementwise) on random data, checks each against its CPU
// oracle and prints what ran, how long it took, and the adapter it ran on.
import type { Command } from 'commander';
import { elementwiseCase } from '../../compiler/kernels/elementwise.ts';
import { matmulCase, matmulVariant } from '../../compiler/kernels/matmul.ts';
import { reduceCase } from '../../compiler/kernels/reduce.ts';
import { softmaxCase } from '../../compiler/kernels/softmax.ts';
import { acquireDevice } from '../../runtime/device.ts';
import { KernelExecutor } from '../../runtime/executor.ts';
import { checkKernel } from '../../runtime/kernel-check.ts';

export async function runKernelDemo(log: (line: string) => void): Promise<boolean> {
  const ctx = await acquireDevice();
  const exec = KernelExecutor.shared(ctx);
  log(`adapter: ${ctx.adapterName} (matmul variant: ${matmulVariant(ctx.caps)})`);
  const cases = [
    matmulCase({ M: 512, N: 512, K: 512 }, ctx.caps),
    matmulCase({ M: 129, N: 65, K: 257, transB: true }, ctx.caps),
    softmaxCase({ shape: [64, 1000] }, ctx.caps),
    reduceCase({ op: 'sum', shape: [3, 4097], axis: 1 }, ctx.caps),
    elementwiseCase({ op: 'mul', aShape: [7, 129], bShape: [129] }),
  ];
  let allOk = true;
  for (const kc of cases) {
    const t0 = performance.now();
    const r = await checkKernel(exec, kc, 1);
    const ms = performance.now() - t0;
    allOk &&= r.ok;
    log(`${r.ok ? 'ok  ' : 'FAIL'} ${kc.program.label.padEnd(44)} ${ms.toFixed(1).padStart(8)} ms  max |err| ${r.maxAbsErr.toExponential(2)}`);
    if (!r.ok) log(r.report);
  }
  log(`${cases.length} kernels ran on the device and ${allOk ? 'all matched' : 'NOT all matched'} their CPU oracles; ${exec.pipelineCount} pipelines compiled.`);
  return allOk;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run a few real kernels on the WebGPU device and check them against CPU oracles')
    .action(async () => {
      const ok = await runKernelDemo((line) => process.stdout.write(line + '\n'));
      if (!ok) process.exitCode = 2;
    });
}
