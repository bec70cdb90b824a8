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
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { realClock, type Clock } from '../../core/clock.js';
import { ShadowplaneError } from '../../core/errors.js';
import { quantile } from '../../core/quantile.js';
import { logger } from '../../obs/log.js';
import { HashRing } from './ring.js';
import type { ReplicaLog, StoredRecord } from './log.js';
import type { FromWorker, ToWorker, WireRecord } from './protocol.js';

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

/** Per-partition figures of one window. */
export interface PartitionWindow {
  readonly partition: number;
  readonly worker: number;
  /** Window end, clock ms. */
  readonly at: number;
  /** Records appended per second. */
  readonly arrivalRate: number;
  /** Records committed per second. */
  readonly throughput: number;
  /** arrivalRate / worker capacity. */
  readonly utilisation: number;
  /** Records appended and not yet committed. */
  readonly backlog: number;
  /** 99th percentile of append→commit latency of the records committed in the window (0 when none). */
  readonly lagP99Ms: number;
}

/** Something the service did, with its evidence, for the decision log and the benchmark. */
export interface StreamEvent {
  readonly at: number;
  readonly kind: 'shadow-created' | 'caught-up' | 'switched' | 'released' | 'failed-over' | 'worker-restarted' | 'fenced';
  readonly partition?: number;
  readonly worker?: number;
  readonly reason?: string;
  readonly evidence?: Record<string, unknown>;
}

/** What the timeline of the served target shows of a stream event: its kind, its partition and worker in words, its evidence. */
export function timelineReport(e: StreamEvent): { action: string; message: string; evidence: Record<string, unknown>; at: number } {
  const where = [e.partition !== undefined && `partition ${e.partition}`, e.worker !== undefined && `worker ${e.worker}`].filter(Boolean).join(' on ');
  return {
    action: e.kind, at: e.at,
    message: `${e.kind.replace(/-/g, ' ')}${where ? `: ${where}` : ''}${e.reason ? ` (${e.reason})` : ''}`,
    evidence: { ...e.evidence, ...(e.partition !== undefined ? { partition: e.partition } : {}), ...(e.worker !== undefined ? { worker: e.worker } : {}) },
  };
}

/** The routing table: `owners[p]` is the worker consuming partition p. Replaced whole, never edited. */
export interface RoutingTable {
  readonly version: number;
  readonly owners: readonly number[];
}

interface Standby {
  replica: string;
  worker: number;
  role: 'shadow' | 'former';
  since: number;
  /** When its creation was asked for (before storage was allocated). */
  requestedAt: number;
  caughtUpAt?: number;
  end: number;
  pending: StoredRecord[];
  copying: boolean;
}

interface Partition {
  readonly id: number;
  epoch: number;
  primary: string;
  end: number;
  committed: number;
  dispatched: number;
  inflight: WireRecord[];
  feeding: boolean;
  feedAgain: boolean;
  standby?: Standby;
  queue: Promise<unknown>;
  replicaSeq: number;
  pinned: boolean;
  forbidden: Set<number>;
  arrivals: number;
  /** Offered utilisation (arrivals / capacity) of the last closed window. */
  utilisation: number;
  commits: number;
  lags: number[];
  persisting: boolean;
  /** The latest appended records (offsets tailBase.. end-1), so dispatch and backfill rarely read storage. */
  tail: StoredRecord[];
  tailBase: number;
}

interface Worker {
  readonly id: number;
  proc: ChildProcess;
  ready: boolean;
}

function workerEntry(): { path: string; execArgv: string[] } {
  const js = fileURLToPath(new URL('./worker.js', import.meta.url));
  if (existsSync(js)) return { path: js, execArgv: [] };
  // Running from TypeScript sources (tests, tsx): the child needs the same loader.
  return { path: fileURLToPath(new URL('./worker.ts', import.meta.url)), execArgv: ['--import', 'tsx'] };
}

/** The running service. Create with `StreamService.start`; always `stop()` it (it owns child processes). */
export class StreamService {
  readonly ring: HashRing;
  readonly capacity: number;
  private routing: RoutingTable;
  private readonly parts: Partition[] = [];
  private readonly workers: Worker[] = [];
  private readonly windowMs: number;
  private readonly maxInflight: number;
  private readonly replicationBuffer: number;
  private readonly dispatchCache: number;
  private readonly failoverUtilisation: number;
  private loadEstimate?: (partition: number) => number;
  private readonly clock: Clock;
  private stopping = false;
  private cancelWindow?: () => void;
  private windowStart: number;
  private readonly windowListeners: ((w: PartitionWindow[]) => void)[] = [];
  private readonly eventListeners: ((e: StreamEvent) => void)[] = [];
  /** Commits refused by the fence (stale epoch, old owner, wrong offset), since start. */
  fenced = 0;

  private constructor(private readonly options: StreamServiceOptions) {
    if (!Number.isInteger(options.partitions) || options.partitions < 1) throw new RangeError('partitions must be a positive integer');
    if (!Number.isInteger(options.workers) || options.workers < 1) throw new RangeError('workers must be a positive integer');
    if (!(options.capacity > 0)) throw new RangeError('capacity must be positive');
    this.ring = new HashRing(Array.from({ length: options.partitions }, (_, i) => i), options.vnodes ?? 128);
    this.capacity = options.capacity;
    this.windowMs = options.windowMs ?? 10_000;
    this.maxInflight = options.maxInflight ?? 512;
    this.replicationBuffer = options.replicationBuffer ?? 10_000;
    this.dispatchCache = options.dispatchCache ?? 4096;
    if (!Number.isInteger(this.dispatchCache) || this.dispatchCache < 0) throw new RangeError('dispatchCache must be a non-negative integer');
    this.failoverUtilisation = options.failoverUtilisation ?? 0.9;
    if (!(this.failoverUtilisation >= 0)) throw new RangeError('failoverUtilisation must be a non-negative number');
    this.clock = options.clock ?? realClock;
    this.windowStart = this.clock.now();
    this.routing = { version: 0, owners: [] };
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
    s.routing = Object.freeze({ version: 1, owners: Object.freeze(owners) });
    await Promise.all(Array.from({ length: options.workers }, (_, i) => s.spawn(i)));
    for (const p of s.parts) {
      await options.log.setMeta(`epoch.${p.id}`, p.epoch);
      s.sendTo(s.routing.owners[p.id], { t: 'assign', partition: p.id, epoch: p.epoch });
      s.feed(p);
    }
    s.scheduleWindow();
    return s;
  }

  /** The current routing table (an immutable snapshot). */
  get table(): RoutingTable {
    return this.routing;
  }

  /** Number of workers. */
  get workerCount(): number {
    return this.workers.length;
  }

  /** Subscribes to per-window figures. */
  onWindow(fn: (w: PartitionWindow[]) => void): void {
    this.windowListeners.push(fn);
  }

  /** Subscribes to events (shadow created, caught up, switched, released, failed over, worker restarted). */
  onEvent(fn: (e: StreamEvent) => void): void {
    this.eventListeners.push(fn);
  }

  private emit(e: Omit<StreamEvent, 'at'>): void {
    const event = { at: this.clock.now(), ...e };
    log.info(event, `stream ${e.kind}`);
    for (const fn of this.eventListeners) fn(event);
  }

  private spawn(id: number): Promise<void> {
    const entry = workerEntry();
    const proc = fork(entry.path, [], { execArgv: entry.execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const w: Worker = { id, proc, ready: false };
    this.workers[id] = w;
    return new Promise((resolve, reject) => {
      proc.on('message', (msg: FromWorker) => {
        if (msg.t === 'ready') {
          w.ready = true;
          proc.send({ t: 'config', capacity: this.capacity } satisfies ToWorker);
          resolve();
        } else if (msg.t === 'commit' && this.workers[id] === w) {
          this.onCommit(id, msg);
        }
      });
      proc.on('error', reject);
      proc.on('exit', (code, signal) => {
        if (this.workers[id] !== w) return;
        w.ready = false;
        if (!this.stopping) void this.workerDied(id, code, signal);
        reject(new Error(`worker ${id} exited before it was ready`));
      });
    });
  }

  /**
   * Fences a dead worker's partitions, fails them over to live workers and starts a replacement
   * process, which then takes only the partitions no live worker could.
   */
  private async workerDied(id: number, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    log.warn({ worker: id, code, signal }, 'stream worker died; failing its partitions over and restarting it');
    const orphans = this.parts.filter((p) => this.routing.owners[p.id] === id);
    for (const p of orphans) p.epoch++; // fence now, before anyone else owns them
    const replacement = this.spawn(id).then(() => true, (err: unknown) => {
      // It died before it was ready: its exit handler has started the next replacement already.
      log.warn({ err, worker: id }, 'stream worker replacement died before it was ready');
      return false;
    });
    // One at a time: each placement sees the load the previous ones added.
    for (const p of orphans) await this.failOver(p, `worker ${id} died`);
    if (!(await replacement) || this.stopping) return;
    const waited: number[] = [];
    for (const p of this.parts) {
      if (this.routing.owners[p.id] !== id) continue;
      await this.reassign(p, id);
      waited.push(p.id);
    }
    this.emit({ kind: 'worker-restarted', worker: id, evidence: { code, signal, partitions: waited } });
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

  private alive(worker: number): boolean {
    return this.workers[worker]?.ready === true;
  }

  /**
   * Moves a partition whose owner is not running to a live worker: its standby's worker when that
   * would carry it within `failoverUtilisation` (a switch-over, as planned ones), else the allowed
   * live worker with the lowest estimated load (from the committed offset, same primary replica).
   * Loads are the sums of the partitions' estimates (see `setLoadEstimate`).
   * Leaves a pinned partition, or one no live worker may take, for the owner's replacement.
   */
  private async failOver(p: Partition, reason: string): Promise<void> {
    await this.enqueue(p, async () => {
      const from = this.routing.owners[p.id];
      if (this.stopping || p.pinned || this.alive(from)) return;
      const load = new Array<number>(this.workers.length).fill(0);
      const own = this.estimate(p);
      for (const q of this.parts) if (q !== p) load[this.routing.owners[q.id]] += this.estimate(q);
      const live = this.workers.map((w) => w.id).filter((w) => w !== from && this.alive(w) && !p.forbidden.has(w));
      if (live.length === 0) return;
      const s = p.standby;
      const standbyFits = s !== undefined && live.includes(s.worker) && load[s.worker] + own <= this.failoverUtilisation;
      const target = standbyFits ? s.worker : live.reduce((best, w) => (load[w] < load[best] ? w : best));
      if (s && s.worker === target) {
        await this.promote(p, s);
      } else {
        this.route(p, target);
        await this.options.log.setMeta(`owner.${p.id}`, target);
        await this.reassign(p, target);
      }
      this.emit({
        kind: 'failed-over', partition: p.id, worker: target, reason,
        evidence: { from, via: s?.worker === target ? 'standby' : 'committed', load: load[target], utilisation: own, committed: p.committed, end: p.end, routingVersion: this.routing.version },
      });
    });
  }

  /** Replaces the routing table with one where `p` is on `worker`. */
  private route(p: Partition, worker: number): void {
    const owners = [...this.routing.owners];
    owners[p.id] = worker;
    this.routing = Object.freeze({ version: this.routing.version + 1, owners: Object.freeze(owners) });
  }

  private sendTo(worker: number, msg: ToWorker): void {
    const w = this.workers[worker];
    if (w?.ready && w.proc.connected) w.proc.send(msg);
  }

  /** Gives partition `p` to `worker` under a new epoch, restarting dispatch at the committed offset. */
  private async reassign(p: Partition, worker: number): Promise<void> {
    p.epoch++;
    await this.options.log.setMeta(`epoch.${p.id}`, p.epoch);
    p.inflight = [];
    p.dispatched = p.committed;
    this.sendTo(worker, { t: 'assign', partition: p.id, epoch: p.epoch });
    this.feed(p);
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
    await Promise.all([...groups].map(([pid, items]) => this.enqueue(this.parts[pid], async () => {
      const p = this.parts[pid];
      const at = this.clock.now();
      const records: StoredRecord[] = items.map((it, i) => ({ id: it.input.id ?? randomUUID(), key: it.input.key, value: it.input.value, at, offset: p.end + i }));
      await this.options.log.append(p.primary, records);
      p.end += records.length;
      p.arrivals += records.length;
      p.tail.push(...records);
      if (p.tail.length > 2 * this.dispatchCache) p.tailBase += p.tail.splice(0, p.tail.length - this.dispatchCache).length;
      items.forEach((it, i) => { results[it.index] = { id: records[i].id, partition: pid, offset: records[i].offset }; });
      this.handToStandby(p, records);
      this.feed(p);
    })));
    return results;
  }

  /** Up to `max` stored records of the partition from offset `from`: from memory when still there, else from the primary replica. */
  private readPrimary(p: Partition, from: number, max: number): Promise<StoredRecord[]> {
    if (from >= p.tailBase && from < p.tailBase + p.tail.length) return Promise.resolve(p.tail.slice(from - p.tailBase, from - p.tailBase + max));
    return this.options.log.read(p.primary, from, max);
  }

  /** Runs `task` after everything queued on the partition (appends, switch-overs), in order. */
  private enqueue<T>(p: Partition, task: () => Promise<T>): Promise<T> {
    const run = p.queue.then(task);
    p.queue = run.catch(() => undefined);
    return run;
  }

  /** Sends the owner as many records as the in-flight window allows; never runs twice at once. */
  private feed(p: Partition): void {
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
          const owner = this.routing.owners[p.id];
          const room = this.maxInflight - p.inflight.length;
          if (room <= 0 || p.dispatched >= p.end || !this.workers[owner]?.ready) continue;
          const from = p.dispatched;
          const batch = await this.readPrimary(p, from, Math.min(room, 256));
          // An ownership change while reading makes this batch stale: the new owner restarts at committed.
          if (epoch !== p.epoch || from !== p.dispatched || batch.length === 0) { p.feedAgain = true; continue; }
          p.inflight.push(...batch);
          p.dispatched += batch.length;
          this.sendTo(owner, { t: 'records', partition: p.id, epoch, records: batch });
          p.feedAgain = p.dispatched < p.end && p.inflight.length < this.maxInflight;
        } while (p.feedAgain && !this.stopping);
      } catch (err) {
        log.error({ err, partition: p.id }, 'stream dispatch failed; retrying on the next append or window');
      } finally {
        p.feeding = false;
      }
    })();
  }

  private onCommit(worker: number, msg: Extract<FromWorker, { t: 'commit' }>): void {
    const p = this.parts[msg.partition];
    const n = msg.ids.length;
    if (!p || msg.epoch !== p.epoch || this.routing.owners[p.id] !== worker || msg.from !== p.committed || n === 0 || n > p.inflight.length
      || p.inflight[0].offset !== msg.from || p.inflight[n - 1].id !== msg.ids[n - 1]) {
      this.fenced++;
      return;
    }
    const done = p.inflight.splice(0, n);
    p.committed += n;
    p.commits += n;
    const now = this.clock.now();
    for (const r of done) p.lags.push(now - r.at);
    this.options.onDeliver?.(p.id, done);
    this.persistCommitted(p);
    this.feed(p);
  }

  /** Writes the committed offset, coalescing: at most one write in flight per partition. */
  private persistCommitted(p: Partition): void {
    if (p.persisting) return;
    p.persisting = true;
    const value = p.committed;
    this.options.log.setMeta(`committed.${p.id}`, value).catch((err: unknown) => log.error({ err }, 'stream commit persist failed')).finally(() => {
      p.persisting = false;
      if (p.committed !== value && !this.stopping) this.persistCommitted(p);
    });
  }

  /** Passes newly appended records to the standby's copier (never awaited by the producer). */
  private handToStandby(p: Partition, records: StoredRecord[]): void {
    const s = p.standby;
    if (!s) return;
    // Bounded memory: past the buffer the copier reads the missing range back from the primary.
    if (s.pending.length + records.length <= this.replicationBuffer) s.pending.push(...records);
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
        else batch = await this.readPrimary(p, s.end, 1024);
        if (batch.length === 0) break;
        await this.options.log.append(s.replica, batch);
        s.end += batch.length;
      }
      if (p.standby === s && s.end === p.end && s.caughtUpAt === undefined) {
        s.caughtUpAt = this.clock.now();
        this.emit({ kind: 'caught-up', partition: p.id, worker: s.worker, evidence: { offset: s.end, tookMs: s.caughtUpAt - s.requestedAt } });
      }
    } catch (err) {
      log.error({ err, partition: p.id }, 'stream replication failed; retrying on the next append');
    } finally {
      s.copying = false;
    }
    if (p.standby === s && s.end < p.end && !this.stopping) setImmediate(() => void this.copy(p, s));
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
    const requestedAt = this.clock.now();
    const replica = `p${p.id}-r${++p.replicaSeq}`;
    const base = p.committed;
    await this.options.log.drop(replica);
    await this.options.log.create(replica, base);
    const s: Standby = { replica, worker, role: 'shadow', since: this.clock.now(), requestedAt, end: base, pending: [], copying: false };
    p.standby = s;
    this.emit({ kind: 'shadow-created', partition, worker, reason, evidence: { ...evidence, base, end: p.end } });
    void this.copy(p, s);
  }

  private checkTarget(p: Partition, worker: number): void {
    if (!Number.isInteger(worker) || worker < 0 || worker >= this.workers.length) throw new ShadowplaneError('SHADOWPLANE_ERR_STREAM_STATE', `no worker ${worker}`);
    if (this.routing.owners[p.id] === worker) throw new ShadowplaneError('SHADOWPLANE_ERR_STREAM_STATE', `partition ${p.id} is already on worker ${worker}`);
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
    await this.enqueue(p, async () => {
      const s = p.standby;
      if (!s) throw new ShadowplaneError('SHADOWPLANE_ERR_STREAM_STATE', `partition ${partition} lost its standby`);
      const from = await this.promote(p, s);
      this.emit({ kind: 'switched', partition, worker: s.worker, reason, evidence: { ...evidence, from, committed: p.committed, end: p.end, routingVersion: this.routing.version, waitedMs: this.clock.now() - started } });
    });
    // The new owner died during the switch-over: its death found the partition still elsewhere.
    if (!this.alive(this.routing.owners[p.id])) await this.failOver(p, `worker ${this.routing.owners[p.id]} is not running after the switch-over`);
  }

  /**
   * Inside the partition's queue: waits until standby `s` holds every record, makes it the primary
   * (the old primary becomes the `former` standby), routes the partition to its worker and assigns
   * it there under a new epoch at the committed offset. Returns the previous owner.
   */
  private async promote(p: Partition, s: Standby): Promise<number> {
    while (s.end < p.end) {
      await this.copy(p, s);
      if (s.end < p.end) await new Promise((r) => setTimeout(r, 2));
    }
    const from = this.routing.owners[p.id];
    const oldPrimary = p.primary;
    p.primary = s.replica;
    const now = this.clock.now();
    p.standby = { replica: oldPrimary, worker: from, role: 'former', since: now, requestedAt: now, caughtUpAt: now, end: p.end, pending: [], copying: false };
    this.route(p, s.worker);
    this.sendTo(from, { t: 'revoke', partition: p.id, epoch: p.epoch });
    await this.options.log.setMeta(`primary.${p.id}`, Number(s.replica.split('-r')[1]));
    await this.options.log.setMeta(`owner.${p.id}`, s.worker);
    await this.reassign(p, s.worker);
    return from;
  }

  /** Drops the standby of `partition` (shadow or former primary). A no-op when there is none. */
  async release(partition: number, reason: string, evidence: Record<string, unknown> = {}): Promise<void> {
    const p = this.partition(partition);
    const s = p.standby;
    if (!s) return;
    await this.enqueue(p, async () => {
      if (p.standby !== s) return;
      p.standby = undefined;
      await this.options.log.drop(s.replica);
      this.emit({ kind: 'released', partition, worker: s.worker, reason, evidence: { ...evidence, role: s.role, heldMs: this.clock.now() - s.since } });
    });
  }

  /** Operator: pin a partition to its worker (policies must not move it) or unpin it. */
  pin(partition: number, pinned: boolean): void {
    this.partition(partition).pinned = pinned;
  }

  /** Operator: forbid (or allow again) `worker` as a home for `partition`. Fails on an unknown worker. */
  forbid(partition: number, worker: number, forbidden: boolean): void {
    const p = this.partition(partition);
    if (!Number.isInteger(worker) || worker < 0 || worker >= this.workers.length) throw new ShadowplaneError('SHADOWPLANE_ERR_STREAM_STATE', `no worker ${worker}`);
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
      partition: p.id, worker: this.routing.owners[p.id], epoch: p.epoch, primary: p.primary, end: p.end, committed: p.committed,
      pinned: p.pinned, forbidden: [...p.forbidden],
      standby: p.standby && { replica: p.standby.replica, worker: p.standby.worker, role: p.standby.role, since: p.standby.since, caughtUpAt: p.standby.caughtUpAt, behind: p.end - p.standby.end },
    }));
  }

  /** The OS process id of a worker (for fault injection in tests and benchmarks). */
  workerPid(worker: number): number | undefined {
    return this.workers[worker]?.proc.pid;
  }

  private scheduleWindow(): void {
    this.cancelWindow = this.clock.setTimer(this.windowMs, () => {
      this.closeWindow();
      if (!this.stopping) this.scheduleWindow();
    });
  }

  private closeWindow(): void {
    const now = this.clock.now();
    const secs = Math.max(1e-3, (now - this.windowStart) / 1000);
    this.windowStart = now;
    const figures = this.parts.map((p) => {
      const w: PartitionWindow = {
        partition: p.id, worker: this.routing.owners[p.id], at: now, arrivalRate: p.arrivals / secs, throughput: p.commits / secs,
        utilisation: p.arrivals / secs / this.capacity, backlog: p.end - p.committed, lagP99Ms: quantile(p.lags, 0.99, 0),
      };
      p.utilisation = w.utilisation;
      p.arrivals = 0;
      p.commits = 0;
      p.lags = [];
      this.feed(p);
      return w;
    });
    for (const fn of this.windowListeners) fn(figures);
  }

  /** Stops windows, waits for queued appends, stops the workers and closes nothing else (the caller owns the log). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.cancelWindow?.();
    await Promise.all(this.parts.map((p) => p.queue));
    await Promise.all(this.parts.map((p) => this.options.log.setMeta(`committed.${p.id}`, p.committed).catch(() => undefined)));
    await Promise.all(this.workers.map((w) => new Promise<void>((resolve) => {
      if (w.proc.exitCode !== null || w.proc.signalCode !== null) return resolve();
      w.proc.once('exit', () => resolve());
      w.proc.kill('SIGTERM');
    })));
  }
}
