// `sdmoec opt`: placeholder until its issue lands; it refuses to run rather than pretend.
import type { Command } from 'commander';
import { UserError } from '../errors.ts';

export function registerOpt(program: Command): void {
  program
    .command('opt')
    .description('(opt: not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new UserError('sdmoec opt is not implemented yet');
    });
}
