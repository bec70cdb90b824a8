/**
 * Dispatch and the commit fence: hands each partition's records to its owner within an in-flight
 * window, and accepts a commit only from the current owner, under the current epoch, starting
 * exactly at the committed offset (see the service's module comment for why that is exactly-once).
 */
import type { Clock } from '../../core/clock.js';
import { logger } from '../../obs/log.js';
import type { ReplicaLog, StoredRecord } from './log.js';
import type { FromWorker, WireRecord } from './protocol.js';
import type { Partition, Routing } from './state.js';
import type { WorkerPool } from './supervisor.js';

const log = logger('stream');

/** What a Dispatcher works with. */
export interface DispatchDeps {
  readonly log: ReplicaLog;
  readonly routing: Routing;
  readonly pool: WorkerPool;
  readonly clock: Clock;
  /** Records dispatched and not yet committed, per partition. */
  readonly maxInflight: number;
  /** True once the service is stopping: no more dispatch rounds or persistence retries. */
  readonly stopping: () => boolean;
  /** Called with each accepted commit's records, in offset order. */
  readonly onDeliver?: (partition: number, records: readonly WireRecord[]) => void;
}

/** Feeds owners and fences commits. */
export class Dispatcher {
  /** Commits refused by the fence (stale epoch, old owner, wrong offset), since start. */
  fenced = 0;

  constructor(private readonly deps: DispatchDeps) {}

  /** Up to `max` stored records of the partition from offset `from`: from memory when still there, else from the primary replica. */
  readPrimary(p: Partition, from: number, max: number): Promise<StoredRecord[]> {
    if (from >= p.tailBase && from < p.tailBase + p.tail.length) return Promise.resolve(p.tail.slice(from - p.tailBase, from - p.tailBase + max));
    return this.deps.log.read(p.primary, from, max);
  }

  /** Sends the owner as many records as the in-flight window allows; never runs twice at once. */
  feed(p: Partition): void {
    if (p.feeding) {
      p.feedAgain = true;
      return;
    }
    p.feeding = true;
    void (async () => {
      try {
        do {
          p.feedAgain = false;
          const epoch = p.epoch;
          const owner = this.deps.routing.ownerOf(p.id);
          const room = this.deps.maxInflight - p.inflight.length;
          if (room <= 0 || p.dispatched >= p.end || !this.deps.pool.alive(owner)) continue;
          const from = p.dispatched;
          const batch = await this.readPrimary(p, from, Math.min(room, 256));
          // An ownership change while reading makes this batch stale: the new owner restarts at committed.
          if (epoch !== p.epoch || from !== p.dispatched || batch.length === 0) { p.feedAgain = true; continue; }
          p.inflight.push(...batch);
          p.dispatched += batch.length;
          this.deps.pool.send(owner, { t: 'records', partition: p.id, epoch, records: batch });
          p.feedAgain = p.dispatched < p.end && p.inflight.length < this.deps.maxInflight;
        } while (p.feedAgain && !this.deps.stopping());
      } catch (err) {
        log.error({ err, partition: p.id }, 'stream dispatch failed; retrying on the next append or window');
      } finally {
        p.feeding = false;
      }
    })();
  }

  /** Gives `p` to `worker` under a new epoch, restarting dispatch at the committed offset. */
  async reassign(p: Partition, worker: number): Promise<void> {
    p.epoch++;
    await this.deps.log.setMeta(`epoch.${p.id}`, p.epoch);
    p.inflight = [];
    p.dispatched = p.committed;
    this.deps.pool.send(worker, { t: 'assign', partition: p.id, epoch: p.epoch });
    this.feed(p);
  }

  /** Accepts or fences a worker's commit of partition `p` (undefined for an unknown partition). */
  commit(p: Partition | undefined, worker: number, msg: Extract<FromWorker, { t: 'commit' }>): void {
    const n = msg.ids.length;
    if (!p || msg.epoch !== p.epoch || this.deps.routing.ownerOf(p.id) !== worker || msg.from !== p.committed || n === 0 || n > p.inflight.length
      || p.inflight[0].offset !== msg.from || p.inflight[n - 1].id !== msg.ids[n - 1]) {
      this.fenced++;
      return;
    }
    const done = p.inflight.splice(0, n);
    p.committed += n;
    p.commits += n;
    const now = this.deps.clock.now();
    for (const r of done) p.lags.push(now - r.at);
    this.deps.onDeliver?.(p.id, done);
    this.persistCommitted(p);
    this.feed(p);
  }

  /** Writes the committed offset, coalescing: at most one write in flight per partition. */
  private persistCommitted(p: Partition): void {
    if (p.persisting) return;
    p.persisting = true;
    const value = p.committed;
    this.deps.log.setMeta(`committed.${p.id}`, value).catch((err: unknown) => log.error({ err }, 'stream commit persist failed')).finally(() => {
      p.persisting = false;
      if (p.committed !== value && !this.deps.stopping()) this.persistCommitted(p);
    });
  }
}
