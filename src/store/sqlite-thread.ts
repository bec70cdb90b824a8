/**
 * The SQLite store's threads. better-sqlite3 runs every statement synchronously, so a flush of a
 * fleet's windows (hundreds of thousands of rows in one transaction) on the main thread stalls
 * every API call and loop for as long as it writes, and so do a fleet's loops reading their
 * windows. A SqliteThread is a worker thread owning a connection of its own: the main thread posts
 * a call (method name and arguments) and awaits its answer, so ingest and the API go on while
 * SQLite works. The store runs two: the writer, which runs writes one at a time in the order they
 * were posted, and a reader, which WAL lets read while the writer writes.
 */
import type { Worker } from 'node:worker_threads';
import { ShadowplaneError, type ErrorCode } from '../core/errors.js';
import { startModuleWorker } from '../core/worker.js';

/**
 * A call posted to the thread. Calls made in one turn of the event loop go in one message (an
 * array), and so do the answers ready in one turn of the thread's: a fleet's loops make tens of
 * thousands of small store calls, and each message costs more to post than most calls take to run.
 */
export interface Request {
  id: number;
  method: string;
  args: unknown[];
}

/** The thread's answer to a call. */
export interface Reply {
  id: number;
  value?: unknown;
  error?: { code?: string; message: string };
}

/** The thread's own module: built sqlite-worker.js, or sqlite-worker.ts from source (under tsx). */
const WORKER = new URL(`./sqlite-worker.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url).href;

/** The main thread's handle on one worker thread with a connection to one SQLite file. */
export class SqliteThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  private nextId = 1;
  /** Set once the thread has died: every later call fails with it. */
  private dead: Error | undefined;
  /** Calls made this turn, posted together on the next (see Request). */
  private outbox: Request[] = [];

  /** Starts the thread; it opens `path`. */
  constructor(path: string) {
    this.worker = startModuleWorker(WORKER, { shadowplaneSqliteWriter: path });
    // The thread keeps the process alive only while a write is pending (see call()).
    this.worker.unref();
    this.worker.on('message', (replies: Reply[]) => {
      for (const reply of replies) this.settle(reply);
    });
    this.worker.on('error', (err) => this.die(err));
    this.worker.on('exit', (code) => this.die(new Error(`a SQLite thread exited (code ${code})`)));
  }

  /**
   * Runs `method` of the thread's SqliteStore with `args`; resolves with its result. Calls run in
   * the order they are made (posted together with the others of the same turn).
   */
  call(method: string, args: unknown[]): Promise<unknown> {
    if (this.dead) return Promise.reject(unavailable(this.dead));
    const id = this.nextId++;
    if (this.pending.size === 0) this.worker.ref();
    if (this.outbox.length === 0) setImmediate(() => this.post());
    this.outbox.push({ id, method, args });
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  private post(): void {
    const requests = this.outbox;
    this.outbox = [];
    if (this.dead) return;
    try {
      this.worker.postMessage(requests);
    } catch (err) {
      // A call's arguments the thread cannot be given (not cloneable): those calls fail, not the thread.
      for (const r of requests) {
        const call = this.pending.get(r.id);
        this.pending.delete(r.id);
        call?.reject(err as Error);
      }
      if (this.pending.size === 0) this.worker.unref();
    }
  }

  /** Closes the thread's connection and ends the thread. */
  async close(): Promise<void> {
    if (this.dead) return;
    await this.call('close', []);
    this.dead = new Error('the store is closed');
    await this.worker.terminate();
  }

  private settle(reply: Reply): void {
    const call = this.pending.get(reply.id);
    if (!call) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if (!reply.error) call.resolve(buffers(reply.value));
    else if (reply.error.code) call.reject(new ShadowplaneError(reply.error.code as ErrorCode, reply.error.message));
    else call.reject(new Error(reply.error.message));
  }

  private die(err: Error): void {
    this.dead ??= err;
    for (const call of this.pending.values()) call.reject(unavailable(err));
    this.pending.clear();
  }
}

function unavailable(err: Error): ShadowplaneError {
  return new ShadowplaneError('SHADOWPLANE_ERR_STORE_UNAVAILABLE', `SQLite thread: ${err.message}`);
}

/** Structured clone turns Buffers into plain Uint8Arrays; better-sqlite3 binds only Buffers, and callers expect Buffers back. */
export function buffers(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = buffers(value[i]);
    return value;
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const v = record[key];
      if (v !== null && typeof v === 'object') record[key] = buffers(v);
    }
  }
  return value;
}
