// `sdmoec test`: placeholder until its issue lands; it refuses to run rather than pretend.
import type { Command } from 'commander';
import { UserError } from '../errors.ts';

export function registerTest(program: Command): void {
  program
    .command('test')
    .description('(test: not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new UserError('sdmoec test is not implemented yet');
    });
}
