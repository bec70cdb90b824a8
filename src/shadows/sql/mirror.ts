/**
 * Feeds a shadow PostgreSQL with a sample of the primary's traffic: a rate-limited
 * share of writes (default 1 %) and a share of reads, replayed on the shadow through its own
 * connections. The proxy hands queries over without waiting; they wait in a bounded queue, and
 * whatever does not fit is dropped and counted, so a slow or dead shadow never delays the primary.
 * Each replayed statement runs on its own (autocommit): transaction boundaries are not mirrored.
 * It also records the captured query mix (fingerprints and frequencies) for synthetic workloads.
 */
import pg from 'pg';
import { realClock, type Clock } from '../../core/clock.js';
import { sampleUnit } from '../../ingest/sampler.js';
import { logger } from '../../obs/log.js';
import type { StatementMeta } from './metadata.js';
import type { MirrorTap } from './proxy.js';
import type { KeptQuery } from './relay.js';
import { QueryMix } from './workload.js';

const log = logger('sql-mirror');

/** Settings of a ShadowMirror. */
export interface ShadowMirrorOptions {
  /** The shadow database, a postgres:// URL. */
  shadowUrl: string;
  /** Share of write statements replayed (default 0.01). */
  writeRate?: number;
  /** Share of read statements replayed (default 0.01). */
  readRate?: number;
  /** Most statements waiting (default 1000). */
  maxQueue?: number;
  /** Connections to the shadow (default 2). */
  connections?: number;
  /** Time source of the reconnect back-off; default the wall clock. */
  clock?: Clock;
}

/** Counters of a ShadowMirror. */
export interface MirrorStats {
  offered: number;
  queued: number;
  droppedFull: number;
  executed: number;
  failed: number;
  /** Times a shadow connection was (re)opened after a failure. */
  reconnects: number;
}

/** A MirrorTap that replays into a shadow database. Call start(), and stop() to end it. */
export class ShadowMirror implements MirrorTap {
  readonly stats: MirrorStats = { offered: 0, queued: 0, droppedFull: 0, executed: 0, failed: 0, reconnects: 0 };
  /** The captured mix of every statement selected for the shadow. */
  readonly mix = new QueryMix();
  private writeRate: number;
  private readRate: number;
  private readonly maxQueue: number;
  private readonly queue: { sql: string; params?: readonly (string | null)[] }[] = [];
  private readonly waiters: (() => void)[] = [];
  private running = false;
  private workers: Promise<void>[] = [];

  constructor(private readonly options: ShadowMirrorOptions) {
    this.writeRate = options.writeRate ?? 0.01;
    this.readRate = options.readRate ?? 0.01;
    this.maxQueue = options.maxQueue ?? 1000;
  }

  /** Changes the shares replayed from now on; each is clamped to [0, 1]. */
  setRates(rates: { writeRate?: number; readRate?: number }): void {
    if (rates.writeRate !== undefined) this.writeRate = Math.min(1, Math.max(0, rates.writeRate));
    if (rates.readRate !== undefined) this.readRate = Math.min(1, Math.max(0, rates.readRate));
  }

  /** The current shares. */
  rates(): { writeRate: number; readRate: number } {
    return { writeRate: this.writeRate, readRate: this.readRate };
  }

  maxRate(): number {
    return Math.max(this.writeRate, this.readRate);
  }

  /** Takes a query pre-selected at maxRate(); keeps it at the rate of its kind. Never blocks. */
  offer(query: KeptQuery, metas: readonly StatementMeta[]): void {
    const data = metas.filter((m) => m.op !== undefined);
    if (data.length === 0) return;
    const write = data.some((m) => m.op === 'write');
    // Same hash as the proxy's pre-selection, so the two rates nest exactly; a tap's windowed capture
    // pre-selected at rate / captureShare within its windows, so the share thins at that scale too.
    if (sampleUnit(`m:${query.requestId}`) >= (write ? this.writeRate : this.readRate) / (query.captureShare ?? 1)) return;
    this.stats.offered++;
    if (data.length === 1) this.mix.record(data[0]);
    if (this.queue.length >= this.maxQueue) { this.stats.droppedFull++; return; }
    this.queue.push({ sql: query.sql, params: query.params });
    this.stats.queued++;
    this.waiters.shift()?.();
  }

  /** Opens the shadow connections (lazily; a shadow that is down is retried, never awaited by offer). */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (let i = 0; i < (this.options.connections ?? 2); i++) this.workers.push(this.worker());
  }

  /** Stops the workers; statements still queued are discarded. */
  async stop(): Promise<void> {
    this.running = false;
    for (const w of this.waiters.splice(0)) w();
    await Promise.all(this.workers);
    this.workers = [];
  }

  /** Statements waiting. */
  queued(): number {
    return this.queue.length;
  }

  private async worker(): Promise<void> {
    let client: pg.Client | undefined;
    let backoff = 100;
    while (this.running) {
      if (!client) {
        const c = new pg.Client({ connectionString: this.options.shadowUrl, connectionTimeoutMillis: 2000 });
        c.on('error', () => undefined);
        try {
          await c.connect();
          client = c;
          backoff = 100;
        } catch (err) {
          this.stats.reconnects++;
          log.warn({ err: (err as Error).message }, 'shadow unreachable; retrying');
          await c.end().catch(() => undefined);
          // Woken early by stop() (or a new offer), so shutdown never waits out the back-off.
          await new Promise<void>((r) => {
            const cancel = (this.options.clock ?? realClock).setTimer(backoff, r);
            this.waiters.push(() => { cancel(); r(); });
          });
          backoff = Math.min(5000, backoff * 2);
          continue;
        }
      }
      const item = this.queue.shift();
      if (!item) { await new Promise<void>((r) => this.waiters.push(r)); continue; }
      try {
        await client.query({ text: item.sql, values: item.params ? [...item.params] : undefined });
        this.stats.executed++;
      } catch (err) {
        this.stats.failed++;
        // A broken connection is replaced; a statement error (missing row, constraint) is just counted.
        if ((err as { code?: string }).code === undefined) { await client.end().catch(() => undefined); client = undefined; }
      }
    }
    await client?.end().catch(() => undefined);
  }
}
