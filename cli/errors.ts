// Error classes that decide the process exit code: a user's mistake exits 1 with a message and
// no stack trace, anything else is our bug and exits 2 (stack shown with SDMOEC_DEBUG=1).

/** A mistake in the user's input (bad file, bad flag, impossible config). Exit code 1. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

export const EXIT_OK = 0;
export const EXIT_USER = 1;
export const EXIT_INTERNAL = 2;

/** Print an error the way the CLI reports it and return the exit code it deserves. */
export function reportError(err: unknown): number {
  if (err instanceof UserError) {
    process.stderr.write(err.message.endsWith('\n') ? err.message : err.message + '\n');
    return EXIT_USER;
  }
  const e = err as Error;
  process.stderr.write(`sdmoec: internal error: ${e?.message ?? String(err)}\n`);
  if (process.env.SDMOEC_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  else process.stderr.write('(set SDMOEC_DEBUG=1 for a stack trace; please report this)\n');
  return EXIT_INTERNAL;
}
