/**
 * The PostgreSQL store's writer thread. A fleet's flush sends hundreds of megabytes of window
 * arrays: built, and written to the socket, on the main thread that took seconds of it per flush
 * (the socket writes alone were the largest share of a profiled 10,000-target run), and /healthz,
 * ingest and the API waited behind them. The main thread now packs the rows into one transferred
 * buffer (row-pack.ts, in time slices) and posts them; the thread, with connections of its own,
 * builds the statements and writes them.
 *
 * PgWriterThread is the main thread's side; the thread runs pg-writer-thread.ts.
 */
import type { Worker } from 'node:worker_threads';
import { ShadowplaneError, type ErrorCode } from '../core/errors.js';
import { startModuleWorker } from '../core/worker.js';
import type { PackedRows } from './row-pack.js';

/** What the thread is started with. */
export interface WriterData {
  shadowplanePgWriter: { url: string; schema: string };
}

/** A write posted to the thread: packed rows, fenced by the lease token when there is one. */
export interface WriteRequest {
  id: number;
  rows?: PackedRows;
  token?: string;
  /** Set on the last request: close the connections. */
  close?: true;
}

/** The thread's answer. */
export interface WriteReply {
  id: number;
  error?: { code?: string; message: string };
}

/** The thread's module, built or under tsx. */
const WORKER = new URL(`./pg-writer-thread.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url).href;

/** The main thread's handle on the writer thread. */
export class PgWriterThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(): void; reject(err: Error): void }>();
  private nextId = 1;
  /** Set once the thread has died: every later write fails with it. */
  private dead: Error | undefined;

  constructor(url: string, schema: string) {
    this.worker = startModuleWorker(WORKER, { shadowplanePgWriter: { url, schema } } satisfies WriterData);
    // The thread keeps the process alive only while a write is pending.
    this.worker.unref();
    this.worker.on('message', (reply: WriteReply) => this.settle(reply));
    this.worker.on('error', (err) => this.die(err));
    this.worker.on('exit', (code) => this.die(new Error(`the PostgreSQL writer thread exited (code ${code})`)));
  }

  /** Writes packed rows (their buffer moves to the thread) in one transaction, fenced by `token` when given. */
  write(rows: PackedRows, token: string | undefined): Promise<void> {
    return this.call({ id: this.nextId++, rows, token }, [rows.buffer]);
  }

  /** Waits for the writes posted, closes the thread's connections and ends it. */
  async close(): Promise<void> {
    if (this.dead) return;
    await this.call({ id: this.nextId++, close: true }, []);
    this.dead = new Error('the store is closed');
    await this.worker.terminate();
  }

  private call(req: WriteRequest, transfer: ArrayBuffer[]): Promise<void> {
    if (this.dead) return Promise.reject(unavailable(this.dead));
    if (this.pending.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(req.id, { resolve, reject });
      this.worker.postMessage(req, transfer);
    });
  }

  private settle(reply: WriteReply): void {
    const call = this.pending.get(reply.id);
    if (!call) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if (!reply.error) call.resolve();
    else if (reply.error.code) call.reject(new ShadowplaneError(reply.error.code as ErrorCode, reply.error.message));
    else call.reject(unavailable(new Error(reply.error.message)));
  }

  private die(err: Error): void {
    this.dead ??= err;
    for (const call of this.pending.values()) call.reject(unavailable(err));
    this.pending.clear();
  }
}

function unavailable(err: Error): ShadowplaneError {
  if (err instanceof ShadowplaneError) return err;
  return new ShadowplaneError('SHADOWPLANE_ERR_STORE_UNAVAILABLE', `PostgreSQL writer thread: ${err.message}`);
}
