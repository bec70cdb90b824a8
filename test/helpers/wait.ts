/** Waiting in tests: for a free port, and for asynchronous effects (deadlines, never timing assertions). */
import net, { type AddressInfo } from 'node:net';

/** A TCP port free at the time of asking (bound on 127.0.0.1, then released). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Polls `read` every 20 ms until it gives something other than undefined or false, and returns
 * it. After `ms` it throws naming `what` and the last error `read` threw (a process still
 * starting refuses connections, so errors count as "not yet").
 */
export async function waitFor<T>(what: string, read: () => T | undefined | false | Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await read();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** waitFor for a condition. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  await waitFor(what, cond, ms);
}
