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
  // Answers ready in one turn go back in one message (see Request in sqlite-thread.ts).
  let replies: Reply[] = [];
  const reply = (r: Reply) => {
    if (replies.length === 0) setImmediate(() => {
      const ready = replies;
      replies = [];
      parentPort!.postMessage(ready);
    });
    replies.push(r);
  };
  parentPort!.on('message', (requests: Request[]) => {
    for (const req of requests) {
      let answer: Promise<unknown>;
      try {
        // writeWindows arrives packed, in shared memory (see SqliteStore's constructor)
        const args = req.method === 'writeWindows' ? [new PackedWindows(req.args[0] as PackedWindowsData)] : (buffers(req.args) as unknown[]);
        answer = store[req.method](...args);
      } catch (err) {
        answer = Promise.reject(err);
      }
      answer.then(
        (value) => reply({ id: req.id, value }),
        (err: Error) => reply({ id: req.id, error: { code: err instanceof ShadowplaneError ? err.code : undefined, message: err.message } }),
      );
    }
  });
}
