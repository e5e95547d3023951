// `sdmoec run`: placeholder until its issue lands; it refuses to run rather than pretend.
import type { Command } from 'commander';
import { UserError } from '../errors.ts';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('(run: not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new UserError('sdmoec run is not implemented yet');
    });
}
