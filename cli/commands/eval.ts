// `sdmoec eval`: placeholder until its issue lands; it refuses to run rather than pretend.
import type { Command } from 'commander';
import { UserError } from '../errors.ts';

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('(eval: not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new UserError('sdmoec eval is not implemented yet');
    });
}
