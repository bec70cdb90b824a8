/**
 * How every long-running subcommand ends: on SIGINT or SIGTERM it closes what it runs, once (a
 * second signal while closing is ignored), and exits — 0 when the close went through, 1 when it
 * failed (the reason printed). The command may also end itself the same way (`stop`), e.g. when
 * it loses the store's lease.
 */

/** What a command does to close; resolves to the exit code (default 0). */
export type Close = (reason: string) => Promise<number | void>;

/** A command that runs until a signal. */
export interface Running {
  /** Closes as a signal would, then exits with `code` (or what the close resolves to). */
  stop(reason: string, code?: number): void;
}

/** Installs the SIGINT/SIGTERM handlers that close and exit; returns the handle to stop from inside. */
export function runUntilSignal(close: Close): Running {
  let closing = false;
  const stop = (reason: string, code?: number): void => {
    if (closing) return;
    closing = true;
    close(reason).then(
      (exit) => process.exit(code ?? exit ?? 0),
      (err: unknown) => {
        process.stderr.write(`error while stopping: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stop(signal));
  return { stop };
}
