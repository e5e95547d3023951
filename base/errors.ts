// Error classes that decide the process exit code (a leaf module: every layer may throw them): a user's mistake exits 1 with a message and
// no stack trace, anything else is our bug and exits 2 (stack shown with SDMOEC_DEBUG=1).

/** A mistake in the user's input (bad file, bad flag, impossible config). Exit code 1. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/**
 * A broken compiler invariant: the compiler produced something its own later stage cannot take.
 * Never the user's fault, so it exits 2 like any other internal error (stack with SDMOEC_DEBUG=1);
 * the class only names the kind of bug in the message.
 */
export class InternalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InternalError';
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
