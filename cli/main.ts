// The `sdmoec` command line: one file per subcommand under cli/commands. Only the module of the
// subcommand being run is loaded (all of them for --help), so a command starts fast and a problem
// in one stage's code cannot break an unrelated command.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { reportError, EXIT_USER } from '../base/errors.ts';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

type Register = (program: Command) => void;
const COMMANDS: Record<string, () => Promise<Register>> = {
  check: async () => (await import('./commands/check.ts')).registerCheck,
  compile: async () => (await import('./commands/compile.ts')).registerCompile,
  opt: async () => (await import('./commands/opt.ts')).registerOpt,
  run: async () => (await import('./commands/run.ts')).registerRun,
  eval: async () => (await import('./commands/eval.ts')).registerEval,
  analyze: async () => (await import('./commands/analyze.ts')).registerAnalyze,
  test: async () => (await import('./commands/test.ts')).registerTest,
  demo: async () => (await import('./commands/demo.ts')).registerDemo,
  experiment: async () => (await import('./commands/experiment.ts')).registerExperiment,
  sample: async () => (await import('./commands/sample.ts')).registerSample,
  export: async () => (await import('./commands/export.ts')).registerExport,
  import: async () => (await import('./commands/import.ts')).registerImport,
};

export async function buildProgram(argv: readonly string[] = process.argv): Promise<Command> {
  const program = new Command('sdmoec')
    .description('Compiler and WebGPU runtime for Spectral-Decoupled Mixture-of-Experts models')
    .version(pkg.version, '-V, --version')
    .option('--adapter <name>', 'use the WebGPU adapter whose name contains <name> (same as SDMOEC_ADAPTER)')
    .option('--print-adapter', 'print the adapter name and the optional features in use')
    .showHelpAfterError()
    .exitOverride()
    .hook('preAction', (cmd) => {
      const o = cmd.opts<{ adapter?: string; printAdapter?: boolean }>();
      if (o.adapter) process.env.SDMOEC_ADAPTER = o.adapter;
      if (o.printAdapter) process.env.SDMOEC_PRINT_ADAPTER = '1';
    });
  const requested = argv[2];
  const names = requested && requested in COMMANDS ? [requested] : Object.keys(COMMANDS);
  for (const name of names) (await COMMANDS[name]())(program);
  return program;
}

async function main(): Promise<void> {
  try {
    await (await buildProgram()).parseAsync(process.argv);
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
