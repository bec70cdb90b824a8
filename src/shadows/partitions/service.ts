/**
 * The partitioned stream service: producers append keyed records, a consistent-hash ring maps
 * key → partition, a routing table maps partition → worker, and worker *processes* consume their
 * partitions at a fixed capacity and ask for commits.
 *
 * Exactly-once delivery: a record counts as delivered only when its commit is accepted, and a
 * commit is accepted only if it comes from the partition's current owner, carries the current
 * epoch and starts exactly at the committed offset. Ownership changes (switch-over, worker death)
 * bump the epoch and restart dispatch at the committed offset, so records a revoked or dead worker
 * had in hand are redelivered to the new owner and its stale commits are refused: the
 * (partition, offset) sequence is the dedupe key. Per-key order follows because a key lives in one
 * partition and a partition is consumed by one owner at a time, in offset order.
 *
 * Shadows: a *standby* replica of a partition on another worker is fed by replication from the
 * primary (new records are handed over as they are appended; a lagging standby backfills by
 * reading the primary), off the append path. A switch-over waits (inside the partition's append
 * queue, so no append interleaves) until the standby holds every record, then swaps primary and
 * standby and replaces the routing table in one assignment.
 *
 * Worker death: the dead worker's partitions are fenced at once and failed over to live workers
 * while a replacement process starts — to the partition's standby when its worker can take the
 * load (a switch-over like a planned one), else to the live worker with the most headroom, from the
 * committed offset. The replacement joins as spare capacity; it is waited for only by partitions
 * no live worker may take (pinned ones, or every other worker forbidden or dead).
 */
import { randomUUID } from 'node:crypto';
import { realClock, type Clock } from '../../core/clock.js';
import { ShadowplaneError } from '../../core/errors.js';
import { logger } from '../../obs/log.js';
import { Dispatcher } from './dispatch.js';
import type { ReplicaLog, StoredRecord } from './log.js';
import { placeFailover } from './policy.js';
import type { WireRecord } from './protocol.js';
import { Replicator } from './replication.js';
import { HashRing } from './ring.js';
import { enqueue, Routing, type Partition, type RoutingTable, type Standby } from './state.js';
import { WorkerPool } from './supervisor.js';
import { StreamEvents, WindowMeter, type PartitionWindow, type StreamEvent } from './telemetry.js';

export type { RoutingTable } from './state.js';
export { timelineReport, type PartitionWindow, type StreamEvent } from './telemetry.js';

const log = logger('stream');

/** Options of a StreamService. */
export interface StreamServiceOptions {
  /** Storage for partition replicas and committed offsets. */
  readonly log: ReplicaLog;
  /** Number of partitions (fixed for the service's life). */
  readonly partitions: number;
  /** Number of worker processes. */
  readonly workers: number;
  /** Records per second each worker can process. */
  readonly capacity: number;
  /** Virtual nodes per partition on the hash ring, default 128. */
  readonly vnodes?: number;
  /** Telemetry/control window, default 10 s. */
  readonly windowMs?: number;
  /** Records dispatched to a worker and not yet committed, per partition; default 512. */
  readonly maxInflight?: number;
  /**
   * Latest appended records kept in memory per partition for dispatch and backfill (between this
   * and twice this); older ones are read from storage. Default 4096.
   */
  readonly dispatchCache?: number;
  /**
   * When a worker dies, its partition goes to the partition's standby if the standby's worker
   * (by last window's offered load) would carry it within this utilisation; default 0.9.
   */
  readonly failoverUtilisation?: number;
  /** Records held in memory for replication before a standby falls back to reading the primary; default 10 000. */
  readonly replicationBuffer?: number;
  /** Time source for windows and events; default the wall clock. */
  readonly clock?: Clock;
  /** Called with each accepted commit's records, in offset order (the consumer's output). */
  readonly onDeliver?: (partition: number, records: readonly WireRecord[]) => void;
}

/** A record offered by a producer; `id` defaults to a random UUID. */
export interface AppendInput {
  readonly key: string;
  readonly value: string;
  readonly id?: string;
}

/** Where an appended record went. */
export interface AppendResult {
  readonly id: string;
  readonly partition: number;
  readonly offset: number;
}

/** A second replica of a partition: a shadow being built, or the former primary kept after a switch. */
export interface StandbyView {
  readonly replica: string;
  readonly worker: number;
  readonly role: 'shadow' | 'former';
  /** When it was created (or became the former primary). */
  readonly since: number;
  /** When it first held every record of the primary; undefined while backfilling. */
  readonly caughtUpAt?: number;
  /** Records it still lacks. */
  readonly behind: number;
}

/** The externally visible state of a partition. */
export interface PartitionView {
  readonly partition: number;
  readonly worker: number;
  readonly epoch: number;
  readonly primary: string;
  readonly end: number;
  readonly committed: number;
  readonly standby?: StandbyView;
  readonly pinned: boolean;
  readonly forbidden: readonly number[];
}

/**
 * The running service: composes worker supervision (`supervisor.ts`), dispatch and the commit
 * fence (`dispatch.ts`), replication (`replication.ts`) and telemetry (`telemetry.ts`), and owns
 * the ownership moves (switch-over, failover) and the operator's controls. Create with
 * `StreamService.start`; always `stop()` it (it owns child processes).
 */
export class StreamService {
  readonly ring: HashRing;
  readonly capacity: number;
  private readonly routing = new Routing();
  private readonly parts: Partition[] = [];
  private readonly pool: WorkerPool;
  private readonly dispatch: Dispatcher;
  private readonly replication: Replicator;
  private readonly events: StreamEvents;
  private readonly windows: WindowMeter;
  private readonly dispatchCache: number;
  private readonly failoverUtilisation: number;
  private loadEstimate?: (partition: number) => number;
  private readonly clock: Clock;
  private stopping = false;

  private constructor(private readonly options: StreamServiceOptions) {
    if (!Number.isInteger(options.partitions) || options.partitions < 1) throw new RangeError('partitions must be a positive integer');
    if (!Number.isInteger(options.workers) || options.workers < 1) throw new RangeError('workers must be a positive integer');
    if (!(options.capacity > 0)) throw new RangeError('capacity must be positive');
    this.ring = new HashRing(Array.from({ length: options.partitions }, (_, i) => i), options.vnodes ?? 128);
    this.capacity = options.capacity;
    this.dispatchCache = options.dispatchCache ?? 4096;
    if (!Number.isInteger(this.dispatchCache) || this.dispatchCache < 0) throw new RangeError('dispatchCache must be a non-negative integer');
    this.failoverUtilisation = options.failoverUtilisation ?? 0.9;
    if (!(this.failoverUtilisation >= 0)) throw new RangeError('failoverUtilisation must be a non-negative number');
    this.clock = options.clock ?? realClock;
    const stopping = (): boolean => this.stopping;
    this.pool = new WorkerPool(options.capacity, {
      onCommit: (worker, msg) => this.dispatch.commit(this.parts[msg.partition], worker, msg),
      onDeath: (worker, code, signal) => { if (!this.stopping) void this.workerDied(worker, code, signal); },
    });
    this.events = new StreamEvents(this.clock);
    this.dispatch = new Dispatcher({
      log: options.log, routing: this.routing, pool: this.pool, clock: this.clock, stopping,
      maxInflight: options.maxInflight ?? 512, onDeliver: options.onDeliver,
    });
    this.replication = new Replicator({
      log: options.log, clock: this.clock, dispatch: this.dispatch, events: this.events, buffer: options.replicationBuffer ?? 10_000, stopping,
    });
    this.windows = new WindowMeter(this.clock, options.windowMs ?? 10_000, this.capacity, this.parts, this.routing, (p) => this.dispatch.feed(p));
  }

  /**
   * Opens (or recovers) every partition's primary replica, starts the worker processes and
   * assigns partitions. Fails with the backend's error when storage is unreachable (no process is
   * left running then).
   */
  static async start(options: StreamServiceOptions): Promise<StreamService> {
    const s = new StreamService(options);
    const owners: number[] = [];
    for (let id = 0; id < options.partitions; id++) {
      const replicaSeq = (await options.log.getMeta(`primary.${id}`)) ?? 0;
      const primary = `p${id}-r${replicaSeq}`;
      await options.log.create(primary, 0);
      const end = await options.log.end(primary);
      const committed = (await options.log.getMeta(`committed.${id}`)) ?? 0;
      const owner = (await options.log.getMeta(`owner.${id}`)) ?? id % options.workers;
      owners.push(owner < options.workers ? owner : id % options.workers);
      s.parts.push({
        id, epoch: ((await options.log.getMeta(`epoch.${id}`)) ?? 0) + 1, primary, end, committed, dispatched: committed, inflight: [],
        feeding: false, feedAgain: false, queue: Promise.resolve(), replicaSeq, pinned: false, forbidden: new Set(),
        arrivals: 0, utilisation: 0, commits: 0, lags: [], persisting: false, tail: [], tailBase: end,
      });
    }
    s.routing.init(owners);
    await Promise.all(Array.from({ length: options.workers }, (_, i) => s.pool.spawn(i)));
    for (const p of s.parts) {
      await options.log.setMeta(`epoch.${p.id}`, p.epoch);
      s.pool.send(s.routing.ownerOf(p.id), { t: 'assign', partition: p.id, epoch: p.epoch });
      s.dispatch.feed(p);
    }
    s.windows.run();
    return s;
  }

  /** The current routing table (an immutable snapshot). */
  get table(): RoutingTable {
    return this.routing.table;
  }

  /** Number of workers. */
  get workerCount(): number {
    return this.pool.size;
  }

  /** Commits refused by the fence (stale epoch, old owner, wrong offset), since start. */
  get fenced(): number {
    return this.dispatch.fenced;
  }

  /** Subscribes to per-window figures. */
  onWindow(fn: (w: PartitionWindow[]) => void): void {
    this.windows.on(fn);
  }

  /** Subscribes to events (shadow created, caught up, switched, released, failed over, worker restarted). */
  onEvent(fn: (e: StreamEvent) => void): void {
    this.events.on(fn);
  }

  /**
   * Fences a dead worker's partitions, fails them over to live workers and starts a replacement
   * process, which then takes only the partitions no live worker could.
   */
  private async workerDied(id: number, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    log.warn({ worker: id, code, signal }, 'stream worker died; failing its partitions over and restarting it');
    const orphans = this.parts.filter((p) => this.routing.ownerOf(p.id) === id);
    for (const p of orphans) p.epoch++; // fence now, before anyone else owns them
    const replacement = this.pool.spawn(id).then(() => true, (err: unknown) => {
      // It died before it was ready: its exit handler has started the next replacement already.
      log.warn({ err, worker: id }, 'stream worker replacement died before it was ready');
      return false;
    });
    // One at a time: each placement sees the load the previous ones added.
    for (const p of orphans) await this.failOver(p, `worker ${id} died`);
    if (!(await replacement) || this.stopping) return;
    const waited: number[] = [];
    for (const p of this.parts) {
      if (this.routing.ownerOf(p.id) !== id) continue;
      await this.dispatch.reassign(p, id);
      waited.push(p.id);
    }
    this.events.emit({ kind: 'worker-restarted', worker: id, evidence: { code, signal, partitions: waited } });
  }

  /**
   * Sets how failover placement estimates a partition's utilisation (e.g. its forecast peak);
   * undefined restores the default, the last window's offered load.
   */
  setLoadEstimate(fn: ((partition: number) => number) | undefined): void {
    this.loadEstimate = fn;
  }

  private estimate(p: Partition): number {
    const u = this.loadEstimate?.(p.id);
    return u !== undefined && Number.isFinite(u) ? Math.max(u, p.utilisation) : p.utilisation;
  }

  /**
   * Moves a partition whose owner is not running to a live worker chosen by `placeFailover`: by a
   * switch-over when that is its standby's worker, else from the committed offset on the same
   * primary replica. Loads are the sums of the partitions' estimates (see `setLoadEstimate`).
   * Leaves a pinned partition, or one no live worker may take, for the owner's replacement.
   */
  private async failOver(p: Partition, reason: string): Promise<void> {
    await enqueue(p, async () => {
      const from = this.routing.ownerOf(p.id);
      if (this.stopping || p.pinned || this.pool.alive(from)) return;
      const load = new Array<number>(this.pool.size).fill(0);
      const own = this.estimate(p);
      for (const q of this.parts) if (q !== p) load[this.routing.ownerOf(q.id)] += this.estimate(q);
      const live = this.pool.ids().filter((w) => w !== from && this.pool.alive(w) && !p.forbidden.has(w));
      const s = p.standby;
      const target = placeFailover(live, load, own, s?.worker, this.failoverUtilisation);
      if (target === undefined) return;
      if (s && s.worker === target) {
        await this.promote(p, s);
      } else {
        this.routing.move(p.id, target);
        await this.options.log.setMeta(`owner.${p.id}`, target);
        await this.dispatch.reassign(p, target);
      }
      this.events.emit({
        kind: 'failed-over', partition: p.id, worker: target, reason,
        evidence: {
          from, via: s?.worker === target ? 'standby' : 'committed', load: load[target], utilisation: own,
          committed: p.committed, end: p.end, routingVersion: this.routing.table.version,
        },
      });
    });
  }

  /**
   * Appends records: each goes to the primary replica of its key's partition, in the order given
   * per key. Resolves when every record is stored under the backend's durability policy; fails with
   * the backend's error (records of other partitions may then be stored; retry with the same ids).
   */
  async append(inputs: readonly AppendInput[]): Promise<AppendResult[]> {
    if (this.stopping) throw new ShadowplaneError('SHADOWPLANE_ERR_STREAM_STATE', 'the stream service is stopping');
    const groups = new Map<number, { index: number; input: AppendInput }[]>();
    inputs.forEach((input, index) => {
      const p = this.ring.partitionOf(input.key);
      let g = groups.get(p);
      if (!g) groups.set(p, (g = []));
      g.push({ index, input });
    });
    const results = new Array<AppendResult>(inputs.length);
    await Promise.all([...groups].map(([pid, items]) => enqueue(this.parts[pid], async () => {
      const p = this.parts[pid];
      const at = this.clock.now();
      const records: StoredRecord[] = items.map((it, i) => ({
        id: it.input.id ?? randomUUID(),
        key: it.input.key,
        value: it.input.value,
        at,
        offset: p.end + i,
      }));
      await this.options.log.append(p.primary, records);
      p.end += records.length;
      p.arrivals += records.length;
      p.tail.push(...records);
      if (p.tail.length > 2 * this.dispatchCache) p.tailBase += p.tail.splice(0, p.tail.length - this.dispatchCache).length;
      items.forEach((it, i) => { results[it.index] = { id: records[i].id, partition: pid, offset: records[i].offset }; });
      this.replication.handOver(p, records);
      this.dispatch.feed(p);
    })));
    return results;
  }

  /**
   * Creates a shadow replica of `partition` on `worker`, backfilled from the committed offset and
   * fed every new record. Fails with SHADOWPLANE_ERR_STREAM_STATE when the partition already has a
   * standby, `worker` owns it already, is unknown or forbidden for it.
   */
  async createShadow(partition: number, worker: number, reason: string, evidence: Record<string, unknown> = {}): Promise<void> {
    const p = this.partition(partition);
    this.checkTarget(p, worker);
    if (p.standby) throw new ShadowplaneError('SHADOWPLANE_ERR_STREAM_STATE', `partition ${partition} already has a ${p.standby.role} on worker ${p.standby.worker}`);
    const s = await this.replication.createShadow(p, worker);
    this.events.emit({ kind: 'shadow-created', partition, worker, reason, evidence: { ...evidence, base: s.end, end: p.end } });
    this.replication.fill(p, s);
  }

  private checkWorker(worker: number): void {
    if (!Number.isInteger(worker) || worker < 0 || worker >= this.pool.size) throw new ShadowplaneError('SHADOWPLANE_ERR_STREAM_STATE', `no worker ${worker}`);
  }

  private checkTarget(p: Partition, worker: number): void {
    this.checkWorker(worker);
    if (this.routing.ownerOf(p.id) === worker) throw new ShadowplaneError('SHADOWPLANE_ERR_STREAM_STATE', `partition ${p.id} is already on worker ${worker}`);
    if (p.forbidden.has(worker)) throw new ShadowplaneError('SHADOWPLANE_ERR_STREAM_STATE', `worker ${worker} is forbidden for partition ${p.id}`);
  }

  /**
   * Switches `partition` to its standby: waits until the standby holds every record, then (with
   * no append in between) makes it the primary, updates the routing table atomically and hands the
   * partition to the new worker at the committed offset; the former primary is kept as a standby.
   * Fails with SHADOWPLANE_ERR_STREAM_STATE when there is no standby.
   */
  async switchOver(partition: number, reason: string, evidence: Record<string, unknown> = {}): Promise<void> {
    const p = this.partition(partition);
    if (!p.standby) throw new ShadowplaneError('SHADOWPLANE_ERR_STREAM_STATE', `partition ${partition} has no standby to switch to`);
    const started = this.clock.now();
    await enqueue(p, async () => {
      const s = p.standby;
      if (!s) throw new ShadowplaneError('SHADOWPLANE_ERR_STREAM_STATE', `partition ${partition} lost its standby`);
      const from = await this.promote(p, s);
      this.events.emit({
        kind: 'switched', partition, worker: s.worker, reason,
        evidence: { ...evidence, from, committed: p.committed, end: p.end, routingVersion: this.routing.table.version, waitedMs: this.clock.now() - started },
      });
    });
    // The new owner died during the switch-over: its death found the partition still elsewhere.
    if (!this.pool.alive(this.routing.ownerOf(p.id))) await this.failOver(p, `worker ${this.routing.ownerOf(p.id)} is not running after the switch-over`);
  }

  /**
   * Inside the partition's queue: waits until standby `s` holds every record, makes it the primary
   * (the old primary becomes the `former` standby), routes the partition to its worker and assigns
   * it there under a new epoch at the committed offset. Returns the previous owner.
   */
  private async promote(p: Partition, s: Standby): Promise<number> {
    await this.replication.catchUp(p, s);
    const from = this.routing.ownerOf(p.id);
    const oldPrimary = p.primary;
    p.primary = s.replica;
    const now = this.clock.now();
    p.standby = { replica: oldPrimary, worker: from, role: 'former', since: now, requestedAt: now, caughtUpAt: now, end: p.end, pending: [], copying: false };
    this.routing.move(p.id, s.worker);
    this.pool.send(from, { t: 'revoke', partition: p.id, epoch: p.epoch });
    await this.options.log.setMeta(`primary.${p.id}`, Number(s.replica.split('-r')[1]));
    await this.options.log.setMeta(`owner.${p.id}`, s.worker);
    await this.dispatch.reassign(p, s.worker);
    return from;
  }

  /** Drops the standby of `partition` (shadow or former primary). A no-op when there is none. */
  async release(partition: number, reason: string, evidence: Record<string, unknown> = {}): Promise<void> {
    const p = this.partition(partition);
    const s = p.standby;
    if (!s) return;
    await enqueue(p, async () => {
      if (p.standby !== s) return;
      p.standby = undefined;
      await this.options.log.drop(s.replica);
      this.events.emit({ kind: 'released', partition, worker: s.worker, reason, evidence: { ...evidence, role: s.role, heldMs: this.clock.now() - s.since } });
    });
  }

  /** Operator: pin a partition to its worker (policies must not move it) or unpin it. */
  pin(partition: number, pinned: boolean): void {
    this.partition(partition).pinned = pinned;
  }

  /** Operator: forbid (or allow again) `worker` as a home for `partition`. Fails on an unknown worker. */
  forbid(partition: number, worker: number, forbidden: boolean): void {
    const p = this.partition(partition);
    this.checkWorker(worker);
    if (forbidden) p.forbidden.add(worker);
    else p.forbidden.delete(worker);
  }

  /**
   * Operator: move `partition` to `worker` now (shadow there if needed, then switch). Fails with
   * SHADOWPLANE_ERR_STREAM_STATE when the partition is pinned or the worker is not allowed.
   */
  async forceMove(partition: number, worker: number): Promise<void> {
    const p = this.partition(partition);
    if (p.pinned) throw new ShadowplaneError('SHADOWPLANE_ERR_STREAM_STATE', `partition ${partition} is pinned; unpin it first`);
    this.checkTarget(p, worker);
    if (p.standby && p.standby.worker !== worker) await this.release(partition, 'operator move elsewhere');
    if (!p.standby) await this.createShadow(partition, worker, 'operator move');
    await this.switchOver(partition, 'operator move');
  }

  private partition(id: number): Partition {
    const p = Number.isInteger(id) ? this.parts[id] : undefined;
    if (!p) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `no partition ${id}`);
    return p;
  }

  /** A snapshot of every partition. */
  partitions(): PartitionView[] {
    return this.parts.map((p) => ({
      partition: p.id, worker: this.routing.ownerOf(p.id), epoch: p.epoch, primary: p.primary, end: p.end, committed: p.committed,
      pinned: p.pinned, forbidden: [...p.forbidden],
      standby: p.standby && {
        replica: p.standby.replica,
        worker: p.standby.worker,
        role: p.standby.role,
        since: p.standby.since,
        caughtUpAt: p.standby.caughtUpAt,
        behind: p.end - p.standby.end,
      },
    }));
  }

  /** The OS process id of a worker (for fault injection in tests and benchmarks). */
  workerPid(worker: number): number | undefined {
    return this.pool.pid(worker);
  }

  /** Stops windows, waits for queued appends, stops the workers and closes nothing else (the caller owns the log). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.windows.stop();
    await Promise.all(this.parts.map((p) => p.queue));
    await Promise.all(this.parts.map((p) => this.options.log.setMeta(`committed.${p.id}`, p.committed).catch(() => undefined)));
    await this.pool.stop();
  }
}
