/**
 * Replication to a partition's standby: creating a shadow replica at the committed offset, handing
 * it new records as they are appended (off the append path, in bounded memory), backfilling from
 * the primary when it lags, and waiting until it holds every record before a switch-over.
 */
import { sleep, type Clock } from '../../core/clock.js';
import { logger } from '../../obs/log.js';
import type { Dispatcher } from './dispatch.js';
import type { ReplicaLog, StoredRecord } from './log.js';
import type { Partition, Standby } from './state.js';
import type { StreamEvents } from './telemetry.js';

const log = logger('stream');

/** What a Replicator works with. */
export interface ReplicationDeps {
  readonly log: ReplicaLog;
  readonly clock: Clock;
  readonly dispatch: Dispatcher;
  readonly events: StreamEvents;
  /** Records held in memory per standby before it falls back to reading the primary. */
  readonly buffer: number;
  readonly stopping: () => boolean;
}

/** Keeps each partition's standby in step with its primary. */
export class Replicator {
  constructor(private readonly deps: ReplicationDeps) {}

  /** Allocates a new shadow replica of `p` on `worker`, starting at the committed offset; `fill` starts filling it. */
  async createShadow(p: Partition, worker: number): Promise<Standby> {
    const requestedAt = this.deps.clock.now();
    const replica = `p${p.id}-r${++p.replicaSeq}`;
    const base = p.committed;
    await this.deps.log.drop(replica);
    await this.deps.log.create(replica, base);
    const s: Standby = { replica, worker, role: 'shadow', since: this.deps.clock.now(), requestedAt, end: base, pending: [], copying: false };
    p.standby = s;
    return s;
  }

  /** Passes newly appended records to the standby's copier (never awaited by the producer). */
  handOver(p: Partition, records: StoredRecord[]): void {
    const s = p.standby;
    if (!s) return;
    // Bounded memory: past the buffer the copier reads the missing range back from the primary.
    if (s.pending.length + records.length <= this.deps.buffer) s.pending.push(...records);
    void this.copy(p, s);
  }

  /** Resolves once standby `s` holds every record of `p` (call inside the partition's queue, so none is appended meanwhile). */
  async catchUp(p: Partition, s: Standby): Promise<void> {
    while (s.end < p.end) {
      await this.copy(p, s);
      if (s.end < p.end) await sleep(this.deps.clock, 2);
    }
  }

  /** Starts filling standby `s` of `p` (a no-op while it is being filled). */
  fill(p: Partition, s: Standby): void {
    void this.copy(p, s);
  }

  private async copy(p: Partition, s: Standby): Promise<void> {
    if (s.copying) return;
    s.copying = true;
    try {
      while (p.standby === s && s.end < p.end) {
        while (s.pending.length && s.pending[0].offset < s.end) s.pending.shift();
        let batch: StoredRecord[];
        if (s.pending.length && s.pending[0].offset === s.end) batch = s.pending.splice(0, 1024);
        else batch = await this.deps.dispatch.readPrimary(p, s.end, 1024);
        if (batch.length === 0) break;
        await this.deps.log.append(s.replica, batch);
        s.end += batch.length;
      }
      if (p.standby === s && s.end === p.end && s.caughtUpAt === undefined) {
        s.caughtUpAt = this.deps.clock.now();
        this.deps.events.emit({ kind: 'caught-up', partition: p.id, worker: s.worker, evidence: { offset: s.end, tookMs: s.caughtUpAt - s.requestedAt } });
      }
    } catch (err) {
      log.error({ err, partition: p.id }, 'stream replication failed; retrying on the next append');
    } finally {
      s.copying = false;
    }
    if (p.standby === s && s.end < p.end && !this.deps.stopping()) setImmediate(() => void this.copy(p, s));
  }
}
