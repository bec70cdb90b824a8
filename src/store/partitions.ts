/**
 * Leases of ingest partitions in a PostgreSQL store, for replicas that share the store and split
 * the ingest stream's partitions between them (src/ingest/partitioned.ts).
 *
 * - Every replica (a *member*) records a heartbeat in `ingest_members`; members seen within the
 *   lease are live.
 * - Partition `k` belongs to live member number `k mod n` (members ordered by id), so each live
 *   member computes the same assignment.
 * - A partition's row in `ingest_partitions` names its holder, a fencing token (raised by every
 *   take) and when the hold expires; the holder renews it on each heartbeat. A member takes a
 *   partition only when it is free or its hold has expired (its holder died or stalled), and a
 *   holder the assignment moves away from releases it after a last flush.
 * - The row keeps the partition's high-water mark: the last stream sequence whose events the
 *   stored windows contain. A flush writes its windows and the new mark in one transaction that
 *   first locks the row and checks the token (fence()), so a holder that lost the partition can
 *   write nothing, and a new holder's take waits for a flush in progress, then reads the mark and
 *   the windows it wrote.
 *
 * Times are PostgreSQL's clock, so the members' clocks need not agree.
 */
import pg from 'pg';
import { ShadowplaneError } from '../core/errors.js';
import type { MigrationTx } from './migrate.js';

/** PostgreSQL's time now, ms since the epoch. */
const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/** The tables of partition leases in `schema` (a quoted identifier): one migration step of the PostgreSQL store. */
export async function createPartitionTables(tx: MigrationTx, schema: string): Promise<void> {
  await tx.exec(`CREATE TABLE IF NOT EXISTS ${schema}.ingest_members (stream TEXT NOT NULL, member TEXT NOT NULL, seen_at BIGINT NOT NULL, PRIMARY KEY (stream, member))`);
  await tx.exec(`
    CREATE TABLE IF NOT EXISTS ${schema}.ingest_partitions (
      stream TEXT NOT NULL, partition INTEGER NOT NULL, owner TEXT, token BIGINT NOT NULL DEFAULT 0,
      expires_at BIGINT NOT NULL DEFAULT 0, mark BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (stream, partition))`);
}

/** A partition this member holds: the token that fences its writes and the mark to replay from. */
export interface PartitionHold {
  partition: number;
  token: number;
  /** The last stream sequence the stored windows contain (0: none). */
  mark: number;
}

/** Where the leases live and who asks. */
export interface PartitionLeaseOptions {
  url: string;
  /** The store's schema (unquoted). */
  schema: string;
  /** The ingest stream's name: its partitions and members are kept apart from other streams'. */
  stream: string;
  partitions: number;
  /** This member's id. */
  member: string;
  /** How long a heartbeat or a hold lasts, ms. */
  leaseMs: number;
}

/** Heartbeats, the assignment, and takes, renewals and releases of partitions. */
export class PartitionLeases {
  private readonly pool: pg.Pool;
  private readonly members: string;
  private readonly rows: string;

  constructor(private readonly options: PartitionLeaseOptions) {
    this.pool = new pg.Pool({ connectionString: options.url, max: 2, connectionTimeoutMillis: 5000 });
    this.pool.on('error', () => undefined);
    const schema = `"${options.schema.replaceAll('"', '""')}"`;
    this.members = `${schema}.ingest_members`;
    this.rows = `${schema}.ingest_partitions`;
  }

  /**
   * Creates the stream's partition rows if missing; SHADOWPLANE_ERR_CONFIG_INVALID when the
   * stream already has a different number of partitions (events would land on partitions no
   * replica reads, or be read under two marks).
   */
  async init(): Promise<void> {
    const { stream, partitions } = this.options;
    const [row] = await this.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${this.rows} WHERE stream = $1`, [stream]);
    const existing = Number(row.n);
    if (existing > 0 && existing !== partitions) {
      throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', `ingest.jetstream.partitions is ${partitions}, but the stream "${stream}" was set up with ${existing} partitions in this store: every replica must use the same number`, [{ path: '/ingest/jetstream/partitions', message: `must be ${existing}, as the stream's partitions in the store` }]);
    }
    await this.query(`INSERT INTO ${this.rows} (stream, partition) SELECT $1, k FROM generate_series(0, $2 - 1) AS k ON CONFLICT DO NOTHING`, [stream, partitions]);
  }

  /** Records a heartbeat and returns the partitions the live members assign to this one. */
  async heartbeat(): Promise<Set<number>> {
    const { stream, member, leaseMs, partitions } = this.options;
    await this.query(`INSERT INTO ${this.members} (stream, member, seen_at) VALUES ($1, $2, ${NOW_MS}) ON CONFLICT (stream, member) DO UPDATE SET seen_at = excluded.seen_at`, [stream, member]);
    const live = (await this.query<{ member: string }>(`SELECT member FROM ${this.members} WHERE stream = $1 AND seen_at > ${NOW_MS} - $2 ORDER BY member`, [stream, leaseMs])).map((r) => r.member);
    const mine = new Set<number>();
    for (let k = 0; k < partitions; k++) if (live[k % live.length] === member) mine.add(k);
    return mine;
  }

  /** Takes partition `k` if it is free or its hold expired; undefined when another member holds it. */
  async take(k: number): Promise<PartitionHold | undefined> {
    const [row] = await this.query<{ token: number; mark: number }>(
      `UPDATE ${this.rows} SET owner = $3, token = token + 1, expires_at = ${NOW_MS} + $4
       WHERE stream = $1 AND partition = $2 AND (owner IS NULL OR owner = $3 OR expires_at < ${NOW_MS}) RETURNING token, mark`,
      [this.options.stream, k, this.options.member, this.options.leaseMs],
    );
    return row && { partition: k, token: Number(row.token), mark: Number(row.mark) };
  }

  /** Extends a hold; false when it was lost (another member took the partition). */
  async renew(hold: PartitionHold): Promise<boolean> {
    const rows = await this.query(
      `UPDATE ${this.rows} SET expires_at = ${NOW_MS} + $4 WHERE stream = $1 AND partition = $2 AND token = $3 RETURNING 1`,
      [this.options.stream, hold.partition, hold.token, this.options.leaseMs],
    );
    return rows.length > 0;
  }

  /** Gives a hold up, so the member it is assigned to can take it at once. */
  async release(hold: PartitionHold): Promise<void> {
    await this.query(`UPDATE ${this.rows} SET owner = NULL, expires_at = 0 WHERE stream = $1 AND partition = $2 AND token = $3`, [this.options.stream, hold.partition, hold.token]);
  }

  /**
   * In a window write's transaction: locks the partition's row, fails unless it still carries the
   * hold's token, and records `mark` as its high-water mark.
   */
  async fence(tx: MigrationTx, hold: PartitionHold, mark: number): Promise<void> {
    const held = await tx.all(`SELECT 1 FROM ${this.rows} WHERE stream = $1 AND partition = $2 AND token = $3 FOR UPDATE`, [this.options.stream, hold.partition, hold.token]);
    if (held.length === 0) throw new PartitionLostError(hold.partition);
    await tx.exec(`UPDATE ${this.rows} SET mark = $4 WHERE stream = $1 AND partition = $2 AND token = $3`, [this.options.stream, hold.partition, hold.token, mark]);
  }

  /** Ends this member's heartbeat (a clean stop: the others rebalance at once) and closes the pool. */
  async close(): Promise<void> {
    await this.query(`DELETE FROM ${this.members} WHERE stream = $1 AND member = $2`, [this.options.stream, this.options.member]).catch(() => undefined);
    await this.pool.end();
  }

  private async query<R extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (err) {
      throw new ShadowplaneError('SHADOWPLANE_ERR_STORE_UNAVAILABLE', `PostgreSQL (ingest partitions): ${(err as Error).message}`);
    }
  }
}

/** A flush found its partition taken by another member: nothing was written. */
export class PartitionLostError extends ShadowplaneError {
  constructor(readonly partition: number) {
    super('SHADOWPLANE_ERR_STORE_UNAVAILABLE', `ingest partition ${partition} is held by another replica now: this one wrote nothing for it`);
  }
}
