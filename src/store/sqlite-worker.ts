/**
 * A SQLite thread's own side (sqlite-thread.ts starts it): a SqliteStore on its own connection,
 * running the calls the main thread posts, one at a time, and posting back each answer or error.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ShadowplaneError } from '../core/errors.js';
import { PackedWindows, type PackedWindowsData } from './row-pack.js';
import { SqliteStore } from './sqlite.js';
import { buffers, type Reply, type Request } from './sqlite-thread.js';

const path = (workerData as { shadowplaneSqliteWriter?: string } | null)?.shadowplaneSqliteWriter;
if (!isMainThread && path !== undefined) {
  const store = new SqliteStore(path, { mode: 'inline' }) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  parentPort!.on('message', (req: Request) => {
    let answer: Promise<unknown>;
    try {
      // writeWindows arrives packed, in shared memory (see SqliteStore's constructor)
      const args = req.method === 'writeWindows' ? [new PackedWindows(req.args[0] as PackedWindowsData)] : (buffers(req.args) as unknown[]);
      answer = store[req.method](...args);
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer.then(
      (value) => parentPort!.postMessage({ id: req.id, value } satisfies Reply),
      (err: Error) => {
        const error = { code: err instanceof ShadowplaneError ? err.code : undefined, message: err.message };
        parentPort!.postMessage({ id: req.id, error } satisfies Reply);
      },
    );
  });
}
