// `sdmoec compile`: placeholder until its issue lands; it refuses to run rather than pretend.
import type { Command } from 'commander';
import { UserError } from '../errors.ts';

export function registerCompile(program: Command): void {
  program
    .command('compile')
    .description('(compile: not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new UserError('sdmoec compile is not implemented yet');
    });
}
