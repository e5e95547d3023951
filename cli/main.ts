// The `sdmoec` command line: one file per subcommand under cli/commands, wired here.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { reportError, EXIT_USER } from './errors.ts';
import { registerCheck } from './commands/check.ts';
import { registerCompile } from './commands/compile.ts';
import { registerOpt } from './commands/opt.ts';
import { registerRun } from './commands/run.ts';
import { registerEval } from './commands/eval.ts';
import { registerTest } from './commands/test.ts';
import { registerDemo } from './commands/demo.ts';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('sdmoec')
    .description('Compiler and WebGPU runtime for Spectral-Decoupled Mixture-of-Experts models')
    .version(pkg.version, '-V, --version')
    .showHelpAfterError()
    .exitOverride();
  registerCheck(program);
  registerCompile(program);
  registerOpt(program);
  registerRun(program);
  registerEval(program);
  registerTest(program);
  registerDemo(program);
  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    const code = (err as { code?: string; exitCode?: number }).code;
    if (typeof code === 'string' && code.startsWith('commander.')) {
      // commander already printed help/version/usage errors
      process.exitCode = (err as { exitCode: number }).exitCode === 0 ? 0 : EXIT_USER;
      return;
    }
    process.exitCode = reportError(err);
  }
}

await main();
