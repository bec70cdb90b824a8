/**
 * The stream service's in-memory state of each partition and the routing table, shared by the
 * modules that act on it (dispatch, replication, ownership moves). Mutable on purpose: every
 * change to one partition runs on that partition's queue (`enqueue`) or from a worker message.
 */
import type { StoredRecord } from './log.js';
import type { WireRecord } from './protocol.js';

/** The routing table: `owners[p]` is the worker consuming partition p. Replaced whole, never edited. */
export interface RoutingTable {
  readonly version: number;
  readonly owners: readonly number[];
}

/** The current routing table, replaced (never edited) on each ownership change. */
export class Routing {
  table: RoutingTable = { version: 0, owners: [] };

  /** Starts from the owners recovered at start-up (version 1). */
  init(owners: number[]): void {
    this.table = Object.freeze({ version: 1, owners: Object.freeze(owners) });
  }

  /** The worker that owns partition `p`. */
  ownerOf(p: number): number {
    return this.table.owners[p];
  }

  /** Replaces the table with one where partition `p` is on `worker`. */
  move(p: number, worker: number): void {
    const owners = [...this.table.owners];
    owners[p] = worker;
    this.table = Object.freeze({ version: this.table.version + 1, owners: Object.freeze(owners) });
  }
}

/** A second replica of a partition: a shadow being built, or the former primary kept after a switch. */
export interface Standby {
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

/** One partition's replicas, ownership, dispatch position and window counters. */
export interface Partition {
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

/** Runs `task` after everything queued on the partition (appends, switch-overs), in order. */
export function enqueue<T>(p: Partition, task: () => Promise<T>): Promise<T> {
  const run = p.queue.then(task);
  p.queue = run.catch(() => undefined);
  return run;
}
