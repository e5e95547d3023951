// `sdmoec demo`: placeholder until its issue lands; it refuses to run rather than pretend.
import type { Command } from 'commander';
import { UserError } from '../errors.ts';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('(demo: not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new UserError('sdmoec demo is not implemented yet');
    });
}
