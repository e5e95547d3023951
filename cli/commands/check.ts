// `sdmoec check`: placeholder until its issue lands; it refuses to run rather than pretend.
import type { Command } from 'commander';
import { UserError } from '../errors.ts';

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('(check: not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new UserError('sdmoec check is not implemented yet');
    });
}
