/**
 * The PostgreSQL writer thread's own side (pg-writer.ts starts it): a PostgresStore writing on
 * this thread, running the writes the main thread posts one at a time, in the order posted, and
 * posting back each answer or error.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ShadowplaneError } from '../core/errors.js';
import type { WriteReply, WriteRequest, WriterData } from './pg-writer.js';
import { PostgresStore } from './postgres.js';

const data = (workerData as Partial<WriterData> | null)?.shadowplanePgWriter;
if (!isMainThread && data !== undefined) {
  const store = new PostgresStore({ url: data.url, schema: data.schema, writer: 'inline' });
  let queue: Promise<unknown> = Promise.resolve();
  parentPort!.on('message', (req: WriteRequest) => {
    queue = queue.then(async () => {
      try {
        if (req.close) await store.close();
        else await store.writePackedFenced(req.rows!, req.token);
        parentPort!.postMessage({ id: req.id } satisfies WriteReply);
      } catch (err) {
        const error = { code: err instanceof ShadowplaneError ? err.code : undefined, message: (err as Error).message };
        parentPort!.postMessage({ id: req.id, error } satisfies WriteReply);
      }
    });
  });
}
