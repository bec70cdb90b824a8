/**
 * Rolling up the ingest stream's partitions this replica holds (see stream.ts for the stream and
 * store/partitions.ts for the leases). Per held partition: a rollup engine of its own, restored
 * from the stored open windows of the partition's targets, and a reader from the partition's
 * high-water mark + 1. Every flush interval each partition writes its windows and its new mark
 * (the last sequence applied) in one fenced transaction, so:
 *
 * - a replica that dies loses nothing acknowledged: whoever takes its partitions restores the
 *   windows as of the mark and replays the stream from there;
 * - nothing is counted twice: the windows stored always hold exactly the events up to the mark;
 * - a replica that lost a partition (its hold expired and another took it) writes nothing more.
 *
 * A partition's windows close on the stream's time, not the wall clock's: while its reader is
 * behind, its engine's clock reads the time the last message applied was stored (and
 * CLOSE_MARGIN_MS less), so a window is cut and merged into its parent only after every event
 * accepted for it has been applied, however far behind the reader is (a takeover's replay, a
 * burst).
 */
import { repeat, type Clock } from '../core/clock.js';
import type { Logger } from '../obs/log.js';
import type { PartitionHold, PartitionLeases } from '../store/partitions.js';
import { PartitionLostError } from '../store/partitions.js';
import type { PostgresStore } from '../store/postgres.js';
import { RollupEngine, type RollupOptions } from '../store/rollup.js';
import type { WindowRow } from '../store/window.js';
import { rollUp, type IngestStream, type PartitionReader } from './stream.js';

/**
 * How much later than the stream's time a window closes: a request's messages may still be on
 * their way to the stream when the window's lateness runs out (JetStream acknowledges a publish
 * within seconds or the request fails).
 */
const CLOSE_MARGIN_MS = 10_000;

/** What the partitions' rollups need. */
export interface PartitionedIngestOptions {
  stream: IngestStream;
  leases: PartitionLeases;
  store: Pick<PostgresStore, 'writeWindowsWith' | 'loadOpenWindows'>;
  rollup: RollupOptions;
  clock: Clock;
  flushMs: number;
  /** How long a hold lasts without renewal, ms; heartbeats come five times within it. */
  leaseMs: number;
  log: Logger;
}

/** A partition this replica holds. */
interface Held {
  readonly hold: PartitionHold;
  readonly engine: RollupEngine;
  reader?: PartitionReader;
  /** The last stream sequence added to the engine. */
  applied: number;
  /** The stream's time for the engine: when the last message applied was stored, or Infinity while the reader has caught up. */
  readonly pace: { until: number };
  flushing: Promise<void>;
  gone: boolean;
}

/** The partitions of the ingest stream held by this replica, balanced with the others through the store. */
export class PartitionedIngest {
  private readonly held = new Map<number, Held>();
  /** Cancel functions of the next heartbeat and flush. */
  private readonly timers = new Map<string, () => void>();
  private balancing: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly o: PartitionedIngestOptions) {}

  /** Starts heartbeats (each rebalances) and flushes. */
  start(): void {
    this.every('heartbeat', Math.max(100, Math.floor(this.o.leaseMs / 5)), () => this.balance());
    this.every('flush', this.o.flushMs, () => this.flush());
  }

  /** Partitions held now, ascending. */
  partitions(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  /** Open windows of `target` at the finest granularity, when its partition is held here. */
  openRows(target: string): WindowRow[] {
    return this.held.get(this.o.stream.partitionOf(target))?.engine.openRows(target) ?? [];
  }

  /**
   * One heartbeat: renews the holds still assigned here, releases the others (after a last
   * flush), takes the assigned partitions that are free or expired. Never overlaps itself.
   */
  balance(): Promise<void> {
    const run = this.balancing.catch(() => undefined).then(async () => {
      if (this.stopped) return;
      const mine = await this.o.leases.heartbeat();
      for (const h of [...this.held.values()]) {
        if (!mine.has(h.hold.partition)) await this.release(h);
        else if (!(await this.o.leases.renew(h.hold))) await this.drop(h, 'its hold expired and another replica took it');
      }
      const holds: PartitionHold[] = [];
      for (const k of mine) {
        if (this.held.has(k)) continue;
        const hold = await this.o.leases.take(k);
        if (hold) holds.push(hold);
      }
      if (holds.length > 0) await this.open(holds);
    });
    this.balancing = run;
    return run;
  }

  /** Flushes every held partition; rejects with the first failure after trying them all. */
  async flush(): Promise<void> {
    const results = await Promise.allSettled([...this.held.values()].map((h) => this.flushOne(h)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /** Stops heartbeats, flushes and releases every partition, and leaves the members. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const cancel of this.timers.values()) cancel();
    await this.balancing.catch(() => undefined);
    for (const h of [...this.held.values()]) await this.release(h).catch((err: Error) => this.o.log.error({ partition: h.hold.partition, err: err.message }, 'could not hand an ingest partition over: the next holder replays it from its mark'));
    await this.o.leases.close();
  }

  /** Restores the taken partitions' open windows (one read of the store for all) and starts their readers. */
  private async open(holds: PartitionHold[]): Promise<void> {
    const rows = await this.o.store.loadOpenWindows();
    for (const hold of holds) {
      const k = hold.partition;
      const last = await this.o.stream.lastSequence(k);
      // With messages to replay, no window closes before the first of them is applied.
      const pace = { until: last > hold.mark ? -Infinity : Infinity };
      const wall = this.o.clock;
      const clock: Clock = {
        now: () => Math.min(wall.now(), pace.until) - CLOSE_MARGIN_MS,
        monotonic: () => wall.monotonic(),
        setTimer: (ms, fn, opts) => wall.setTimer(ms, fn, opts),
      };
      const engine = new RollupEngine(this.o.rollup, clock);
      engine.restore(rows.filter((r) => this.o.stream.partitionOf(r.target) === k));
      const h: Held = { hold, engine, applied: hold.mark, pace, flushing: Promise.resolve(), gone: false };
      this.held.set(k, h);
      h.reader = await this.o.stream.read(k, hold.mark + 1, (items, seq, storedAt, pending) => {
        rollUp(engine, items);
        h.applied = seq;
        pace.until = pending === 0 ? Infinity : storedAt;
      }, (err) => {
        // Unrenewed, the hold expires and a heartbeat takes the partition again from its mark.
        this.o.log.error({ partition: k, err: err.message }, 'reading an ingest partition failed');
        void this.drop(h, 'reading it failed');
      });
      this.o.log.info({ partition: k, mark: hold.mark, token: hold.token, replay: Math.max(0, last - hold.mark) }, 'took an ingest partition');
    }
  }

  /** Writes the partition's windows and its mark in one fenced transaction. Flushes of one partition never overlap. */
  private flushOne(h: Held): Promise<void> {
    const run = h.flushing.catch(() => undefined).then(async () => {
      if (h.gone) return;
      const batch = h.engine.takeFlush();
      const mark = h.applied;
      if (batch.rows.length === 0 && mark === h.hold.mark) return batch.done();
      try {
        await this.o.store.writeWindowsWith(batch.rows, (tx) => this.o.leases.fence(tx, h.hold, mark));
        batch.done();
        h.hold.mark = mark;
      } catch (err) {
        batch.failed();
        if (err instanceof PartitionLostError) await this.drop(h, 'another replica holds it');
        throw err;
      }
    });
    h.flushing = run;
    return run;
  }

  /** Stops reading, writes what was read, and gives the partition up. */
  private async release(h: Held): Promise<void> {
    await h.reader?.stop();
    await this.flushOne(h);
    h.gone = true;
    this.held.delete(h.hold.partition);
    await this.o.leases.release(h.hold);
    this.o.log.info({ partition: h.hold.partition, mark: h.hold.mark }, 'released an ingest partition');
  }

  /** Forgets a partition this replica no longer holds, writing nothing. */
  private async drop(h: Held, why: string): Promise<void> {
    h.gone = true;
    this.held.delete(h.hold.partition);
    await h.reader?.stop();
    this.o.log.warn({ partition: h.hold.partition }, `dropped an ingest partition: ${why}`);
  }

  private every(name: string, ms: number, job: () => Promise<unknown>): void {
    const failed = (err: Error) => this.o.log.error({ job: name, err: err.message }, 'ingest partitions: background job failed');
    this.timers.set(name, repeat(this.o.clock, ms, job, failed, () => !this.stopped));
  }

}
